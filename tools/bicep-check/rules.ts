/**
 * Where each posture / conventions rule comes from. A rule states either a documented fact (`doc`: the
 * Microsoft doc or official sample it follows) or our own choice (`ours`: why; often a Microsoft recommendation
 * we decided to require, cited in `see`). A finding carries its rule's source, and the checks refuse a rule
 * without an entry here (test/infra/bicep-rules.test.ts), so no preference passes for Azure's requirement.
 */

export type RuleSource = { kind: 'doc'; source: string } | { kind: 'ours'; why: string; see?: string };

const doc = (source: string): RuleSource => ({ kind: 'doc', source });
const ours = (why: string, see?: string): RuleSource => ({ kind: 'ours', why, see });

const STORAGE_SECURITY = 'https://learn.microsoft.com/azure/storage/blobs/security-recommendations';
const KEY_VAULT_SECURITY = 'https://learn.microsoft.com/azure/key-vault/general/security-features';
const ROLE_TEMPLATES = 'https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template';
const APPINSIGHTS_ENTRA = 'https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication';
const IDENTITY_HOST_STORAGE =
  'https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity';
const FLEX_SAMPLE = 'Azure-Samples/functions-quickstart-typescript-azd infra/app/api.bicep';
/** What this repository documents of the deployment's posture (our choices). */
const DEPLOYED = 'docs/deploy.md "What gets deployed"';
const SETTINGS = 'README "Settings"';

