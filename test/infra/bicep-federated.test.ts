/**
 * credentialType federated (secretless), evaluated from infra/'s own expressions (tools/bicep-check/evaluate.ts) per
 * Azure cloud: the function app gets GRAPH_FEDERATED_IDENTITY_CLIENT_ID = its user-assigned identity's clientId and no
 * Key Vault setting; no vault and no Key Vault role is deployed; with createGraphApp the app's federated identity
 * credential holds the issuer, subject and audience Microsoft documents ("Configure an application to trust a managed
 * identity", https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity);
 * outside the global cloud createGraphApp stops the deployment (Microsoft Graph Bicep: public cloud only,
 * https://learn.microsoft.com/graph/templates/limitations). certificate and secret stay as they were.
 * And each new rule of the check fails on a mutated copy of infra/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeployed } from '../../tools/bicep-check/app-settings.js';
import { CLOUDS, toggleTrailingSlashes, type AzureEnvironment } from '../../tools/bicep-check/clouds.js';
import { TENANT_ID } from '../../tools/bicep-check/credential.js';
import { evaluateAppSettings, EvaluationError, Evaluator, Opaque, type BicepValue } from '../../tools/bicep-check/evaluate.js';
import { formatFinding } from '../../tools/bicep-check/index.js';
import { Project, prop } from '../../tools/bicep-check/project.js';
import { check, infraSources } from './helpers.js';

const cloud = (name: string): AzureEnvironment => CLOUDS.find((c) => c.environment.name === name)!.environment;
const GLOBAL = cloud('AzureCloud');

async function project(files: Record<string, string> = infraSources()): Promise<Project> {
  return new Project((await check(files)).files);
}

const deployment = (environment: AzureEnvironment, credentialType: string, extra: Record<string, BicepValue> = {}) => ({
  environment,
  tenantId: TENANT_ID,
  parameters: { environmentName: 'test', location: 'eastus', credentialType, ...extra },
});

const opaque = (v: BicepValue | undefined): string =>
  v instanceof Opaque ? v.text : `not decided by the deployment: ${JSON.stringify(v)}`;

/** Deployed, per the resource's condition and its modules' conditions (an evaluation error is returned). */
function deployed(
  p: Project,
  d: ReturnType<typeof deployment>,
  type: string,
): Array<{ symbol: string; state: boolean | undefined | EvaluationError }> {
  const ev = new Evaluator(p, d);
  return p
    .allResources()
    .filter(({ r }) => r.type === type && !r.existing)
    .map(({ file, r }) => {
      try {
        return { symbol: r.symbol, state: isDeployed(p, file, r, (f, cond) => ev.node(f, cond)) };
      } catch (e) {
        if (e instanceof EvaluationError) return { symbol: r.symbol, state: e };
        throw e;
      }
    });
}

test("federated: GRAPH_FEDERATED_IDENTITY_CLIENT_ID is the user-assigned identity's clientId, and no Key Vault setting is set", async () => {
  const settings = evaluateAppSettings(await project(), deployment(GLOBAL, 'federated'));
  assert.equal(
    opaque(settings.get('GRAPH_FEDERATED_IDENTITY_CLIENT_ID')),
    'Microsoft.ManagedIdentity/userAssignedIdentities identity.properties.clientId',
  );
  for (const n of ['KEY_VAULT_URL', 'GRAPH_CLIENT_CERTIFICATE_NAME', 'GRAPH_CLIENT_SECRET_NAME'])
    assert.equal(settings.has(n), false, `${n} is not set`);
  // The same identity as everything else uses (AZURE_CLIENT_ID).
  assert.equal(opaque(settings.get('AZURE_CLIENT_ID')), opaque(settings.get('GRAPH_FEDERATED_IDENTITY_CLIENT_ID')));
});

test('certificate (the default) and secret: unchanged — KEY_VAULT_URL and the one credential name', async () => {
  const p = await project();
  for (const [type, name] of [
    ['certificate', 'GRAPH_CLIENT_CERTIFICATE_NAME'],
    ['secret', 'GRAPH_CLIENT_SECRET_NAME'],
  ] as const) {
    const settings = evaluateAppSettings(p, deployment(GLOBAL, type));
    assert.equal(settings.get(name), 'graph-export-cert', type);
    assert.equal(opaque(settings.get('KEY_VAULT_URL')), 'Microsoft.KeyVault/vaults vault.properties.vaultUri', type);
    const others = ['GRAPH_CLIENT_CERTIFICATE_NAME', 'GRAPH_CLIENT_SECRET_NAME', 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'].filter(
      (n) => n !== name,
    );
    for (const n of others) assert.equal(settings.has(n), false, `${type}: ${n} is not set`);
  }
  const byDefault = evaluateAppSettings(p, { environment: GLOBAL, parameters: { environmentName: 'test', location: 'eastus' } });
  assert.equal(byDefault.get('GRAPH_CLIENT_CERTIFICATE_NAME'), 'graph-export-cert');
});

