// Least-privilege data-plane roles of the function app's user-assigned identity in this resource group
// (Key Vault access is in keyvault-access.bicep, deployed where the vault is). No Owner, Contributor or
// User Access Administrator anywhere.

@description('Principal (object) ID of the function app\'s user-assigned managed identity.')
param principalId string

@description('Name of the storage account (host storage and export container).')
param storageAccountName string

@description('Name of the export container in that account.')
param exportContainerName string

@description('Name of the Application Insights component the function sends telemetry to.')
param appInsightsName string

@description('Object ID of the person or pipeline deploying; empty = no role for them. Given read access to the export container so they can download snapshots with --auth-mode login.')
param deployerPrincipalId string = ''

@description('Type of the deployer principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

resource storageAccount 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource exportContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = {
  parent: blobService
  name: exportContainerName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Storage Blob Data Owner: the Functions host's blob leases, keys and timer state, and the Flex deployment package.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Blob Data Contributor: the export writes blocks, commits them, reads/writes latest.json with conditions and leases.
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
// Monitoring Metrics Publisher: send telemetry to Application Insights with Entra ID (local auth is off).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
// Storage Blob Data Reader: the deployer downloads latest.json and snapshots (optional).
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource hostStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageBlobDataOwner)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner) // Storage Blob Data Owner
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'entra-users-export: Functions host storage (AzureWebJobsStorage) and deployment package.'
  }
}

resource exportContainerWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(exportContainer.id, principalId, storageBlobDataContributor)
  scope: exportContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor) // Storage Blob Data Contributor
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'entra-users-export: the export writes snapshots and latest.json.'
  }
}

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher) // Monitoring Metrics Publisher
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'entra-users-export: Entra ID-authenticated telemetry.'
  }
}

resource deployerReadsExports 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(exportContainer.id, deployerPrincipalId, storageBlobDataReader)
  scope: exportContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader) // Storage Blob Data Reader
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'entra-users-export: the deployer reads snapshots with --auth-mode login.'
  }
}
