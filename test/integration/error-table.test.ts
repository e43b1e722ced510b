/**
 * Every row of the README's error table ("Troubleshooting"): the user reads what failed and how to fix it, the exit code is
 * 2, nothing is written and latest.json is untouched.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createAppCertificate, toPemBundle, toPfxBase64 } from '../../stand-ins/sim-tenant/certs.js';
import { assertFailsCleanly, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 1200 });
});
after(async () => world?.close());

const CONFIG = 2;

/** A certificate app whose Key Vault secret value we choose. */
function certificateApp(
  value: string,
  contentType: string,
  register = true,
): { GRAPH_CLIENT_ID: string; GRAPH_CLIENT_CERTIFICATE_NAME: string } {
  const app = world.sim.addApp({ displayName: 'error-table' });
  const name = `bad-${randomUUID().slice(0, 8)}`;
  world.sim.setSecret(name, value, { contentType });
  world.sim.grantKeyVaultSecretsUser(world.sim.systemIdentity.principalId, { secret: name });
  if (register) {
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(value)?.[0];
    if (leaf) world.sim.addCertificate(app.clientId, leaf);
  }
  return { GRAPH_CLIENT_ID: app.clientId, GRAPH_CLIENT_CERTIFICATE_NAME: name };
}

test('settings missing, malformed, both credential names: every bad setting by name', async () => {
  const env = workingEnv(world, 'secret');
  const result = await assertFailsCleanly(
    world,
    env,
    () => ({
      GRAPH_CLIENT_ID: undefined,
      KEY_VAULT_URL: 'kv',
      GRAPH_CLIENT_CERTIFICATE_NAME: 'x',
      EXPORT_FORMAT: 'xml',
      EXPORT_SCHEDULE: 'daily',
    }),
    /GRAPH_CLIENT_ID is missing/,
    CONFIG,
  );
  for (const name of [
    'KEY_VAULT_URL',
    'GRAPH_CLIENT_SECRET_NAME and GRAPH_CLIENT_CERTIFICATE_NAME are both set',
    'EXPORT_FORMAT',
    'EXPORT_SCHEDULE',
  ]) {
    assert.ok(result.stderr.includes(name), name);
  }
  assert.match(result.stderr, /Invalid settings \(5 problems\)/);
});

test('neither credential name', async () => {
  const env = workingEnv(world, 'secret');
  await assertFailsCleanly(
    world,
    env,
    () => ({ GRAPH_CLIENT_SECRET_NAME: '' }),
    /GRAPH_CLIENT_CERTIFICATE_NAME, GRAPH_CLIENT_SECRET_NAME or GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing/,
    CONFIG,
  );
});

test('Key Vault 403: the identity lacks Key Vault Secrets User', async () => {
  const env = workingEnv(world);
  const stranger = world.sim.addUserAssignedIdentity();
  await assertFailsCleanly(
    world,
    env,
    () => ({ AZURE_CLIENT_ID: stranger.clientId }),
    /Key Vault .* HTTP 403: the function's identity lacks the 'Key Vault Secrets User' role/,
    CONFIG,
  );
});

test('Key Vault 404: the secret / certificate name is not in that vault', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => ({ GRAPH_CLIENT_CERTIFICATE_NAME: 'no-such-cert' }),
    /has no certificate 'no-such-cert' \(HTTP 404\): check GRAPH_CLIENT_CERTIFICATE_NAME/,
    CONFIG,
  );
});

test('certificate material unreadable', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => certificateApp('bm90IGEgcGZ4', 'application/x-pkcs12'),
    /PFX \(PKCS#12\) could not be read\. The certificate must be exportable/,
    CONFIG,
  );
});

test('certificate without a private key (not exportable)', async () => {
  const env = workingEnv(world);
  const cert = createAppCertificate();
  await assertFailsCleanly(
    world,
    env,
    () => certificateApp(cert.chainPem.join(''), 'application/x-pem-file'),
    /contains no private key .* must be exportable/,
    CONFIG,
  );
});

test('key not matching the certificate', async () => {
  const env = workingEnv(world);
  const a = createAppCertificate();
  const b = createAppCertificate();
  await assertFailsCleanly(
    world,
    env,
    () => certificateApp(toPemBundle({ keyPem: b.keyPem, certsPem: [a.certPem] }), 'application/x-pem-file'),
    /private key does not match any of its certificates/,
    CONFIG,
  );
});

