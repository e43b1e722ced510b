// Key Vault data-plane access, deployed in the vault's resource group (the new vault, or an existing one
// elsewhere): the function's identity may read the credential; the deployer (optional) may create it
// (Certificates Officer for a certificate, Secrets Officer for a client secret: only the one needed).

@description('Name of the vault (new or existing) in this resource group.')
param keyVaultName string

@description('Principal (object) ID of the function app\'s user-assigned managed identity.')
param principalId string

@description('Name of the credential in the vault: the certificate, or the secret (a certificate\'s key is read through the secret of the same name).')
param credentialName string

@description('Scope of the function identity\'s Key Vault Secrets User role: the whole vault, or only the credential (that secret must exist before the deployment).')
@allowed([
  'vault'
  'secret'
])
param roleScope string = 'vault'

@description('Graph credential kept in Key Vault: certificate or client secret. The deployer gets the one role that provisions it.')
@allowed([
  'certificate'
  'secret'
])
param credentialType string

@description('Object ID of the person or pipeline running the provisioning scripts; empty = no role for them.')
param deployerPrincipalId string = ''

@description('Type of the deployer principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource credentialSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: vault
  name: credentialName
}

// Key Vault Secrets User: read secret values (and a certificate's key through its secret).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
// Key Vault Certificates Officer: create, import and renew certificates (deployer only, for the certificate path).
var keyVaultCertificatesOfficer = 'a4417e6f-fecd-4de8-b567-7b0420556985'
// Key Vault Secrets Officer: set secrets (deployer only, for the client-secret path).
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource functionReadsVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (roleScope == 'vault') {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser) // Key Vault Secrets User
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'entra-users-export: the function reads the Graph app credential.'
  }
}

resource functionReadsCredential 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (roleScope == 'secret') {
  name: guid(credentialSecret.id, principalId, keyVaultSecretsUser)
  scope: credentialSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser) // Key Vault Secrets User
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'entra-users-export: the function reads the Graph app credential (this secret only).'
  }
}

resource deployerManagesCertificates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && credentialType == 'certificate') {
  name: guid(vault.id, deployerPrincipalId, keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficer) // Key Vault Certificates Officer
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'entra-users-export: the deployer creates the Graph app certificate (scripts/provision-certificate.sh).'
  }
}

resource deployerManagesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && credentialType == 'secret') {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer) // Key Vault Secrets Officer
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'entra-users-export: the deployer stores the Graph app client secret (scripts/provision-secret.sh).'
  }
}

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
