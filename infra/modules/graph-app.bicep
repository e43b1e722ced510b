// Optional: the Entra ID app registration the export signs in as, its service principal, and the admin
// consent of Microsoft Graph's User.Read.All application permission (an app-role assignment).
// Deploying this needs Microsoft Graph rights (Application Administrator or Cloud Application
// Administrator, plus Privileged Role Administrator for the consent) — leave createGraphApp false and use
// the az commands of docs/deploy.md if you do not have them. A certificate's public key (or a client secret) is
// added by scripts/provision-*.sh; for credentialType federated the app's federated identity credential, which
// trusts the function's user-assigned identity, is declared here.
// Microsoft Graph Bicep deploys to the global Azure cloud only ("Microsoft Graph Bicep feature limitations",
// https://learn.microsoft.com/graph/templates/limitations): resources.bicep refuses createGraphApp elsewhere.
extension microsoftGraphV1

@description('Immutable unique name of the app registration in the tenant (its Bicep key).')
param uniqueName string

@description('Display name of the app registration.')
param displayName string

@description('Give the app a federated identity credential that trusts the user-assigned managed identity below (credentialType federated).')
param trustManagedIdentity bool = false

@description('Principal (object) ID of the user-assigned managed identity the app trusts.')
param federatedIdentityPrincipalId string = ''

@description('Issuer of that identity\'s tokens: https://<Entra login host of the cloud>/<tenant ID>/v2.0.')
param federatedIdentityIssuer string = ''

@description('Audience of the identity\'s token for the exchange: api://AzureADTokenExchange in the global cloud.')
param federatedIdentityAudience string = ''

@description('Name of the federated identity credential on the app (3-120 letters, digits, - and _; immutable).')
@minLength(3)
@maxLength(120)
param federatedCredentialName string = 'entra-users-export'

// Microsoft Graph's application ID (the same in every tenant).
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
// User.Read.All application permission (app role) of Microsoft Graph.
var userReadAllAppRoleId = 'df021288-bdef-4463-88db-98f22de89214'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  notes: 'entra-users-export: reads every user (User.Read.All, application) for the daily snapshot. Credential in Key Vault.'
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: [
        {
          id: userReadAllAppRoleId
          type: 'Role'
        }
      ]
    }
  ]
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

// Admin consent for User.Read.All: assign Graph's app role to the export's service principal.
resource userReadAllConsent 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: userReadAllAppRoleId
  principalId: servicePrincipal.id
  resourceId: microsoftGraph.id
}

// Secretless: the app trusts the function's user-assigned identity ("Configure an application to trust a managed
// identity", Bicep tab: https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
// Properties per the Microsoft Graph Bicep reference (https://learn.microsoft.com/graph/templates/reference/federatedidentitycredentials):
// name, issuer, subject and audiences are required; the name is '<app uniqueName>/<credential name>', as the Graph
// extension addresses child resources by their full name ("Known issues", child resources:
// https://learn.microsoft.com/graph/templates/bicep/known-issues-graph-bicep). issuer + subject must be unique on the
// app, and an app holds at most 20 federated identity credentials.
resource federatedCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = if (trustManagedIdentity) {
  name: '${app.uniqueName}/${federatedCredentialName}'
  description: 'entra-users-export: the function app\'s user-assigned managed identity signs in as this app (no secret, no certificate).'
  issuer: federatedIdentityIssuer
  // The identity's principal (object) ID, case-sensitive: the sub claim of its tokens.
  subject: federatedIdentityPrincipalId
  audiences: [
    federatedIdentityAudience
  ]
}

output appId string = app.appId
output servicePrincipalId string = servicePrincipal.id
