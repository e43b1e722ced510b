/**
 * End to end through the real SDKs (Key Vault, MSAL, Storage) against the simulated tenant and Azurite:
 * each way of holding the Graph app's credential.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAppCertificate, toPfxBase64 } from '../../tools/sim-tenant/certs.js';
import { assertSnapshot, newContainerName, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 1500 });
});
after(async () => world?.close());

test('client secret from Key Vault', async () => {
  const env = workingEnv(world, 'secret');
  assert.ok(env['GRAPH_CLIENT_SECRET_NAME'] && !env['GRAPH_CLIENT_CERTIFICATE_NAME']);
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
});

test('certificate as PFX (application/x-pkcs12) with the chain stored leaf-last', async () => {
  const app = world.sim.addApp({ displayName: 'pfx-leaf-last' });
  const cert = createAppCertificate();
  world.sim.addCertificate(app.clientId, cert.certPem);
  // Intermediate first, leaf last: the leaf must be found by its private key, not by position.
  world.sim.setSecret('pfx-leaf-last', toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }), { contentType: 'application/x-pkcs12' });
  world.sim.grantKeyVaultSecretsUser(world.sim.systemIdentity.principalId, { secret: 'pfx-leaf-last' });
  const env = {
    ...world.sim.env(),
    GRAPH_CLIENT_ID: app.clientId,
    GRAPH_CLIENT_CERTIFICATE_NAME: 'pfx-leaf-last',
    EXPORT_STORAGE: world.azurite.connectionString,
    EXPORT_CONTAINER: newContainerName(),
  };
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  assert.ok(world.sim.stats.tokensIssued > 0);
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
  world.sim.setSecret(`${name}-uami`, toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), { contentType: 'application/x-pkcs12' });
  world.sim.grantKeyVaultSecretsUser(identity.principalId, { secret: `${name}-uami` });
  env['GRAPH_CLIENT_ID'] = app.clientId;
  env['GRAPH_CLIENT_CERTIFICATE_NAME'] = `${name}-uami`;
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
});
