// entra-users-export: everything it needs, deployed at subscription scope (azd style): the resource group,
// then resources.bicep inside it. `azd up` uses this file with main.parameters.json; by hand:
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name> location=<region> graphClientId=<appId>
// To deploy into an existing resource group instead, use resources.bicep (see docs/deploy.md).
targetScope = 'subscription'

@description('azd environment name (dev, prod, ...): names the resource group rg-<name>, seeds the unique resource names, and tags every resource azd-env-name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of the resource group and its resources (one that offers Flex Consumption: az functionapp list-flexconsumption-locations).')
@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of the resource group to create; empty = rg-<environmentName>.')
param resourceGroupName string = ''

@description('Extra tags applied to every resource.')
param tags object = {}

@description('Name of the function app; empty = func-<unique token>.')
param functionAppName string = ''

@description('Name of the storage account; empty = st<unique token>.')
param storageAccountName string = ''

@description('Name of the Key Vault to create; empty = kv-<unique token>. Ignored when existingKeyVaultName is set or credentialType is federated (no vault).')
param keyVaultName string = ''

@description('Use this existing Key Vault (RBAC-enabled) instead of creating one.')
param existingKeyVaultName string = ''

@description('Resource group of existingKeyVaultName; empty = this resource group.')
param existingKeyVaultResourceGroupName string = ''

@description('Public network access of the created Key Vault.')
@allowed([
  'Enabled'
  'Disabled'
])
param keyVaultPublicNetworkAccess string = 'Enabled'

@description('Scope of the function\'s Key Vault Secrets User role: vault, or the credential secret only (create the credential first).')
@allowed([
  'vault'
  'secret'
])
param keyVaultRoleScope string = 'vault'

@description('GRAPH_TENANT_ID: tenant whose users are exported; empty = the tenant of this subscription.')
param graphTenantId string = ''

@description('GRAPH_CLIENT_ID: application (client) ID of an existing app registration with admin-consented User.Read.All. Required unless createGraphApp is true.')
param graphClientId string = ''

@description('Create the app registration, its service principal, the User.Read.All admin consent and (credentialType federated) its federated identity credential with the Microsoft Graph Bicep extension (needs Graph admin rights; global Azure cloud only).')
param createGraphApp bool = false

@description('Unique name of the app registration created when createGraphApp is true; empty = entra-users-export-<environmentName>.')
param graphAppUniqueName string = ''

@description('Graph credential: certificate (recommended) or client secret, kept in Key Vault; or federated (secretless: the Graph app trusts the function\'s user-assigned identity, no Key Vault is deployed).')
@allowed([
  'certificate'
  'secret'
  'federated'
])
param credentialType string = 'certificate'

@description('Name of that certificate or secret in the vault (unused for federated).')
param credentialName string = 'graph-export-cert'

@description('Container the snapshots are written to (EXPORT_CONTAINER).')
@minLength(3)
@maxLength(63)
param exportContainerName string = 'user-exports'

@description('Days a snapshot is kept before the lifecycle rule deletes it.')
@minValue(1)
param retentionDays int = 30

@description('EXPORT_FORMAT: json (one array) or ndjson (one user per line).')
@allowed([
  'json'
  'ndjson'
])
param exportFormat string = 'json'

@description('EXPORT_COMPRESSION: none or gzip.')
@allowed([
  'none'
  'gzip'
])
param exportCompression string = 'none'

@description('EXPORT_SCHEDULE: NCRONTAB, six fields, UTC (default 02:00 every day).')
param exportSchedule string = '0 0 2 * * *'

@description('GRAPH_ENDPOINT: Microsoft Graph root of the exported tenant\'s cloud; empty = the one of the cloud deployed to (https://graph.microsoft.com, https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn). Set https://dod-graph.microsoft.us for a US Government L5 (DoD) tenant (https://learn.microsoft.com/graph/deployments).')
param graphEndpoint string = ''