export const RULES: Readonly<Record<string, RuleSource>> = {
  // posture: identity, storage
  'posture/identity-uami': ours(`one user-assigned identity for Key Vault, Storage, telemetry and deployment (${DEPLOYED})`),
  'posture/storage-account': ours(`the export and the host need a storage account (${DEPLOYED})`),
  'posture/storage-shared-key': ours(`Entra ID only, no account keys (${DEPLOYED})`, STORAGE_SECURITY),
  'posture/storage-public-blob': ours(`no anonymous access (${DEPLOYED})`, STORAGE_SECURITY),
  'posture/storage-https': ours('HTTPS only to the storage account', STORAGE_SECURITY),
  'posture/storage-oauth-default': ours('default to Entra ID in the portal and tools', STORAGE_SECURITY),
  'posture/storage-tls': ours(`TLS 1.2 at least (${DEPLOYED})`, STORAGE_SECURITY),
  'posture/container-public-access': ours(`no anonymous access (${DEPLOYED})`, STORAGE_SECURITY),
  // posture: app settings
  'posture/function-app': ours(`one function app (${DEPLOYED})`),
  'posture/settings-inline': ours('the check reads siteConfig.appSettings as an array literal'),
  'posture/setting-duplicate': ours('each setting once, so its value is unambiguous'),
  'posture/setting-forbidden': ours(
    'no connection string or instrumentation key: identity-based host storage and Entra telemetry',
    IDENTITY_HOST_STORAGE,
  ),
  'posture/flex-deprecated': doc(
    'https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations',
  ),
  'posture/setting-shared-key': ours(`no storage key or SAS in any setting (${DEPLOYED})`),
  'posture/setting-unknown': ours('a setting neither the code (src/settings.ts) nor the platform reads is a typo'),
  'posture/setting-connection-string': ours(`identity-based export storage in Azure (${SETTINGS}: EXPORT_STORAGE__blobServiceUri)`),
  'posture/setting-missing': doc(`${SETTINGS} (the code's contract, src/settings.ts SETTING_NAMES)`),
  'posture/setting-credential': doc(
    `${SETTINGS}: exactly one of the three credential settings, per credentialType (tools/bicep-check/credential.ts)`,
  ),
  'posture/credential-key-vault': ours(
    'Key Vault, its roles and KEY_VAULT_URL exactly when the credential is kept there (certificate, secret), none for federated: least privilege',
    'https://learn.microsoft.com/azure/key-vault/general/rbac-guide',
  ),
  'posture/federated-credential': doc(
    'https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity (issuer, subject, audiences per cloud); https://learn.microsoft.com/graph/templates/reference/federatedidentitycredentials',
  ),
  'posture/federated-cloud': doc(
    'https://learn.microsoft.com/graph/templates/limitations (Microsoft Graph Bicep deploys to the public cloud only); fail(): https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-flow-control',
  ),
  'posture/setting-value': doc(
    `${IDENTITY_HOST_STORAGE}; AZURE_CLIENT_ID selects the user-assigned identity (https://learn.microsoft.com/javascript/api/@azure/identity/defaultazurecredential)`,
  ),
  'posture/setting-graph-cloud': doc(
    'https://learn.microsoft.com/graph/deployments; environment(): https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-deployment#environment (tools/bicep-check/clouds.ts)',
  ),
  'posture/appinsights-aad': doc(`${APPINSIGHTS_ENTRA} (APPLICATIONINSIGHTS_AUTHENTICATION_STRING); ${FLEX_SAMPLE}`),
  'posture/setting-parameter': ours('settings with choices come from parameters, so a deployment can set them'),
  'posture/setting-allowed': ours('a parameter allows exactly the values the code accepts (src/settings.ts)'),
  'posture/setting-default': ours(`parameter defaults equal the code's defaults (src/settings.ts DEFAULTS, ${SETTINGS})`),
  // posture: the function app and its plan
  'posture/plan-flex-consumption': doc(
    `https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan; ${FLEX_SAMPLE} (FC1 / FlexConsumption, reserved)`,
  ),
  'posture/site-kind': doc(`${FLEX_SAMPLE} (kind 'functionapp,linux')`),
  'posture/site-https-only': ours(
    'no plain HTTP to the app',
    'https://learn.microsoft.com/azure/app-service/configure-ssl-bindings#enforce-https',
  ),
  'posture/site-tls': ours('TLS 1.2 at least', 'https://learn.microsoft.com/azure/app-service/overview-tls'),
  'posture/site-runtime': ours(
    'Node 22: the code is Node.js and Node 20 is end-of-life',
    'https://learn.microsoft.com/azure/azure-functions/supported-languages',
  ),
  'posture/site-deployment-storage': doc(
    `https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to; ${FLEX_SAMPLE} (deployment.storage blobContainer, identity authentication)`,
  ),
  'posture/site-scale': doc(
    'https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out; https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-sizes',
  ),
  'posture/site-identity': ours(`the user-assigned identity only (${DEPLOYED})`),
  'posture/site-basic-auth': ours(
    'publish with Entra ID only',
    'https://learn.microsoft.com/azure/app-service/configure-basic-auth-disable',
  ),
  // posture: Key Vault
  'posture/keyvault-rbac': ours(`Azure RBAC, not access policies (${DEPLOYED})`, KEY_VAULT_SECURITY),
  'posture/keyvault-soft-delete': ours(`deleted secrets are recoverable (${DEPLOYED})`, KEY_VAULT_SECURITY),
  'posture/keyvault-purge-protection': ours(`no purge during retention (${DEPLOYED})`, KEY_VAULT_SECURITY),
  'posture/keyvault-public-network': ours('the deployer decides public network access'),
  'posture/keyvault-existing': ours('users may bring their own vault'),
  // posture: monitoring
  'posture/appinsights': ours(`telemetry and alerts (${DEPLOYED})`),
  'posture/appinsights-local-auth': ours(`Entra ID only (${DEPLOYED})`, APPINSIGHTS_ENTRA),
  'posture/appinsights-workspace': doc(
    'classic Application Insights is retired: https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource',
  ),
  'posture/loganalytics-local-auth': ours(`Entra ID only (${DEPLOYED})`),
  'posture/alert-query': ours('the check evaluates each alert query as deployed'),
  'posture/alert-columns': doc(
    'https://learn.microsoft.com/azure/azure-monitor/reference/tables/apprequests; .../apptraces (tools/bicep-check/kql.ts)',
  ),
  'posture/alert-failed-run': ours(
    "alert on a run's final failure, since the timer's retry policy (src/functions/exportUsers.ts) reruns a failed execution",
  ),
  'posture/alert-stale-snapshot': ours('alert when no snapshot completed in 26 hours (daily schedule)'),
  'posture/alert-action-group': ours('optional e-mail notification of the alerts'),
  // posture: roles
  'posture/role-unresolved': ours('the check must resolve each role to its GUID'),
  'posture/role-forbidden': ours(
    `least privilege: no Owner / Contributor / User Access Administrator (${DEPLOYED})`,
    'https://learn.microsoft.com/azure/role-based-access-control/best-practices',
  ),
  'posture/role-not-allowed': ours(
    'least privilege: only the roles the code needs',
    'https://learn.microsoft.com/azure/role-based-access-control/built-in-roles',
  ),
  'posture/role-name': doc(`${ROLE_TEMPLATES} (a role assignment's name is a GUID; guid() makes it deterministic)`),
  'posture/role-scope': ours('least privilege: each role on the one resource it is needed for'),
  'posture/role-principal-type': doc(`${ROLE_TEMPLATES}#new-service-principal (principalType ServicePrincipal for a new identity)`),
  'posture/role-principal': ours("only the function's identity, plus optional deployer roles"),
  'posture/role-missing': doc(
    'the roles the code needs and their IDs: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles',
  ),
  'posture/no-shared-keys': ours(`no storage keys, SAS or connection strings anywhere (${DEPLOYED})`),
  'posture/lifecycle-scope': ours('snapshots expire, latest.json stays (README "Output")'),
  'posture/lifecycle-retention': ours(`lifecycle retention of snapshots/ (${DEPLOYED}), 30 days by default`),
  // conventions
  'conventions/param-description': ours(
    'every parameter says what it is',
    'https://learn.microsoft.com/azure/azure-resource-manager/bicep/best-practices',
  ),
  'conventions/role-comment': ours('a role GUID is named in a comment'),
  'conventions/output-case': doc(
    "azd sets the entry file's outputs as environment variables: https://learn.microsoft.com/azure/developer/azure-developer-cli/make-azd-compatible",
  ),
  'conventions/required-output': ours('the outputs the scripts and docs use'),
  'conventions/azd-service-tag': doc(`${FLEX_SAMPLE} (tags 'azd-service-name' = the azure.yaml service)`),
};

export function ruleSource(rule: string): RuleSource {
  const s = RULES[rule];
  if (!s) throw new Error(`tools/bicep-check: rule ${rule} has no source in rules.ts (a documented fact, or 'ours' with why)`);
  return s;
}

export function describeSource(s: RuleSource): string {
  return s.kind === 'doc' ? `source: ${s.source}` : `our choice: ${s.why}${s.see ? `; see ${s.see}` : ''}`;
}
