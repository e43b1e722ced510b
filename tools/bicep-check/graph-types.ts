/**
 * The Microsoft Graph Bicep types this repository uses (extension `microsoftGraphV1`,
 * br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0). They are not part of Azure's resource
 * type data, and the extension's own type package cannot be restored offline, so the properties are kept
 * here by hand from the Microsoft Graph Bicep reference for v1.0 (learn.microsoft.com/graph/templates):
 * only the writable properties this repository might set, the required ones, and the identifiers usable
 * with `existing`. Extend it when infra/ starts using more of Graph.
 */
export interface GraphObject {
  properties: string[];
  required?: string[];
  readOnly?: string[];
  objects?: Record<string, GraphObject>;
}

export interface GraphType extends GraphObject {
  /** Properties that identify an `existing` resource. */
  identifiers: string[];
}

const resourceAccess: GraphObject = { properties: ['id', 'type'] };

export const GRAPH_TYPES: Record<string, GraphType> = {
  'Microsoft.Graph/applications@v1.0': {
    identifiers: ['uniqueName'],
    required: ['displayName', 'uniqueName'],
    properties: [
      'uniqueName',
      'displayName',
      'description',
      'notes',
      'signInAudience',
      'tags',
      'identifierUris',
      'keyCredentials',
      'passwordCredentials',
      'appRoles',
      'api',
      'web',
      'spa',
      'publicClient',
      'info',
      'isFallbackPublicClient',
      'serviceManagementReference',
      'owners',
      'optionalClaims',
      'groupMembershipClaims',
      'tokenEncryptionKeyId',
    ],
    readOnly: ['appId', 'id', 'publisherDomain', 'createdDateTime', 'deletedDateTime', 'applicationTemplateId'],
    objects: { requiredResourceAccess: { properties: ['resourceAppId'], objects: { resourceAccess } } },
  },
  'Microsoft.Graph/servicePrincipals@v1.0': {
    identifiers: ['appId'],
    required: ['appId'],
    properties: [
      'appId',
      'accountEnabled',
      'appRoleAssignmentRequired',
      'description',
      'displayName',
      'notes',
      'tags',
      'owners',
      'servicePrincipalNames',
      'notificationEmailAddresses',
      'preferredSingleSignOnMode',
      'loginUrl',
      'logoutUrl',
      'homepage',
    ],
    readOnly: ['id', 'appOwnerOrganizationId', 'signInAudience', 'deletedDateTime', 'applicationTemplateId'],
  },
  // From the extension's own type data, microsoftgraph/msgraph-bicep-types
  // generated/microsoftgraph/microsoft.graph/v1.0/1.0.0/types.json (flags: name required + identifier; audiences,
  // issuer, subject required; id read-only), as in the reference https://learn.microsoft.com/graph/templates/reference/federatedidentitycredentials.
  'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0': {
    identifiers: ['name'],
    required: ['name', 'issuer', 'subject', 'audiences'],
    properties: ['name', 'issuer', 'subject', 'audiences', 'description'],
    readOnly: ['id'],
  },
  'Microsoft.Graph/appRoleAssignedTo@v1.0': {
    identifiers: [],
    required: ['appRoleId', 'principalId', 'resourceId'],
    properties: ['appRoleId', 'principalId', 'resourceId', 'resourceDisplayName'],
    readOnly: ['id', 'createdDateTime', 'principalDisplayName', 'principalType', 'deletedDateTime'],
  },
};