test('federated: no Key Vault and no Key Vault role is deployed; certificate and secret deploy both', async () => {
  const p = await project();
  const roles = (type: string) =>
    deployed(p, deployment(GLOBAL, type), 'Microsoft.Authorization/roleAssignments').filter((x) =>
      ['functionReadsVault', 'functionReadsCredential', 'deployerManagesCertificates', 'deployerManagesSecrets'].includes(x.symbol),
    );
  assert.deepEqual(deployed(p, deployment(GLOBAL, 'federated'), 'Microsoft.KeyVault/vaults'), [{ symbol: 'vault', state: false }]);
  assert.deepEqual(
    roles('federated').map((x) => x.state),
    [false, false, false, false],
  );
  for (const type of ['certificate', 'secret']) {
    assert.deepEqual(deployed(p, deployment(GLOBAL, type), 'Microsoft.KeyVault/vaults'), [{ symbol: 'vault', state: true }], type);
    // Key Vault Secrets User on the vault (the default keyVaultRoleScope); deployer roles only with deployerPrincipalId.
    assert.deepEqual(
      Object.fromEntries(roles(type).map((x) => [x.symbol, x.state])),
      { functionReadsVault: true, functionReadsCredential: false, deployerManagesCertificates: false, deployerManagesSecrets: false },
      type,
    );
  }
  // An existing vault: none is created for certificate either.
  assert.deepEqual(deployed(p, deployment(GLOBAL, 'certificate', { existingKeyVaultName: 'kv-mine' }), 'Microsoft.KeyVault/vaults'), [
    { symbol: 'vault', state: false },
  ]);
});

test('federated + createGraphApp, global cloud (trailing slash as documented and toggled): the app trusts the identity', async () => {
  const p = await project();
  const graph = p.files.get('modules/graph-app.bicep')!;
  const fic = graph.resources.find((r) => r.type === 'Microsoft.Graph/applications/federatedIdentityCredentials')!;
  assert.ok(fic, 'declared in modules/graph-app.bicep');
  for (const environment of [GLOBAL, toggleTrailingSlashes(GLOBAL)]) {
    const d = deployment(environment, 'federated', { createGraphApp: true });
    assert.deepEqual(deployed(p, d, 'Microsoft.Graph/applications/federatedIdentityCredentials'), [
      { symbol: 'federatedCredential', state: true },
    ]);
    const ev = new Evaluator(p, d);
    const get = (k: string) => ev.value(graph, prop(fic.body, k));
    assert.equal(get('issuer'), `https://login.microsoftonline.com/${TENANT_ID}/v2.0`, environment.authentication.loginEndpoint);
    assert.equal(opaque(get('subject')), 'Microsoft.ManagedIdentity/userAssignedIdentities identity.properties.principalId');
    assert.deepEqual(get('audiences'), ['api://AzureADTokenExchange']);
    assert.equal(opaque(get('name')), '${Microsoft.Graph/applications app.uniqueName}/entra-users-export');
    const description = get('description');
    assert.ok(typeof description === 'string', 'the description is a string');
    assert.match(description, /^entra-users-export: /);
    // GRAPH_CLIENT_ID is the app the Bicep created.
    assert.equal(opaque(evaluateAppSettings(p, d, ['GRAPH_CLIENT_ID']).get('GRAPH_CLIENT_ID')), 'Microsoft.Graph/applications app.appId');
  }
  // Not for certificate or secret, and not without createGraphApp (then scripts/provision-federated.sh registers it).
  for (const [type, createGraphApp] of [
    ['certificate', true],
    ['secret', true],
    ['federated', false],
  ] as const)
    assert.deepEqual(
      deployed(p, deployment(GLOBAL, type, { createGraphApp }), 'Microsoft.Graph/applications/federatedIdentityCredentials'),
      [{ symbol: 'federatedCredential', state: false }],
      `${type}, createGraphApp ${createGraphApp}`,
    );
});

