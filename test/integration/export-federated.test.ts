/**
 * Secretless, end to end through the real SDKs (@azure/identity's ManagedIdentityCredential, MSAL's client-assertion
 * callback, Storage) against the simulated tenant and Azurite: the Graph app trusts the function's user-assigned
 * managed identity through a federated identity credential, and nothing is read from Key Vault.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startSimTenant, type FederatedIdentityCredentialInput } from '../../stand-ins/sim-tenant/index.js';
import {
  assertFailsCleanly,
  assertSnapshot,
  newContainerName,
  runExport,
  startWorld,
  workingEnv,
  type World,
} from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 1500 });
});
after(async () => world?.close());

const CONFIG = 2;
const EXCHANGE = 'api://AzureADTokenExchange';

test("federated: the identity's token is the client assertion; no Key Vault, no KEY_VAULT_URL", async () => {
  const env = workingEnv(world, 'federated');
  assert.equal(env['KEY_VAULT_URL'], undefined);
  const before = { ...world.sim.stats };
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  const stats = world.sim.stats;
  assert.equal(stats.keyvault - before.keyvault, 0, 'nothing is read from Key Vault');
  assert.equal(stats.exchangeTokensIssued - before.exchangeTokensIssued, 1, 'one managed-identity token for the exchange audience');
  assert.equal(stats.federatedTokensIssued - before.federatedTokensIssued, 1, 'the Graph token came from the federated credential');
  assert.ok(result.stderr.includes(`federated credential: managed identity ${env['GRAPH_FEDERATED_IDENTITY_CLIENT_ID']}`), result.stderr);
});

/**
 * A working federated env, and the overrides that switch it to an app whose only federated credential is `fic`
 * (given the values a correct one has: this tenant's issuer, the identity's principal ID, the exchange audience).
 */
function withCredential(fic: (correct: { issuer: string; subject: string; audiences: string[] }) => FederatedIdentityCredentialInput): {
  env: Record<string, string | undefined>;
  arm: () => Record<string, string>;
  subject: string;
} {
  const identity = world.sim.addUserAssignedIdentity();
  const good = world.sim.addApp({
    displayName: 'fic-good',
    federatedIdentityCredentials: [{ issuer: world.sim.issuer, subject: identity.principalId, audiences: [EXCHANGE] }],
  });
  const bad = world.sim.addApp({
    displayName: 'fic-bad',
    federatedIdentityCredentials: [fic({ issuer: world.sim.issuer, subject: identity.principalId, audiences: [EXCHANGE] })],
  });
  const env = workingEnv(world, 'federated', { GRAPH_CLIENT_ID: good.clientId, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: identity.clientId });
  return { env, arm: () => ({ GRAPH_CLIENT_ID: bad.clientId }), subject: identity.principalId };
}

/** The message names the code, the claim to check and the exact values to register. */
function expected(code: number, claim: string, subject: string): RegExp {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(
    `\\[TokenRequestRejected\\]: Microsoft Entra rejected the token request with AADSTS${code}: app [0-9a-f-]+ has no federated identity credential matching .*check its ${esc(claim)}\\. ` +
      `The credential must have issuer '${esc(world.sim.issuer)}', subject '${subject}' .*and audience '${esc(EXCHANGE)}'.*az ad app federated-credential create`,
  );
}

test('federated, wrong issuer: AADSTS700211 names the issuer to register, exit 2, nothing written', async () => {
  const { env, arm, subject } = withCredential((c) => ({ ...c, issuer: `https://login.microsoftonline.com/${randomUUID()}/v2.0` }));
  await assertFailsCleanly(world, env, arm, expected(700211, 'issuer', subject), CONFIG);
});

test("federated, wrong subject: AADSTS700213 names the identity's principal ID, exit 2, nothing written", async () => {
  const { env, arm, subject } = withCredential((c) => ({ ...c, subject: randomUUID() }));
  await assertFailsCleanly(world, env, arm, expected(700213, 'subject', subject), CONFIG);
});

test('federated, subject in another case: AADSTS7002138 (matching is case-sensitive), exit 2', async () => {
  const { env, arm, subject } = withCredential((c) => ({ ...c, subject: c.subject.toUpperCase() }));
  await assertFailsCleanly(world, env, arm, expected(7002138, 'subject (its case)', subject), CONFIG);
});

test('federated, wrong audience: AADSTS700212 names the exchange audience, exit 2, nothing written', async () => {
  const { env, arm, subject } = withCredential((c) => ({ ...c, audiences: ['api://AzureADTokenExchangeUSGov'] }));
  await assertFailsCleanly(world, env, arm, expected(700212, 'audience', subject), CONFIG);
});

