/**
 * `npm run export` with a Key Vault certificate whose key is not RSA: exit 2, the key type named and how to
 * create an RSA certificate instead — for the PFX (application/x-pkcs12) and PEM (application/x-pem-file)
 * secrets Key Vault stores — nothing written, latest.json untouched, no token requested.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createNonRsaCertificate, toPemBundle, toPfxBase64 } from '../../stand-ins/sim-tenant/certs.js';
import { assertFailsCleanly, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 300 });
});
after(async () => world?.close());

/** An app whose certificate (registered on it, as an administrator would) is in Key Vault as `value`. */
function appWithCertificate(
  certPem: string,
  value: string,
  contentType: string,
): { GRAPH_CLIENT_ID: string; GRAPH_CLIENT_CERTIFICATE_NAME: string } {
  const app = world.sim.addApp({ displayName: 'key-type' });
  world.sim.addCertificate(app.clientId, certPem);
  const name = `cert-${randomUUID().slice(0, 8)}`;
  world.sim.setSecret(name, value, { contentType });
  world.sim.grantKeyVaultSecretsUser(world.sim.systemIdentity.principalId, { secret: name });
  return { GRAPH_CLIENT_ID: app.clientId, GRAPH_CLIENT_CERTIFICATE_NAME: name };
}

const NAMES_KEY_AND_FIX = (keyType: string): RegExp =>
  new RegExp(
    `certificate 'cert-[0-9a-f]{8}' \\(GRAPH_CLIENT_CERTIFICATE_NAME\\) has a key of type ${keyType}, but Microsoft Entra client assertions are signed with RSA \\(PS256\\) and need an RSA key\\. Create the certificate in Key Vault with key type RSA`,
  );

test('EC (P-256) certificate as Key Vault stores it (PFX, CA-issued, chain leaf-last): exit 2, names EC and RSA', async () => {
  const env = workingEnv(world);
  const cert = createNonRsaCertificate({ keyType: 'ec-p256', issuedByAppCa: true });
  let tokenRequests = -1;
  const arm = (): Record<string, string> => {
    tokenRequests = world.sim.stats.token;
    return appWithCertificate(
      cert.certPem,
      toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }),
      'application/x-pkcs12',
    );
  };
  const result = await assertFailsCleanly(world, env, arm, NAMES_KEY_AND_FIX('EC \\(P-256\\)'), 2);
  assert.doesNotMatch(result.stderr, /no private key|contains no certificate/);
  assert.equal(world.sim.stats.token, tokenRequests, 'no token was requested with the EC key');
});

test('EC (P-384) certificate as PEM (application/x-pem-file): exit 2, names EC and RSA', async () => {
  const env = workingEnv(world);
  const cert = createNonRsaCertificate({ keyType: 'ec-p384' });
  await assertFailsCleanly(
    world,
    env,
    () => appWithCertificate(cert.certPem, toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pem-file'),
    NAMES_KEY_AND_FIX('EC \\(P-384\\)'),
    2,
  );
});

test('Ed25519 certificate (PFX): exit 2, names Ed25519 and RSA', async () => {
  const env = workingEnv(world);
  const cert = createNonRsaCertificate({ keyType: 'ed25519' });
  await assertFailsCleanly(
    world,
    env,
    () => appWithCertificate(cert.certPem, toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pkcs12'),
    NAMES_KEY_AND_FIX('Ed25519'),
    2,
  );
});