@description('USERS_SELECT: comma-separated user properties to export.')
param usersSelect string = 'id,userPrincipalName,displayName,givenName,surname,mail,jobTitle,department,officeLocation,mobilePhone,businessPhones,accountEnabled,userType,createdDateTime'

@description('USERS_FILTER: OData $filter; empty = every user.')
param usersFilter string = ''

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Flex Consumption's range and its source: modules/functionapp.bicep.
@description('Maximum instances of the app (a daily timer uses one). Flex Consumption allows 1 to 1000.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Create the failed-run and stale-snapshot log alerts.')
param enableAlerts bool = true

@description('E-mail address the alerts notify; empty = no notification.')
param alertEmail string = ''

@description('Object ID of the user or pipeline running the deployment and the provisioning scripts (azd sets AZURE_PRINCIPAL_ID); empty = no roles for them.')
param deployerPrincipalId string = ''

@description('Type of deployerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// The resource group carries the same tags as its resources (resources.bicep adds azd-env-name to those).
var allTags = union(tags, { 'azd-env-name': environmentName })

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: allTags
}

module resources 'resources.bicep' = {
  name: take('entra-users-export-${environmentName}', 64)
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    functionAppName: functionAppName
    storageAccountName: storageAccountName
    keyVaultName: keyVaultName
    existingKeyVaultName: existingKeyVaultName
    existingKeyVaultResourceGroupName: existingKeyVaultResourceGroupName
    keyVaultPublicNetworkAccess: keyVaultPublicNetworkAccess
    keyVaultRoleScope: keyVaultRoleScope
    graphTenantId: graphTenantId
    graphClientId: graphClientId
    createGraphApp: createGraphApp
    graphAppUniqueName: graphAppUniqueName
    credentialType: credentialType
    credentialName: credentialName
    exportContainerName: exportContainerName
    retentionDays: retentionDays
    exportFormat: exportFormat
    exportCompression: exportCompression
    exportSchedule: exportSchedule
    graphEndpoint: graphEndpoint
    usersSelect: usersSelect
    usersFilter: usersFilter
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    storageSkuName: storageSkuName
    enableAlerts: enableAlerts
    alertEmail: alertEmail
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.AZURE_FUNCTION_APP_NAME
output AZURE_FUNCTION_APP_URL string = resources.outputs.AZURE_FUNCTION_APP_URL
output AZURE_KEY_VAULT_NAME string = resources.outputs.AZURE_KEY_VAULT_NAME
output AZURE_KEY_VAULT_RESOURCE_GROUP string = resources.outputs.AZURE_KEY_VAULT_RESOURCE_GROUP
output KEY_VAULT_URL string = resources.outputs.KEY_VAULT_URL
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.AZURE_STORAGE_ACCOUNT_NAME
output EXPORT_CONTAINER string = resources.outputs.EXPORT_CONTAINER
output EXPORT_STORAGE_BLOB_SERVICE_URI string = resources.outputs.EXPORT_STORAGE_BLOB_SERVICE_URI
output AZURE_CLIENT_ID string = resources.outputs.AZURE_CLIENT_ID
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = resources.outputs.AZURE_MANAGED_IDENTITY_PRINCIPAL_ID
output GRAPH_TENANT_ID string = resources.outputs.GRAPH_TENANT_ID
output GRAPH_CLIENT_ID string = resources.outputs.GRAPH_CLIENT_ID
output GRAPH_CREDENTIAL_TYPE string = resources.outputs.GRAPH_CREDENTIAL_TYPE
output GRAPH_CREDENTIAL_NAME string = resources.outputs.GRAPH_CREDENTIAL_NAME
output GRAPH_FEDERATED_ISSUER string = resources.outputs.GRAPH_FEDERATED_ISSUER
output GRAPH_FEDERATED_AUDIENCE string = resources.outputs.GRAPH_FEDERATED_AUDIENCE
output APPLICATIONINSIGHTS_NAME string = resources.outputs.APPLICATIONINSIGHTS_NAME
output APPLICATIONINSIGHTS_CONNECTION_STRING string = resources.outputs.APPLICATIONINSIGHTS_CONNECTION_STRING
