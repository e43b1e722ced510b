import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setupDemoApp } from '../../../stand-ins/sim-tenant/demo-app.js';
import { type SimTenant, startSimTenant } from '../../../stand-ins/sim-tenant/index.js';
import type { SecretResult } from './fixtures/keyvault-secret.js';
import { appToken, connect, keyVaultRequest, miToken, request, runFixture } from './helpers.js';

let sim: SimTenant;
before(async () => {
  sim = await startSimTenant({ userCount: 1 });
  sim.setSecret('granted', 's3cret', { contentType: 'text/plain' });
  sim.setSecret('not-granted', 'other');
  sim.setSecret('disabled', 'x', { enabled: false });
  sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId, { secret: 'granted' });
  sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId, { secret: 'disabled' });
});
after(() => sim.close());

const API = '?api-version=2025-07-01';
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

test('no token: 401 with the exact challenge Key Vault sends and AKV10000', async () => {
  const res = await keyVaultRequest(sim, `/secrets/granted/${API}`);
  assert.equal(res.status, 401);
  assert.equal(
    res.headers['www-authenticate'],
    `Bearer authorization="${sim.authorityHost}/${sim.tenantId}", resource="https://vault.azure.net"`,
  );
  assert.deepEqual(res.json, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } });
});

test('a token for another audience or a tampered token is refused with 401', async () => {
  const { clientId } = sim.addApp();
  const graphToken = await appToken(sim, clientId, sim.addClientSecret(clientId));
  const wrongAud = await keyVaultRequest(sim, `/secrets/granted/${API}`, bearer(graphToken));
  assert.equal(wrongAud.status, 401);
  assert.match(wrongAud.json.error.message, /AKV10022: Invalid audience/);
  assert.ok(wrongAud.headers['www-authenticate']);

  const token = await miToken(sim, 'https://vault.azure.net');
  const [h, p] = token.split('.');
  const tampered = `${h}.${p}.${Buffer.from('forged').toString('base64url')}`;
  assert.equal((await keyVaultRequest(sim, `/secrets/granted/${API}`, bearer(tampered))).status, 401);
});

test('RBAC: without Key Vault Secrets User the answer is 403 ForbiddenByRbac, even for a missing secret', async () => {
  const token = await miToken(sim, 'https://vault.azure.net');
  for (const name of ['not-granted', 'does-not-exist']) {
    const res = await keyVaultRequest(sim, `/secrets/${name}/${API}`, bearer(token));
    assert.equal(res.status, 403);
    assert.equal(res.json.error.code, 'Forbidden');
    assert.equal(res.json.error.innererror.code, 'ForbiddenByRbac');
    assert.match(res.json.error.message, /^Caller is not authorized to perform action on resource\.\r\n/);
    assert.ok(res.json.error.message.includes(`oid=${sim.systemIdentity.principalId}`));
    assert.ok(res.json.error.message.includes("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"));
  }
  const uami = sim.addUserAssignedIdentity();
  sim.grantKeyVaultSecretsUser(uami.principalId);
  const vaultWide = await keyVaultRequest(
    sim,
    `/secrets/not-granted/${API}`,
    bearer(await miToken(sim, 'https://vault.azure.net', uami.clientId)),
  );
  assert.equal(vaultWide.status, 200, 'a vault-wide assignment covers every secret');
});

test('success body; unknown secret 404 SecretNotFound; disabled 403; versions', async () => {
  const token = await miToken(sim, 'https://vault.azure.net');
  const ok = await keyVaultRequest(sim, `/secrets/granted/${API}`, bearer(token));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.value, 's3cret');
  assert.equal(ok.json.contentType, 'text/plain');
  assert.match(ok.json.id, /^https:\/\/sim-kv\.vault\.azure\.net\/secrets\/granted\/[0-9a-f]{32}$/);
  assert.equal(ok.json.attributes.enabled, true);
  assert.equal(ok.json.attributes.recoveryLevel, 'Recoverable+Purgeable');
  assert.equal(typeof ok.json.attributes.created, 'number');
  assert.deepEqual(ok.json.tags, {});
  assert.equal('managed' in ok.json, false);

  const version = String(ok.json.id).split('/').pop();
  sim.setSecret('granted', 'rotated');
  assert.equal((await keyVaultRequest(sim, `/secrets/granted/${API}`, bearer(token))).json.value, 'rotated');
  assert.equal((await keyVaultRequest(sim, `/secrets/granted/${version}${API}`, bearer(token))).json.value, 's3cret');

  const uami = sim.addUserAssignedIdentity();
  sim.grantKeyVaultSecretsUser(uami.principalId);
  const all = bearer(await miToken(sim, 'https://vault.azure.net', uami.clientId));
  const missing = await keyVaultRequest(sim, `/secrets/does-not-exist/${API}`, all);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'SecretNotFound');
  assert.match(missing.json.error.message, /^A secret with \(name\/id\) does-not-exist was not found in this key vault\./);
  const disabled = await keyVaultRequest(sim, `/secrets/disabled/${API}`, bearer(token));
  assert.equal(disabled.status, 403);
  assert.equal(disabled.json.error.message, 'Operation get is not allowed on a disabled secret.');
});