test('expired certificate', async () => {
  const env = workingEnv(world);
  const old = createAppCertificate({ validFrom: new Date(Date.now() - 400 * 86_400_000), validTo: new Date(Date.now() - 86_400_000) });
  await assertFailsCleanly(
    world,
    env,
    () => certificateApp(toPfxBase64({ keyPem: old.keyPem, certsPem: old.chainPem }), 'application/x-pkcs12'),
    /expired on .*renew it/,
    CONFIG,
  );
});

test('AADSTS7000215: wrong client secret', async () => {
  const env = workingEnv(world, 'secret');
  await assertFailsCleanly(
    world,
    env,
    () => world.sim.setSecret(env['GRAPH_CLIENT_SECRET_NAME']!, 'not-the-secret'),
    /AADSTS7000215: The client secret stored in Key Vault is not a valid secret/,
    CONFIG,
  );
});

test('AADSTS7000222: expired client secret', async () => {
  const env = workingEnv(world, 'secret');
  await assertFailsCleanly(
    world,
    env,
    () => world.sim.setSecret(env['GRAPH_CLIENT_SECRET_NAME']!, world.sim.addClientSecret(env['GRAPH_CLIENT_ID']!, { expired: true })),
    /AADSTS7000222: The client secret stored in Key Vault has expired/,
    CONFIG,
  );
});

test('AADSTS700027: certificate not registered on the app', async () => {
  const env = workingEnv(world);
  const cert = createAppCertificate();
  await assertFailsCleanly(
    world,
    env,
    () => certificateApp(toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pkcs12', false),
    /AADSTS700027: The certificate from Key Vault .* is not registered on app/,
    CONFIG,
  );
});

test('AADSTS700016: app not in the tenant', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => ({ GRAPH_CLIENT_ID: randomUUID() }),
    /AADSTS700016: GRAPH_CLIENT_ID '.*' is not an application in tenant/,
    CONFIG,
  );
});

test('AADSTS90002: tenant not found', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => ({ GRAPH_TENANT_ID: randomUUID() }),
    /AADSTS90002: GRAPH_TENANT_ID '.*' is not a tenant known to/,
    CONFIG,
  );
});

test('Graph 403 Authorization_RequestDenied: grant User.Read.All and admin consent', async () => {
  const env = workingEnv(world);
  const app = world.sim.addApp({ displayName: 'no-consent', roles: [] });
  const cert = createAppCertificate();
  world.sim.addCertificate(app.clientId, cert.certPem);
  const name = `noconsent-${randomUUID().slice(0, 8)}`;
  world.sim.setSecret(name, toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), { contentType: 'application/x-pkcs12' });
  world.sim.grantKeyVaultSecretsUser(world.sim.systemIdentity.principalId, { secret: name });
  const result = await assertFailsCleanly(
    world,
    env,
    () => ({ GRAPH_CLIENT_ID: app.clientId, GRAPH_CLIENT_CERTIFICATE_NAME: name }),
    /Authorization_RequestDenied.*lacks the User\.Read\.All application permission with admin consent/,
    CONFIG,
  );
  assert.ok(result.stderr.includes(`/${env['GRAPH_TENANT_ID']}/adminconsent?client_id=${app.clientId}`), 'the admin-consent URL is given');
});

test('Storage 403: the identity lacks Storage Blob Data Contributor', async () => {
  const env = workingEnv(world);
  const badKey = Buffer.alloc(64, 7).toString('base64');
  await assertFailsCleanly(
    world,
    env,
    () => ({ EXPORT_STORAGE: world.azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${badKey}`) }),
    /Blob Storage refused .*HTTP 403.*lacks the 'Storage Blob Data Contributor' role/,
    CONFIG,
  );
});

test("the filter is not supported even as an advanced query: USERS_FILTER and Graph's own message", async () => {
  const env = workingEnv(world);
  // endsWith works on mail, otherMails, userPrincipalName and proxyAddresses only ("Advanced query capabilities on
  // Microsoft Entra ID objects"): Graph refuses it on displayName, advanced query or not.
  const result = await assertFailsCleanly(
    world,
    env,
    () => ({ USERS_FILTER: "endsWith(displayName,'Vance')" }),
    /export failed \[InvalidSettings\]: Microsoft Graph does not support USERS_FILTER even as an advanced query .*Request_UnsupportedQuery: Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'\./,
    CONFIG,
  );
  assert.match(result.stderr, /listing again as an advanced query/, 'tried once as an advanced query first');
});
