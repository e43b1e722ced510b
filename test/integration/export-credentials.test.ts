/**
 * End to end through the real SDKs (Key Vault, MSAL, Storage) against the simulated tenant and Azurite:
 * each way of holding the Graph app's credential.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAppCertificate, toPfxBase64 } from '../../stand-ins/sim-tenant/certs.js';
import { assertSnapshot, newContainerName, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  // No vault-wide grant: each credential is readable by the identity granted it alone (the system-assigned
  // one for workingEnv's), so that only the user-assigned identity can read the one granted to it.
  world = await startWorld({ userCount: 1500, systemIdentityOnVault: false });
});
after(async () => world?.close());

test('client secret from Key Vault', async () => {
  const env = workingEnv(world, 'secret');
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  // The run says which credential it read: a client secret, by its name, from the vault.
  const read = `, secret '${env['GRAPH_CLIENT_SECRET_NAME']}' from ${world.sim.vaultUrl.replace(/\/$/, '')}, `;
  assert.ok(result.stderr.includes(read), `the run read a client secret (${read}); stderr:\n${result.stderr}`);
});

test('certificate as PFX (application/x-pkcs12) with the chain stored leaf-last', async () => {
  const app = world.sim.addApp({ displayName: 'pfx-leaf-last' });
  const cert = createAppCertificate();
  world.sim.addCertificate(app.clientId, cert.certPem);
  // Intermediate first, leaf last: the leaf must be found by its private key, not by position.
  world.sim.setSecret('pfx-leaf-last', toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }), {
    contentType: 'application/x-pkcs12',
  });
  world.sim.grantKeyVaultSecretsUser(world.sim.systemIdentity.principalId, { secret: 'pfx-leaf-last' });
  const env = {
    ...world.sim.env(),
    GRAPH_CLIENT_ID: app.clientId,
    GRAPH_CLIENT_CERTIFICATE_NAME: 'pfx-leaf-last',
    EXPORT_STORAGE: world.azurite.connectionString,
    EXPORT_CONTAINER: newContainerName(),
  };
  const tokensBefore = world.sim.stats.tokensIssued;
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  // The earlier tests' tokens count too: this run's are the difference.
  assert.ok(world.sim.stats.tokensIssued - tokensBefore >= 1, 'the token endpoint issued this run a Graph token');
});

test('certificate as PEM (application/x-pem-file)', async () => {
  const env = workingEnv(world, 'certificate-pem');
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
});

test('a user-assigned managed identity selected by AZURE_CLIENT_ID', async () => {
  const identity = world.sim.addUserAssignedIdentity();
  const env = workingEnv(world, 'certificate-pfx', { AZURE_CLIENT_ID: identity.clientId });
  // Only the user-assigned identity may read this credential.
  const name = env['GRAPH_CLIENT_CERTIFICATE_NAME']!;
  const app = world.sim.addApp({ displayName: 'uami' });
  const cert = createAppCertificate();
  world.sim.addCertificate(app.clientId, cert.certPem);
  world.sim.setSecret(`${name}-uami`, toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), {
    contentType: 'application/x-pkcs12',
  });
  world.sim.grantKeyVaultSecretsUser(identity.principalId, { secret: `${name}-uami` });
  env['GRAPH_CLIENT_ID'] = app.clientId;
  env['GRAPH_CLIENT_CERTIFICATE_NAME'] = `${name}-uami`;
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  // The control: the system-assigned identity (no AZURE_CLIENT_ID) is refused that credential, so the run
  // above read it as the user-assigned identity.
  const systemOnly = await runExport({ ...env, AZURE_CLIENT_ID: undefined, EXPORT_CONTAINER: newContainerName() });
  assert.equal(systemOnly.code, 2, `the system-assigned identity cannot read the credential; stderr:\n${systemOnly.stderr}`);
  assert.match(systemOnly.stderr, /\[KeyVaultForbidden\]: .*with HTTP 403/);
});