test('a certificate-backed secret carries kid and managed: true', async () => {
  sim.setSecret('cert', 'MIIB', { contentType: 'application/x-pkcs12' });
  sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId, { secret: 'cert' });
  const res = await keyVaultRequest(sim, `/secrets/cert/${API}`, bearer(await miToken(sim, 'https://vault.azure.net')));
  assert.equal(res.json.managed, true);
  assert.match(res.json.kid, /^https:\/\/sim-kv\.vault\.azure\.net\/keys\/cert\/[0-9a-f]{32}$/);
});

test('the proxy tunnels only to the vault and the sim; refuses everything else; is CONNECT-only', async () => {
  const other = await connect(sim, 'other-kv.vault.azure.net:443');
  assert.equal(other.status, 502, 'an unknown vault looks like a DNS failure');
  other.socket.destroy();
  const outside = await connect(sim, 'example.com:443');
  assert.equal(outside.status, 403);
  outside.socket.destroy();
  const graph = await connect(sim, `localhost:${new URL(sim.graphEndpoint).port}`);
  assert.equal(graph.status, 200);
  graph.socket.destroy();
  assert.equal((await request(sim, `${sim.proxyUrl}/`)).status, 405);
});

test('keyvault faults: status with Key Vault body, nth', async () => {
  const token = bearer(await miToken(sim, 'https://vault.azure.net'));
  sim.addFault({ target: 'keyvault', fault: { kind: 'status', status: 429, retryAfter: 1 } });
  const throttled = await keyVaultRequest(sim, `/secrets/granted/${API}`, token);
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers['retry-after'], '1');
  assert.equal(throttled.json.error.code, 'Throttled');
  assert.equal((await keyVaultRequest(sim, `/secrets/granted/${API}`, token)).status, 200);
});

test('SecretClient + DefaultAzureCredential (managed identity) work through the proxy with NODE_EXTRA_CA_CERTS', async () => {
  const pfx = setupDemoApp(sim, { credential: 'certificate-pfx' });
  const pem = setupDemoApp(sim, { credential: 'certificate-pem', secretName: 'demo-pem' });
  const secret = setupDemoApp(sim, { credential: 'secret' });
  const names = [
    pfx.env['GRAPH_CLIENT_CERTIFICATE_NAME'],
    pem.env['GRAPH_CLIENT_CERTIFICATE_NAME'],
    secret.env['GRAPH_CLIENT_SECRET_NAME'],
    'not-granted',
    'disabled',
  ];
  // The earlier tests' requests count too: only what this run adds is this run's.
  const before = { ...sim.stats };
  const results = await runFixture<SecretResult[]>('keyvault-secret', sim.env(), names);
  const msi = sim.stats.msi - before.msi;
  const keyvault = sim.stats.keyvault - before.keyvault;
  const [p12, pemBundle, clientSecret, forbidden, disabled] = results;
  assert.ok(p12?.ok && p12.contentType === 'application/x-pkcs12' && p12.managed === true, JSON.stringify(p12));
  assert.ok(pemBundle?.ok && pemBundle.contentType === 'application/x-pem-file' && /-{5}BEGIN [A-Z ]*KEY-{5}/.test(pemBundle.value ?? ''));
  assert.ok(clientSecret?.ok && /^.{3}8Q~.{34}$/.test(clientSecret.value ?? ''));
  assert.ok(forbidden && !forbidden.ok && forbidden.statusCode === 403 && forbidden.code === 'Forbidden', JSON.stringify(forbidden));
  assert.ok(disabled && !disabled.ok && disabled.statusCode === 403);
  assert.ok(msi >= 1, `the token came from the managed-identity endpoint (${msi} requests)`);
  assert.ok(keyvault >= names.length, `every secret was asked of Key Vault (${keyvault} requests for ${names.length} names)`);
});

test('an api-version Key Vault does not serve is 400 BadParameter; the SDK versions are served', async () => {
  const token = bearer(await miToken(sim, 'https://vault.azure.net'));
  const unknown = await keyVaultRequest(sim, '/secrets/granted/?api-version=7.99', token);
  assert.equal(unknown.status, 400, unknown.text);
  assert.equal(unknown.json.error.code, 'BadParameter');
  assert.match(unknown.json.error.message, /^The specified version \(7\.99\) is not recognized\./);
  for (const version of ['7.4', '7.6', '2025-07-01']) {
    assert.equal((await keyVaultRequest(sim, `/secrets/granted/?api-version=${version}`, token)).status, 200, version);
  }
});
