// Optional: the Entra ID app registration the export signs in as, its service principal, and the admin
// consent of Microsoft Graph's User.Read.All application permission (an app-role assignment).
// Deploying this needs Microsoft Graph rights (Application Administrator or Cloud Application
// Administrator, plus Privileged Role Administrator for the consent) — leave createGraphApp false and use
// the az commands of docs/deploy.md if you do not have them. Credentials are not set here: the
// certificate's public key (or a client secret) is added by scripts/provision-*.sh.
extension microsoftGraphV1

@description('Immutable unique name of the app registration in the tenant (its Bicep key).')
param uniqueName string

@description('Display name of the app registration.')
param displayName string

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

output appId string = app.appId
output servicePrincipalId string = servicePrincipal.id