test('the issuer and audience to register, per cloud (outputs GRAPH_FEDERATED_ISSUER / GRAPH_FEDERATED_AUDIENCE)', async () => {
  const p = await project();
  const main = p.files.get('main.bicep')!;
  const expected: Record<string, [string, string]> = {
    AzureCloud: [`https://login.microsoftonline.com/${TENANT_ID}/v2.0`, 'api://AzureADTokenExchange'],
    AzureUSGovernment: [`https://login.microsoftonline.us/${TENANT_ID}/v2.0`, 'api://AzureADTokenExchangeUSGov'],
    // Azure China's version of the article: https://docs.azure.cn/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
    AzureChinaCloud: [`https://login.partner.microsoftonline.cn/${TENANT_ID}/v2.0`, 'api://AzureADTokenExchangeChina'],
  };
  for (const c of CLOUDS)
    for (const environment of [c.environment, toggleTrailingSlashes(c.environment)]) {
      const out = (type: string, name: string) =>
        new Evaluator(p, deployment(environment, type)).value(main, main.outputs.find((o) => o.name === name)!.value);
      assert.deepEqual(
        [out('federated', 'GRAPH_FEDERATED_ISSUER'), out('federated', 'GRAPH_FEDERATED_AUDIENCE')],
        expected[c.environment.name],
        environment.authentication.loginEndpoint,
      );
      assert.deepEqual([out('certificate', 'GRAPH_FEDERATED_ISSUER'), out('certificate', 'GRAPH_FEDERATED_AUDIENCE')], ['', '']);
      // No vault: the Key Vault outputs are empty.
      assert.deepEqual([out('federated', 'AZURE_KEY_VAULT_NAME'), out('federated', 'KEY_VAULT_URL')], ['', '']);
    }
});

test('createGraphApp outside the global cloud stops the deployment with fail() and says what to do instead', async () => {
  const p = await project();
  for (const name of ['AzureUSGovernment', 'AzureChinaCloud'])
    for (const type of ['federated', 'certificate']) {
      const [app] = deployed(p, deployment(cloud(name), type, { createGraphApp: true }), 'Microsoft.Graph/applications');
      assert.ok(app?.state instanceof EvaluationError, `${name}/${type}: ${String(app?.state)}`);
      assert.match(
        app.state.message,
        /fail\(\): createGraphApp is true, but the Microsoft Graph Bicep extension deploys to the global Azure cloud only/,
      );
      assert.match(app.state.message, /scripts\/provision-federated\.sh/);
    }
  // Without createGraphApp, federated deploys anywhere (the script registers the credential).
  const settings = evaluateAppSettings(p, deployment(cloud('AzureUSGovernment'), 'federated'));
  assert.equal(
    opaque(settings.get('GRAPH_FEDERATED_IDENTITY_CLIENT_ID')),
    'Microsoft.ManagedIdentity/userAssignedIdentities identity.properties.clientId',
  );
});

