// Everything entra-users-export needs, in one resource group. main.bicep (subscription scope, azd) creates
// the group and deploys this file into it; deploy this file directly into an existing group with
// `az deployment group create -g <group> -f infra/resources.bicep -p environmentName=<name> ...`.
targetScope = 'resourceGroup'

@description('Short environment name (dev, prod, ...): seeds the unique resource names and the azd-env-name tag.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of the resources (one that offers Flex Consumption).')
param location string = resourceGroup().location

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

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, { 'azd-env-name': environmentName })
var appName = empty(functionAppName) ? 'func-${resourceToken}' : functionAppName
var newKeyVaultName = empty(keyVaultName) ? 'kv-${resourceToken}' : keyVaultName
var useExistingKeyVault = !empty(existingKeyVaultName)
var vaultName = useExistingKeyVault ? existingKeyVaultName : newKeyVaultName
var vaultResourceGroupName = useExistingKeyVault && !empty(existingKeyVaultResourceGroupName) ? existingKeyVaultResourceGroupName : resourceGroup().name
var functionName = 'exportUsers'
// Key Vault holds the Graph credential for certificate and secret; federated reads nothing from it, so no vault,
// no vault role and no KEY_VAULT_URL are deployed for it.
var useKeyVault = credentialType != 'federated'

// Microsoft Graph Bicep deploys to the global Azure cloud only ("Microsoft Graph Bicep feature limitations",
// https://learn.microsoft.com/graph/templates/limitations): elsewhere, stop before anything is deployed and say what
// to do instead (fail(): "Bicep functions - flow control",
// https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-flow-control).
var graphBicepCloudOnly = join([
  'createGraphApp is true, but the Microsoft Graph Bicep extension deploys to the global Azure cloud only'
  '(https://learn.microsoft.com/graph/templates/limitations). Deploy with createGraphApp false, create the app'
  'registration with az (docs/deploy.md) and, for credentialType federated, run scripts/provision-federated.sh.'
], ' ')
var graphAppInBicep = !createGraphApp ? false : (environment().name == 'AzureCloud' ? true : fail(graphBicepCloudOnly))

// The federated identity credential for credentialType federated: what the user-assigned identity's tokens carry
// ("Configure an application to trust a managed identity",
// https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity):
// issuer https://<Entra login host>/<tenant ID>/v2.0 — the login host of the cloud deployed to, whose environment()
// writes it with a trailing slash in global Azure and without one in the sovereign clouds; Azure China's article
// gives https://login.partner.microsoftonline.cn/{tenant}/v2.0
// (https://docs.azure.cn/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity) —
// and the token-exchange audience of the cloud: api://AzureADTokenExchange (global), api://AzureADTokenExchangeUSGov,
// api://AzureADTokenExchangeChina. The identity and the app must be in the same tenant: the deployment's.
var loginEndpoint = environment().authentication.loginEndpoint
var loginHost = endsWith(loginEndpoint, '/') ? substring(loginEndpoint, 0, length(loginEndpoint) - 1) : loginEndpoint
var federatedIssuerHostByCloud = {
  AzureCloud: loginHost
  AzureUSGovernment: loginHost
  AzureChinaCloud: 'https://login.partner.microsoftonline.cn'
}
var tokenExchangeAudienceByCloud = {
  AzureCloud: 'api://AzureADTokenExchange'
  AzureUSGovernment: 'api://AzureADTokenExchangeUSGov'
  AzureChinaCloud: 'api://AzureADTokenExchangeChina'
}
var federatedIssuer = credentialType == 'federated' ? '${federatedIssuerHostByCloud[environment().name]}/${tenant().tenantId}/v2.0' : ''
var federatedAudience = credentialType == 'federated' ? tokenExchangeAudienceByCloud[environment().name] : ''

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    appInsightsName: 'appi-${resourceToken}'
    location: location
    tags: allTags
    enableAlerts: enableAlerts
    alertEmail: alertEmail
    functionName: functionName
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: empty(storageAccountName) ? 'st${resourceToken}' : storageAccountName
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: 'app-package'
    exportContainerName: exportContainerName
    retentionDays: retentionDays
  }
}

