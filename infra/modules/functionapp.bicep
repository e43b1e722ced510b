// The function app on Flex Consumption (FC1, Linux, Node 22): deployed from a blob container with the
// user-assigned identity, identity-based host storage, Entra ID-authenticated Application Insights, and
// every setting the export reads (README "Settings").

@description('Name of the function app (globally unique: <name>.azurewebsites.net).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region (one that offers Flex Consumption: az functionapp list-flexconsumption-locations).')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('azd service name of this app (azure.yaml).')
param serviceName string = 'export'

@description('Resource ID of the user-assigned managed identity.')
param identityId string

@description('Client ID of the user-assigned managed identity (AZURE_CLIENT_ID).')
param identityClientId string

@description('Blob service endpoint of the host storage account, https://<account>.blob.<storage suffix of the cloud>, without a trailing slash.')
param hostBlobServiceUri string

@description('Blob container (in the host storage account) the app package is deployed to.')
param deploymentContainerName string

@description('Application Insights connection string.')
param appInsightsConnectionString string

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Flex Consumption's maximum instance count: "Currently the lowest maximum instance count value is 1, and the
// highest supported maximum instance count value is 1000" (default 100): "Event-driven scaling in Azure Functions",
// Limit scale-out, https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out (ms.date
// 2026-08-03; earlier versions and the official sample Azure-Samples/azure-functions-flex-consumption-samples
// IaC/bicep/main.bicep had a floor of 40). The default 40 is ours: valid under both floors; a daily timer uses one.
@description('Upper bound of instances (a daily timer needs one). Flex Consumption allows 1 to 1000.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('GRAPH_TENANT_ID: the tenant (ID or verified domain) whose users are exported.')
param graphTenantId string

@description('GRAPH_CLIENT_ID: application (client) ID of the app registration with User.Read.All.')
param graphClientId string

@description('KEY_VAULT_URL: URL of the vault holding the credential (the vault\'s vaultUri).')
param keyVaultUrl string

@description('Kind of Graph credential in Key Vault: certificate (recommended) or client secret.')
@allowed([
  'certificate'
  'secret'
])
param credentialType string = 'certificate'

@description('Name of the certificate (GRAPH_CLIENT_CERTIFICATE_NAME) or secret (GRAPH_CLIENT_SECRET_NAME) in the vault.')
param credentialName string = 'graph-export-cert'

@description('USERS_SELECT: comma-separated $select of user properties.')
param usersSelect string

@description('USERS_FILTER: OData $filter passed as given; empty = every user.')
param usersFilter string = ''

@description('EXPORT_STORAGE__blobServiceUri: blob endpoint of the export storage account (identity-based).')
param exportBlobServiceUri string

@description('EXPORT_CONTAINER: container the snapshots are written to.')
param exportContainerName string

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

@description('EXPORT_SCHEDULE: NCRONTAB with six fields (second minute hour day month day-of-week), UTC.')
param exportSchedule string = '0 0 2 * * *'

@description('GRAPH_ENDPOINT: Microsoft Graph root of the exported tenant\'s cloud; empty = the one of the cloud deployed to (https://graph.microsoft.com, https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn). Set https://dod-graph.microsoft.us for a US Government L5 (DoD) tenant.')
param graphEndpoint string = ''

// Sovereign clouds: the Entra login endpoint of the cloud this is deployed to, without the trailing slash
// (global Azure's environment() writes it with one, the US Government and China clouds' without).
var loginEndpoint = environment().authentication.loginEndpoint
var graphAuthorityHost = endsWith(loginEndpoint, '/') ? substring(loginEndpoint, 0, length(loginEndpoint) - 1) : loginEndpoint
// Microsoft Graph's service root per cloud, by environment().name ("Microsoft Graph national cloud deployments",
// https://learn.microsoft.com/graph/deployments; cloud names: "Deployment functions for Bicep", environment(),
// and Azure/azure-cli src/azure-cli-core/azure/cli/core/cloud.py). Not environment().graph: that is Azure AD
// Graph (https://graph.windows.net/, retired) in every cloud. Another cloud fails the deployment with ARM's
// "property doesn't exist" error, unless graphEndpoint is given.
var microsoftGraphByCloud = {
  AzureCloud: 'https://graph.microsoft.com'
  AzureUSGovernment: 'https://graph.microsoft.us'
  AzureChinaCloud: 'https://microsoftgraph.chinacloudapi.cn'
}
var resolvedGraphEndpoint = empty(graphEndpoint) ? microsoftGraphByCloud[environment().name] : graphEndpoint

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostBlobServiceUri}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    // Only siteConfig properties that Flex Consumption keeps: none of "Flex Consumption plan deprecations"
    // (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations;
    // e.g. no ftpsState, "FTPS not supported" — newer stamps refuse the site PUT with it — no alwaysOn,
    // linuxFxVersion or functionAppScaleLimit). The runtime, scale and deployment package are in functionAppConfig,
    // as in the official samples (Azure-Samples/functions-quickstart-typescript-azd infra/app/api.bicep,
    // Azure-Samples/azure-functions-flex-consumption-samples IaC/bicep/main.bicep). minTlsVersion, scmMinTlsVersion
    // (App Service site config, "Configure TLS": https://learn.microsoft.com/azure/app-service/overview-tls) and
    // http20Enabled are not deprecated on Flex.
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [
        // Functions host storage, identity-based (blob only: timer leases and state, keys).
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: hostBlobServiceUri
        }
        // Application Insights with Entra ID (the component has local auth disabled).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // The export's settings (README "Settings").
        {
          name: 'GRAPH_TENANT_ID'
          value: graphTenantId
        }
        {
          name: 'GRAPH_CLIENT_ID'
          value: graphClientId
        }
        {
          name: 'KEY_VAULT_URL'
          value: keyVaultUrl
        }
        {
          // Exactly one of the two credential settings.
          name: credentialType == 'certificate' ? 'GRAPH_CLIENT_CERTIFICATE_NAME' : 'GRAPH_CLIENT_SECRET_NAME'
          value: credentialName
        }
        {
          name: 'GRAPH_AUTHORITY_HOST'
          value: graphAuthorityHost
        }
        {
          name: 'GRAPH_ENDPOINT'
          value: resolvedGraphEndpoint
        }
        {
          name: 'USERS_SELECT'
          value: usersSelect
        }
        {
          name: 'USERS_FILTER'
          value: usersFilter
        }
        {
          name: 'EXPORT_STORAGE__blobServiceUri'
          value: exportBlobServiceUri
        }
        {
          name: 'EXPORT_CONTAINER'
          value: exportContainerName
        }
        {
          name: 'EXPORT_FORMAT'
          value: exportFormat
        }
        {
          name: 'EXPORT_COMPRESSION'
          value: exportCompression
        }
        {
          name: 'EXPORT_SCHEDULE'
          value: exportSchedule
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
      ]
    }
  }
}

// No basic-auth (publishing profile) deployments: publish with Entra ID (az, func, azd).
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output id string = app.id
output defaultHostName string = app.properties.defaultHostName