const MUTATIONS: Array<{ name: string; file: string; from: string | RegExp; to: string; rule: string; says: RegExp }> = [
  {
    name: "the issuer as in Microsoft's Bicep sample (${loginEndpoint}${tenant}, no slash in sovereign metadata)",
    file: 'resources.bicep',
    from: "'${federatedIssuerHostByCloud[environment().name]}/${tenant().tenantId}/v2.0'",
    to: "'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'",
    rule: 'posture/federated-credential',
    says: /AzureCloud \(trailing slashes toggled\).*issuer would be "https:\/\/login\.microsoftonline\.com0000/,
  },
  {
    name: 'the global audience in every cloud',
    file: 'resources.bicep',
    from: "AzureUSGovernment: 'api://AzureADTokenExchangeUSGov'",
    to: "AzureUSGovernment: 'api://AzureADTokenExchange'",
    rule: 'posture/federated-credential',
    says: /AzureUSGovernment with credentialType federated, output GRAPH_FEDERATED_AUDIENCE/,
  },
  {
    name: "the identity's clientId as the subject",
    file: 'resources.bicep',
    from: "federatedIdentityPrincipalId: credentialType == 'federated' ? identity.outputs.principalId : ''",
    to: "federatedIdentityPrincipalId: credentialType == 'federated' ? identity.outputs.clientId : ''",
    rule: 'posture/federated-credential',
    says: /subject must be the user-assigned identity's principalId/,
  },
  {
    name: 'no federated identity credential on the app',
    file: 'modules/graph-app.bicep',
    from: '= if (trustManagedIdentity) {',
    to: '= if (false) {',
    rule: 'posture/federated-credential',
    says: /federatedCredential must be deployed/,
  },
  {
    name: 'the federated credential for every credential type',
    file: 'resources.bicep',
    from: "trustManagedIdentity: credentialType == 'federated'",
    to: 'trustManagedIdentity: true',
    rule: 'posture/federated-credential',
    says: /credentialType certificate and createGraphApp true, federatedCredential must not be deployed/,
  },
  {
    name: 'KEY_VAULT_URL kept for federated',
    file: 'modules/functionapp.bicep',
    from: "    name: 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'\n    value: identityClientId\n  }\n",
    to: "    name: 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'\n    value: identityClientId\n  }\n  {\n    name: 'KEY_VAULT_URL'\n    value: keyVaultUrl\n  }\n",
    rule: 'posture/credential-key-vault',
    says: /federated, KEY_VAULT_URL must not be set/,
  },
  {
    name: 'the Key Vault role for federated too',
    file: 'resources.bicep',
    from: "module keyVaultAccess 'modules/keyvault-access.bicep' = if (useKeyVault) {",
    to: "module keyVaultAccess 'modules/keyvault-access.bicep' = {",
    rule: 'posture/credential-key-vault',
    says: /federated, Microsoft\.Authorization\/roleAssignments functionReadsVault must not be deployed/,
  },
  {
    name: 'a vault for federated too',
    file: 'resources.bicep',
    from: "module keyVault 'modules/keyvault.bicep' = if (useKeyVault && !useExistingKeyVault) {",
    to: "module keyVault 'modules/keyvault.bicep' = if (!useExistingKeyVault) {",
    rule: 'posture/credential-key-vault',
    says: /federated, Microsoft\.KeyVault\/vaults vault must not be deployed/,
  },
  {
    name: 'the federated client ID from the wrong place',
    file: 'modules/functionapp.bicep',
    from: "name: 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'\n    value: identityClientId",
    to: "name: 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'\n    value: identityId",
    rule: 'posture/setting-credential',
    says: /GRAPH_FEDERATED_IDENTITY_CLIENT_ID must be the user-assigned identity's clientId/,
  },
  {
    name: 'a certificate name set for federated too',
    file: 'modules/functionapp.bicep',
    from: "var credentialSettings = credentialType == 'federated'",
    to: "var credentialSettings = credentialType == 'nothing'",
    rule: 'posture/setting-credential',
    says: /with credentialType federated, exactly GRAPH_FEDERATED_IDENTITY_CLIENT_ID .* the app gets GRAPH_CLIENT_SECRET_NAME/,
  },
  {
    name: 'federated not offered by main.bicep',
    file: 'main.bicep',
    from: "  'secret'\n  'federated'\n])\nparam credentialType",
    to: "  'secret'\n])\nparam credentialType",
    rule: 'posture/setting-allowed',
    says: /parameter credentialType \(main\.bicep\) must be @allowed\(\['certificate', 'secret', 'federated'\]\)/,
  },
  {
    name: 'federated as the default',
    file: 'main.bicep',
    from: "param credentialType string = 'certificate'",
    to: "param credentialType string = 'federated'",
    rule: 'posture/setting-default',
    says: /credentialType must default to 'certificate'/,
  },
  {
    name: 'createGraphApp attempted in a sovereign cloud',
    file: 'resources.bicep',
    from: ': fail(graphBicepCloudOnly))',
    to: ': true)',
    rule: 'posture/federated-cloud',
    says: /AzureUSGovernment with createGraphApp, the Bicep must stop with fail\(\)/,
  },
];

test(`each of ${MUTATIONS.length} federated-credential mutations of infra/ is caught by its rule, with a message that says what is wrong`, async () => {
  const base = infraSources();
  const failures: string[] = [];
  for (const m of MUTATIONS) {
    const mutated = base[m.file]!.replace(m.from, m.to);
    assert.notEqual(mutated, base[m.file], `mutation "${m.name}" applies to ${m.file}`);
    const report = await check({ ...base, [m.file]: mutated });
    const hits = report.findings.filter((f) => f.rule === m.rule);
    if (!hits.some((f) => m.says.test(f.message)))
      failures.push(`${m.name}: expected ${m.rule} ${m.says}, got ${report.findings.map(formatFinding).join(' | ') || 'nothing'}`);
  }
  assert.deepEqual(failures, []);
});

test('the Graph extension type data knows the federated identity credential (a misspelled property is caught)', async () => {
  const base = infraSources();
  const graph = base['modules/graph-app.bicep']!;
  const report = await check({
    ...base,
    'modules/graph-app.bicep': graph.replace(
      '  audiences: [\n    federatedIdentityAudience',
      '  audience: [\n    federatedIdentityAudience',
    ),
  });
  const messages = report.findings.filter((f) => f.check === 'types').map((f) => f.message);
  assert.ok(
    messages.some((m) => /federatedCredential\.audience: no such property \(did you mean 'audiences'\?\)/.test(m)),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => /federatedCredential: required property 'audiences' is missing/.test(m)),
    messages.join('\n'),
  );
});