module keyVault 'modules/keyvault.bicep' = if (useKeyVault && !useExistingKeyVault) {
  name: 'keyvault'
  params: {
    name: newKeyVaultName
    location: location
    tags: allTags
    publicNetworkAccess: keyVaultPublicNetworkAccess
  }
}

module keyVaultAccess 'modules/keyvault-access.bicep' = if (useKeyVault) {
  name: 'keyvault-access'
  scope: resourceGroup(vaultResourceGroupName)
  params: {
    keyVaultName: vaultName
    principalId: identity.outputs.principalId
    // Deployed for certificate and secret only (useKeyVault).
    credentialType: credentialType == 'secret' ? 'secret' : 'certificate'
    credentialName: credentialName
    roleScope: keyVaultRoleScope
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
  dependsOn: [
    keyVault
  ]
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    exportContainerName: storage.outputs.exportContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module graphApp 'modules/graph-app.bicep' = if (graphAppInBicep) {
  name: 'graph-app'
  params: {
    uniqueName: empty(graphAppUniqueName) ? 'entra-users-export-${environmentName}' : graphAppUniqueName
    displayName: 'entra-users-export (${environmentName})'
    trustManagedIdentity: credentialType == 'federated'
    federatedIdentityPrincipalId: credentialType == 'federated' ? identity.outputs.principalId : ''
    federatedIdentityIssuer: federatedIssuer
    federatedIdentityAudience: federatedAudience
  }
}

var resolvedGraphClientId = graphAppInBicep ? graphApp!.outputs.appId : graphClientId
var resolvedGraphTenantId = empty(graphTenantId) ? tenant().tenantId : graphTenantId

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: appName
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    serviceName: 'export'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostBlobServiceUri: storage.outputs.blobServiceUri
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    graphTenantId: resolvedGraphTenantId
    graphClientId: resolvedGraphClientId
    keyVaultUrl: useKeyVault ? keyVaultAccess!.outputs.vaultUri : ''
    credentialType: credentialType
    credentialName: credentialName
    graphEndpoint: graphEndpoint
    usersSelect: usersSelect
    usersFilter: usersFilter
    exportBlobServiceUri: storage.outputs.blobServiceUri
    exportContainerName: storage.outputs.exportContainerName
    exportFormat: exportFormat
    exportCompression: exportCompression
    exportSchedule: exportSchedule
  }
  dependsOn: [
    // The host starts with its storage, telemetry and Key Vault roles already in place.
    roles
  ]
}

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
// Empty when credentialType is federated (no vault).
output AZURE_KEY_VAULT_NAME string = useKeyVault ? keyVaultAccess!.outputs.name : ''
output AZURE_KEY_VAULT_RESOURCE_GROUP string = useKeyVault ? vaultResourceGroupName : ''
output KEY_VAULT_URL string = useKeyVault ? keyVaultAccess!.outputs.vaultUri : ''
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output EXPORT_CONTAINER string = storage.outputs.exportContainerName
output EXPORT_STORAGE_BLOB_SERVICE_URI string = storage.outputs.blobServiceUri
output AZURE_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output GRAPH_TENANT_ID string = resolvedGraphTenantId
output GRAPH_CLIENT_ID string = resolvedGraphClientId
output GRAPH_CREDENTIAL_TYPE string = credentialType
output GRAPH_CREDENTIAL_NAME string = credentialName
// credentialType federated: what the app's federated identity credential holds (scripts/provision-federated.sh
// registers it when the app is not declared in Bicep); empty otherwise.
output GRAPH_FEDERATED_ISSUER string = federatedIssuer
output GRAPH_FEDERATED_AUDIENCE string = federatedAudience
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.appInsightsConnectionString