test('federated, the system-assigned identity configured: the subject does not match, and the message says why', async () => {
  const { env, arm } = withCredential((c) => c);
  // The app trusts a user-assigned identity; GRAPH_FEDERATED_IDENTITY_CLIENT_ID names the system-assigned one.
  const result = await assertFailsCleanly(
    world,
    env,
    () => ({ ...arm(), GRAPH_FEDERATED_IDENTITY_CLIENT_ID: world.sim.systemIdentity.clientId }),
    /AADSTS700213: .*The token came from a system-assigned identity \(.*Microsoft\.Web\/sites.*\): only a user-assigned identity can be an app's federated credential/,
    CONFIG,
  );
  assert.ok(result.stderr.includes(`subject '${world.sim.systemIdentity.principalId}'`), result.stderr);
});

test('federated, an identity not assigned to the function: the identity endpoint refuses it, exit 2', async () => {
  const env = workingEnv(world, 'federated');
  const stranger = randomUUID();
  await assertFailsCleanly(
    world,
    env,
    () => ({ GRAPH_FEDERATED_IDENTITY_CLIENT_ID: stranger }),
    new RegExp(
      `\\[IdentityUnavailable\\]: The managed-identity endpoint has no identity with client ID ${stranger} \\(GRAPH_FEDERATED_IDENTITY_CLIENT_ID\\) for this function app\\. Assign that user-assigned identity`,
    ),
    CONFIG,
  );
});

test("federated, another cloud's identity endpoint: it refuses the exchange audience of GRAPH_AUTHORITY_HOST, exit 2", async () => {
  const env = workingEnv(world, 'federated');
  // A tenant whose cloud's exchange audience is China's: its identity endpoint does not know the global one, which a
  // GRAPH_AUTHORITY_HOST outside the national clouds' login hosts derives.
  const china = await startSimTenant({ tokenExchangeAudience: 'api://AzureADTokenExchangeChina', userCount: 10 });
  try {
    const identity = china.addUserAssignedIdentity();
    const app = china.addApp({
      federatedIdentityCredentials: [{ issuer: china.issuer, subject: identity.principalId, audiences: [china.tokenExchangeAudience] }],
    });
    await assertFailsCleanly(
      world,
      env,
      () => ({ ...china.env(), KEY_VAULT_URL: '', GRAPH_CLIENT_ID: app.clientId, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: identity.clientId }),
      /\[IdentityUnavailable\]: Getting the token of managed identity .* for the token-exchange audience api:\/\/AzureADTokenExchange failed: its cloud does not know that audience \(AADSTS500011\)\. .*set GRAPH_AUTHORITY_HOST to the login host of the cloud/,
      CONFIG,
    );
    assert.equal(china.stats.token, 0, 'the token endpoint was never asked');
  } finally {
    await china.close();
  }
});

test("federated, a run outlasting its tokens: MSAL asks for a new assertion and the identity's token is renewed", async () => {
  // MSAL, @azure/identity and the export renew a token 5 minutes before it expires: 302-second tokens are due
  // after 2 s. Two pages 2.5 s apart make the run outlast the first Graph token and the first identity token.
  const env = workingEnv(world, 'federated', { EXPORT_CONTAINER: newContainerName() });
  world.sim.setAccessTokenLifetime(302);
  world.sim.setManagedIdentityTokenLifetime(302);
  world.sim.setPageLatency(4000);
  const before = { ...world.sim.stats };
  try {
    const result = await runExport(env);
    const { manifest } = await assertSnapshot(world, env, result);
    assert.equal(manifest['pages'], 2);
    const exchanged = world.sim.stats.federatedTokensIssued - before.federatedTokensIssued;
    const assertions = world.sim.stats.exchangeTokensIssued - before.exchangeTokensIssued;
    assert.ok(exchanged >= 2, `${exchanged} Graph token(s) from the federated credential`);
    assert.ok(
      assertions >= 2,
      `${assertions} identity token(s) for ${exchanged} exchanges: an expiring identity token is renewed, not reused`,
    );
  } finally {
    world.sim.setAccessTokenLifetime(3599);
    world.sim.setManagedIdentityTokenLifetime(86_399);
    world.sim.setPageLatency(0);
  }
});

test('federated where there is no identity endpoint (a developer machine): exit 2, saying where it works', async () => {
  const env = workingEnv(world, 'federated');
  // No App Service identity endpoint: @azure/identity tries the VM one (169.254.169.254), which is not there either.
  await assertFailsCleanly(
    world,
    env,
    () => ({ IDENTITY_ENDPOINT: undefined, IDENTITY_HEADER: undefined, EXPORT_REQUEST_TIMEOUT_SECONDS: '3' }),
    /\[IdentityUnavailable\]: No managed identity could give the token of [0-9a-f-]{36} \(GRAPH_FEDERATED_IDENTITY_CLIENT_ID\): this environment has no identity endpoint \(IDENTITY_ENDPOINT\)\. A federated credential needs the function's user-assigned managed identity/,
    CONFIG,
  );
});
