/**
 * Each offline check can fail: a mutated copy of infra/ (in memory) must be rejected by the specific rule
 * that guards what the mutation breaks. The unmutated files pass (bicep.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFinding } from '../../tools/bicep-check/index.js';
import { check, infraSources } from './helpers.js';

interface Mutation {
  name: string;
  file: string;
  /** Text to find (must occur) and its replacement; a function for anything fancier. */
  from: string | RegExp;
  to: string;
  /** The rule that must report it (check/rule). */
  rule: string;
}

const M = (name: string, file: string, from: string | RegExp, to: string, rule: string): Mutation => ({ name, file, from, to, rule });

const MUTATIONS: Mutation[] = [
  // syntax (tree-sitter-bicep)
  M('a missing closing brace', 'modules/identity.bicep', /\n}\n\noutput id/, '\n\noutput id', 'syntax/parse'),
  M(
    'a typed variable (syntax tree-sitter-bicep 1.1.0 does not know)',
    'modules/storage.bicep',
    /^@description\('Name of the storage account/m,
    "var typed string = 'x'\n@description('Name of the storage account",
    'syntax/parse',
  ),
  M('a property without a value', 'modules/keyvault.bicep', 'enablePurgeProtection: true', 'enablePurgeProtection:', 'syntax/parse'),

  // symbols
  M(
    'an undeclared name',
    'modules/functionapp.bicep',
    "value: 'ClientId=${identityClientId};Authorization=AAD'",
    "value: 'ClientId=${identityClientID};Authorization=AAD'",
    'symbols/undefined',
  ),
  M(
    'a parameter the module does not declare',
    'resources.bicep',
    '    retentionDays: retentionDays\n',
    '    retentionDay: retentionDays\n',
    'symbols/unknown-module-param',
  ),
  M(
    'a required module parameter not passed',
    'resources.bicep',
    '    principalId: identity.outputs.principalId\n    storageAccountName',
    '    storageAccountName',
    'symbols/missing-module-param',
  ),
  M(
    'a module output that does not exist',
    'resources.bicep',
    'exportBlobServiceUri: storage.outputs.blobServiceUri',
    'exportBlobServiceUri: storage.outputs.blobServiceUrl',
    'symbols/unknown-module-output',
  ),
  M(
    'an unused parameter (linter rule no-unused-params)',
    'modules/identity.bicep',
    'param tags object = {}',
    "param tags object = {}\n\n@description('Never used.')\nparam unusedThing string = ''",
    'symbols/unused',
  ),
  M(
    'a registry module (cannot be checked offline)',
    'resources.bicep',
    "module identity 'modules/identity.bicep'",
    "module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1'",
    'symbols/registry-module',
  ),

  // types (Azure's resource type data)
  M(
    'a misspelled property',
    'modules/storage.bicep',
    'allowSharedKeyAccess: false',
    'allowSharedKeyAcess: false',
    'types/unknown-property',
  ),
  M(
    'a misspelled nested property',
    'modules/functionapp.bicep',
    'instanceMemoryMB: instanceMemoryMB',
    'instanceMemoryMb: instanceMemoryMB',
    'types/property-case',
  ),
  M(
    'a non-existent apiVersion',
    'modules/storage.bicep',
    "'Microsoft.Storage/storageAccounts@2024-01-01' = {",
    "'Microsoft.Storage/storageAccounts@2099-01-01' = {",
    'types/unknown-api-version',
  ),
  M(
    'an apiVersion that exists but is not pinned',
    'modules/identity.bicep',
    'userAssignedIdentities@2023-01-31',
    'userAssignedIdentities@2024-11-30',
    'types/not-in-snapshot',
  ),
  M(
    'a misspelled resource type',
    'modules/keyvault.bicep',
    "'Microsoft.KeyVault/vaults@2024-11-01'",
    "'Microsoft.KeyVault/vault@2024-11-01'",
    'types/unknown-type',
  ),
  M(
    'a string where a bool is expected',
    'modules/storage.bicep',
    'allowBlobPublicAccess: false',
    "allowBlobPublicAccess: 'false'",
    'types/type-mismatch',
  ),
  M('a value outside a closed enum', 'modules/keyvault.bicep', "name: 'standard'", "name: 'basic'", 'types/invalid-value'),
  M(
    'a typo of an open-enum value',
    'modules/storage.bicep',
    "minimumTlsVersion: 'TLS1_2'",
    "minimumTlsVersion: 'TLS12'",
    'types/suspicious-value',
  ),
  M(
    'a read-only property',
    'modules/identity.bicep',
    '  location: location\n  tags: tags\n}',
    "  location: location\n  tags: tags\n  properties: {\n    clientId: 'x'\n  }\n}",
    'types/read-only-property',
  ),
  M('a required property missing', 'modules/monitoring.bicep', "    Application_Type: 'web'\n", '', 'types/missing-required'),
  M(
    'a resource at the wrong scope',
    'resources.bicep',
    "var functionName = 'exportUsers'",
    "var functionName = 'exportUsers'\nresource extraGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {\n  name: 'x'\n  location: location\n}",
    'types/wrong-scope',
  ),
  M(
    'a misspelled Graph property',
    'modules/graph-app.bicep',
    "signInAudience: 'AzureADMyOrg'",
    "signinAudience: 'AzureADMyOrg'",
    'types/unknown-property',
  ),

  // posture: storage
  M(
    'shared keys allowed',
    'modules/storage.bicep',
    'allowSharedKeyAccess: false',
    'allowSharedKeyAccess: true',
    'posture/storage-shared-key',
  ),
  M(
    'anonymous blob access allowed',
    'modules/storage.bicep',
    'allowBlobPublicAccess: false',
    'allowBlobPublicAccess: true',
    'posture/storage-public-blob',
  ),
  M('TLS 1.0 allowed', 'modules/storage.bicep', "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'", 'posture/storage-tls'),
  M('HTTP allowed', 'modules/storage.bicep', 'supportsHttpsTrafficOnly: true', 'supportsHttpsTrafficOnly: false', 'posture/storage-https'),
  M(
    'not defaulting to OAuth',
    'modules/storage.bicep',
    'defaultToOAuthAuthentication: true',
    'defaultToOAuthAuthentication: false',
    'posture/storage-oauth-default',
  ),
  M(
    'a public container',
    'modules/storage.bicep',
    "  name: exportContainerName\n  properties: {\n    publicAccess: 'None'",
    "  name: exportContainerName\n  properties: {\n    publicAccess: 'Blob'",
    'posture/container-public-access',
  ),
  M(
    'a lifecycle rule that would delete latest.json',
    'modules/storage.bicep',
    "'${exportContainerName}/snapshots/'",
    "'${exportContainerName}/'",
    'posture/lifecycle-scope',
  ),
  M(
    'a retention default other than 30 days',
    'main.bicep',
    'param retentionDays int = 30',
    'param retentionDays int = 7',
    'posture/lifecycle-retention',
  ),
  M(
    'a storage key read',
    'modules/storage.bicep',
    'output name string = account.name',
    'output name string = account.name\noutput key string = account.listKeys().keys[0].value',
    'posture/no-shared-keys',
  ),

  // posture: Key Vault, monitoring
  M(
    'access policies instead of RBAC',
    'modules/keyvault.bicep',
    'enableRbacAuthorization: true',
    'enableRbacAuthorization: false',
    'posture/keyvault-rbac',
  ),
  M('soft delete off', 'modules/keyvault.bicep', 'enableSoftDelete: true', 'enableSoftDelete: false', 'posture/keyvault-soft-delete'),
  M(
    'purge protection off',
    'modules/keyvault.bicep',
    'enablePurgeProtection: true',
    'enablePurgeProtection: false',
    'posture/keyvault-purge-protection',
  ),
  M(
    'public network access hard-coded',
    'modules/keyvault.bicep',
    '    publicNetworkAccess: publicNetworkAccess\n',
    "    publicNetworkAccess: 'Enabled'\n",
    'posture/keyvault-public-network',
  ),
  M(
    'no existing-vault option',
    'main.bicep',
    /@description\('Use this existing Key Vault[^\n]*\nparam existingKeyVaultName string = ''\n/,
    '',
    'posture/keyvault-existing',
  ),
  M(
    'Application Insights local auth on',
    'modules/monitoring.bicep',
    'DisableLocalAuth: true',
    'DisableLocalAuth: false',
    'posture/appinsights-local-auth',
  ),
  M(
    'Log Analytics local auth on',
    'modules/monitoring.bicep',
    'disableLocalAuth: true',
    'disableLocalAuth: false',
    'posture/loganalytics-local-auth',
  ),
  M(
    'the failed-run alert watching successes',
    'modules/monitoring.bicep',
    'and Success == false',
    'and Success == true',
    'posture/alert-failed-run',
  ),
  M(
    'the failed-run alert firing on every failed attempt',
    'modules/monitoring.bicep',
    "  '| where EndedAt < ago(${finalFailureAfterMinutes}m) and (isnull(lastStart) or lastStart < EndedAt)'\n",
    '',
    'posture/alert-failed-run',
  ),
  M(
    'an alert query on a classic column',
    'modules/monitoring.bicep',
    'Name == "${functionName}" and Success == true',
    'operation_Name == "${functionName}" and success == true',
    'posture/alert-columns',
  ),
  M(
    'the staleness alert window other than 26 hours',
    'modules/monitoring.bicep',
    'param staleAfterHours int = 26',
    'param staleAfterHours int = 30',
    'posture/alert-stale-snapshot',
  ),

  // posture: the function app
  M(
    'not Flex Consumption',
    'modules/functionapp.bicep',
    "    name: 'FC1'\n    tier: 'FlexConsumption'",
    "    name: 'Y1'\n    tier: 'Dynamic'",
    'posture/plan-flex-consumption',
  ),
  M('Node 20', 'modules/functionapp.bicep', "version: '22'", "version: '20'", 'posture/site-runtime'),
  M('HTTP allowed on the app', 'modules/functionapp.bicep', 'httpsOnly: true', 'httpsOnly: false', 'posture/site-https-only'),
  M(
    'a siteConfig property deprecated on Flex (ftpsState)',
    'modules/functionapp.bicep',
    "      minTlsVersion: '1.2'\n",
    "      minTlsVersion: '1.2'\n      ftpsState: 'Disabled'\n",
    'posture/flex-deprecated',
  ),
  M('TLS 1.1 on the app', 'modules/functionapp.bicep', "      minTlsVersion: '1.2'", "      minTlsVersion: '1.1'", 'posture/site-tls'),
  M(
    'deployment storage with the system identity',
    'modules/functionapp.bicep',
    "type: 'UserAssignedIdentity'",
    "type: 'SystemAssignedIdentity'",
    'posture/site-deployment-storage',
  ),
  M(
    'a system-assigned identity',
    'modules/functionapp.bicep',
    "    type: 'UserAssigned'\n",
    "    type: 'SystemAssigned, UserAssigned'\n",
    'posture/site-identity',
  ),
  M(
    'basic-auth publishing on',
    'modules/functionapp.bicep',
    "  name: 'scm'\n  properties: {\n    allow: false",
    "  name: 'scm'\n  properties: {\n    allow: true",
    'posture/site-basic-auth',
  ),
  M(
    'FUNCTIONS_WORKER_RUNTIME set',
    'modules/functionapp.bicep',
    "        {\n          name: 'AZURE_CLIENT_ID'",
    "        {\n          name: 'FUNCTIONS_WORKER_RUNTIME'\n          value: 'node'\n        }\n        {\n          name: 'AZURE_CLIENT_ID'",
    'posture/flex-deprecated',
  ),
  M(
    'an instrumentation key setting',
    'modules/functionapp.bicep',
    "        {\n          name: 'AZURE_CLIENT_ID'",
    "        {\n          name: 'APPINSIGHTS_INSTRUMENTATIONKEY'\n          value: 'x'\n        }\n        {\n          name: 'AZURE_CLIENT_ID'",
    'posture/setting-forbidden',
  ),
  M(
    'GRAPH_ENDPOINT from environment().graph (Azure AD Graph)',
    'modules/functionapp.bicep',
    'microsoftGraphByCloud[environment().name]',
    'environment().graph',
    'posture/setting-graph-cloud',
  ),
  M(
    'a cloud missing from the Microsoft Graph map',
    'modules/functionapp.bicep',
    "  AzureChinaCloud: 'https://microsoftgraph.chinacloudapi.cn'\n",
    '',
    'posture/setting-graph-cloud',
  ),
  M(
    'GRAPH_AUTHORITY_HOST keeping the trailing slash',
    'modules/functionapp.bicep',
    'value: graphAuthorityHost',
    'value: loginEndpoint',
    'posture/setting-graph-cloud',
  ),
  M(
    'a setting the code reads missing',
    'modules/functionapp.bicep',
    "        {\n          name: 'EXPORT_FORMAT'\n          value: exportFormat\n        }\n",
    '',
    'posture/setting-missing',
  ),
  M(
    'a misspelled setting',
    'modules/functionapp.bicep',
    "name: 'EXPORT_COMPRESSION'",
    "name: 'EXPORT_COMPRESION'",
    'posture/setting-unknown',
  ),
  M(
    'both credential settings',
    'modules/functionapp.bicep',
    "name: credentialType == 'certificate' ? 'GRAPH_CLIENT_CERTIFICATE_NAME' : 'GRAPH_CLIENT_SECRET_NAME'",
    "name: 'GRAPH_CLIENT_CERTIFICATE_NAME'\n          value: credentialName\n        }\n        {\n          name: 'GRAPH_CLIENT_SECRET_NAME'",
    'posture/setting-credential',
  ),
  M(
    'a storage connection string',
    'modules/functionapp.bicep',
    "name: 'EXPORT_STORAGE__blobServiceUri'",
    "name: 'EXPORT_STORAGE'",
    'posture/setting-connection-string',
  ),
  M(
    'AZURE_CLIENT_ID from the wrong place',
    'modules/functionapp.bicep',
    "name: 'AZURE_CLIENT_ID'\n          value: identityClientId",
    "name: 'AZURE_CLIENT_ID'\n          value: identityId",
    'posture/setting-value',
  ),
  M(
    'the App Insights authentication string missing',
    'modules/functionapp.bicep',
    "name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'",
    "name: 'APPLICATIONINSIGHTS_AUTH'",
    'posture/appinsights-aad',
  ),
  M(
    'an export format the code does not know',
    'modules/functionapp.bicep',
    "  'json'\n  'ndjson'\n])\nparam exportFormat",
    "  'json'\n  'ndjson'\n  'csv'\n])\nparam exportFormat",
    'posture/setting-allowed',
  ),
  M(
    'a five-field schedule',
    'main.bicep',
    "param exportSchedule string = '0 0 2 * * *'",
    "param exportSchedule string = '0 2 * * *'",
    'posture/setting-default',
  ),
  M('the azd service tag lost', 'resources.bicep', "serviceName: 'export'", "serviceName: 'api'", 'conventions/azd-service-tag'),

  // posture: roles
  M('a missing role assignment', 'modules/roles.bicep', /resource telemetryPublisher [\s\S]*?\n}\n/, '', 'posture/role-missing'),
  M('Key Vault access missing', 'modules/keyvault-access.bicep', /resource functionReadsVault [\s\S]*?\n}\n/, '', 'posture/role-missing'),
  M(
    'Blob Data Contributor on the whole account',
    'modules/roles.bicep',
    "  scope: exportContainer\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)",
    "  scope: storageAccount\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)",
    'posture/role-missing',
  ),
  M(
    'Contributor instead of Blob Data Owner',
    'modules/roles.bicep',
    "var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
    "var storageBlobDataOwner = 'b24988ac-6180-42e0-ab88-20f7382dd24c'",
    'posture/role-forbidden',
  ),
  M(
    'Owner granted',
    'modules/roles.bicep',
    "var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'",
    "var monitoringMetricsPublisher = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635'",
    'posture/role-forbidden',
  ),
  M(
    'a role outside the allowlist',
    'modules/roles.bicep',
    "var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'",
    "var storageBlobDataReader = '17d1049b-9a84-46fb-8f53-869881c3d3ab'",
    'posture/role-not-allowed',
  ),
  M('a role assignment without a scope', 'modules/roles.bicep', '  scope: appInsights\n', '', 'posture/role-scope'),
  M(
    'a random role assignment name',
    'modules/roles.bicep',
    'name: guid(appInsights.id, principalId, monitoringMetricsPublisher)',
    "name: 'telemetry-publisher'",
    'posture/role-name',
  ),
  M(
    'a wrong principal type',
    'modules/roles.bicep',
    "principalType: 'ServicePrincipal'\n    description: 'entra-users-export: Entra ID-authenticated telemetry.'",
    "principalType: 'User'\n    description: 'entra-users-export: Entra ID-authenticated telemetry.'",
    'posture/role-principal-type',
  ),

  // conventions
  M(
    'a role GUID without its comment',
    'modules/roles.bicep',
    '// Monitoring Metrics Publisher: send telemetry',
    '// Send telemetry',
    'conventions/role-comment',
  ),
  M(
    'a parameter without @description',
    'modules/identity.bicep',
    "@description('Tags applied to the identity.')\n",
    '',
    'conventions/param-description',
  ),
  M(
    'an azd output not in UPPER_SNAKE',
    'main.bicep',
    'output AZURE_LOCATION string = location',
    'output azureLocation string = location',
    'conventions/output-case',
  ),
  M('a required azd output missing', 'main.bicep', /output KEY_VAULT_URL string = [^\n]*\n/, '', 'conventions/required-output'),
];

test(`each of ${MUTATIONS.length} mutations of infra/ is caught by its check`, async () => {
  const base = infraSources();
  const failures: string[] = [];
  for (const m of MUTATIONS) {
    const original = base[m.file];
    assert.ok(original !== undefined, `${m.file} exists`);
    const mutated = original.replace(m.from, m.to);
    assert.notEqual(mutated, original, `mutation "${m.name}" applies to ${m.file}`);
    const report = await check({ ...base, [m.file]: mutated });
    const rules = new Set(report.findings.map((f) => f.rule));
    if (!rules.has(m.rule))
      failures.push(`${m.name}: expected ${m.rule}, got ${report.findings.map(formatFinding).join(' | ') || 'nothing'}`);
  }
  assert.deepEqual(failures, []);
});

test('every rule family is exercised by a mutation', () => {
  const families = new Set(MUTATIONS.map((m) => m.rule.split('/')[0]));
  assert.deepEqual([...families].sort(), ['conventions', 'posture', 'symbols', 'syntax', 'types']);
});
