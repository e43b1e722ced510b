/**
 * graphTokenProvider (src/token.ts) against the simulated authority, in a child process that trusts the
 * sim's CA (test/fixtures/token-provider.ts): the Graph token for each kind of credential; one OpenID
 * configuration read and one MSAL application per credential, reused by the next run of a warm instance, a
 * rotated credential getting its own; a token kept for the run only until MSAL would renew it; a failed
 * start not remembered; and Entra's refusals and outages turned into errors that say what to change.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runExportProcess } from '../../stand-ins/export-process.js';
import { createAppCertificate, sha256Thumbprint, toPemBundle } from '../../stand-ins/sim-tenant/certs.js';
import { startSimTenant, type SimStats, type SimTenant } from '../../stand-ins/sim-tenant/index.js';
import type { TokenFixtureInput, TokenStep, TokenStepResult } from '../fixtures/token-provider.js';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'token-provider.js');

let sim: SimTenant;
before(async () => {
  sim = await startSimTenant({ userCount: 1 });
});
after(async () => sim?.close());

/** Runs the steps in one fresh process; returns each step's result and what the sim counted meanwhile. */
async function run(
  credentials: TokenFixtureInput['credentials'],
  steps: Array<Omit<TokenStep, 'tenantId'> & { tenantId?: string }>,
  requestTimeoutMs = 100_000,
): Promise<{ results: TokenStepResult[]; counted: Pick<SimStats, 'openid' | 'token' | 'tokensIssued'> }> {
  const input: TokenFixtureInput = {
    authorityHost: sim.authorityHost,
    graphEndpoint: sim.graphEndpoint,
    requestTimeoutMs,
    credentials,
    steps: steps.map((s) => ({ tenantId: sim.tenantId, ...s })),
  };
  const before = { ...sim.stats };
  const child = await runExportProcess(
    { ...sim.env(), TOKEN_FIXTURE_INPUT: JSON.stringify(input) },
    { script: FIXTURE, timeoutMs: 120_000 },
  );
  assert.equal(child.code, 0, child.stderr);
  const results = JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as TokenStepResult[];
  assert.equal(results.length, steps.length, child.stdout);
  const counted = {
    openid: sim.stats.openid - before.openid,
    token: sim.stats.token - before.token,
    tokensIssued: sim.stats.tokensIssued - before.tokensIssued,
  };
  return { results, counted };
}

function ok(result: TokenStepResult | undefined): Extract<TokenStepResult, { ok: true }> {
  assert.ok(result?.ok, `a token: ${JSON.stringify(result)}`);
  return result;
}

function failed(result: TokenStepResult | undefined): Extract<TokenStepResult, { ok: false }> {
  assert.ok(result !== undefined && !result.ok, `a failure: ${JSON.stringify(result)}`);
  return result;
}

/** An app with a client secret registered on it. */
function secretApp(): { clientId: string; secret: string } {
  const app = sim.addApp({ displayName: 'token-test' });
  return { clientId: app.clientId, secret: sim.addClientSecret(app.clientId) };
}

test('a client secret and a certificate each get a Graph token for the tenant, with the app and its role in it', async () => {
  const bySecret = secretApp();
  const byCertificate = sim.addApp({ displayName: 'token-test' });
  const cert = createAppCertificate();
  sim.addCertificate(byCertificate.clientId, cert.certPem);
  const { results } = await run(
    { secret: { secret: bySecret.secret }, certificate: { certificatePem: toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }) } },
    [
      { provider: 'a', clientId: bySecret.clientId, credential: 'secret' },
      { provider: 'b', clientId: byCertificate.clientId, credential: 'certificate' },
    ],
  );
  for (const [result, clientId, appidacr] of [
    [results[0], bySecret.clientId, '1'],
    [results[1], byCertificate.clientId, '2'],
  ] as const) {
    const { claims } = ok(result);
    assert.equal(claims['aud'], sim.graphEndpoint);
    assert.equal(claims['tid'], sim.tenantId);
    assert.equal(claims['appid'], clientId);
    assert.equal(claims['appidacr'], appidacr, 'the kind of credential the token was issued for (1 secret, 2 certificate)');
    assert.deepEqual(claims['roles'], ['User.Read.All']);
  }
});

test('one OpenID configuration read and one token per credential: the next run of a warm instance reuses both; forceRefresh asks Entra again', async () => {
  const app = secretApp();
  const { results, counted } = await run({ s: { secret: app.secret } }, [
    { provider: 'run1', clientId: app.clientId, credential: 's' },
    { provider: 'run1', clientId: app.clientId, credential: 's' },
    { provider: 'run2', clientId: app.clientId, credential: 's' },
    { provider: 'run2', clientId: app.clientId, credential: 's', forceRefresh: true },
    { provider: 'run3', clientId: app.clientId, credential: 's' },
  ]);
  const tokens = results.map((r) => ok(r).token);
  assert.equal(tokens[1], tokens[0], 'the same run keeps its token');
  assert.equal(tokens[2], tokens[0], "the next run gets MSAL's cached token from the same application");
  assert.notEqual(tokens[3], tokens[0], 'forceRefresh (a 401 mid-run) gets a new token');
  assert.equal(tokens[4], tokens[3], 'and that new token is the cached one from then on');
  assert.deepEqual(counted, { openid: 1, token: 2, tokensIssued: 2 });
});

test('a token MSAL would renew (less than 5 minutes left) is not kept for the run: each request gets a fresh one', async () => {
  const app = secretApp();
  sim.setAccessTokenLifetime(240);
  try {
    const { results, counted } = await run({ s: { secret: app.secret } }, [
      { provider: 'run', clientId: app.clientId, credential: 's' },
      { provider: 'run', clientId: app.clientId, credential: 's' },
    ]);
    assert.notEqual(ok(results[1]).token, ok(results[0]).token);
    assert.equal(counted.tokensIssued, 2);
  } finally {
    sim.setAccessTokenLifetime(3599);
  }
});

test('a rotated credential gets an application of its own: a wrong new secret is refused, not covered by the old one', async () => {
  const app = secretApp();
  const { results, counted } = await run({ old: { secret: app.secret }, rotated: { secret: 'not-the-secret' } }, [
    { provider: 'run1', clientId: app.clientId, credential: 'old' },
    { provider: 'run2', clientId: app.clientId, credential: 'rotated' },
  ]);
  ok(results[0]);
  const refused = failed(results[1]);
  assert.equal(refused.code, 'TokenRequestRejected');
  assert.match(refused.message, /AADSTS7000215/);
  assert.match(refused.message, /GRAPH_CLIENT_SECRET_NAME/, 'says which setting names the secret to replace');
  assert.equal(counted.openid, 2, 'each application reads the OpenID configuration');
});

test('an authority that failed to answer is not remembered: the same run tries again and gets its token', async () => {
  const app = secretApp();
  sim.addFault({ target: 'openid', fault: { kind: 'status', status: 404 } });
  const { results, counted } = await run({ s: { secret: app.secret } }, [
    { provider: 'run', clientId: app.clientId, credential: 's' },
    { provider: 'run', clientId: app.clientId, credential: 's' },
  ]);
  const first = failed(results[0]);
  assert.equal(first.code, 'TokenRequestRejected');
  ok(results[1]);
  assert.equal(counted.openid, 2);
});

test("Entra's refusals say what to change: an unknown tenant, a certificate not registered on the app", async () => {
  const app = secretApp();
  const cert = createAppCertificate();
  const unknownTenant = '0badc0de-0000-4000-8000-000000000000';
  const { results, counted } = await run(
    { s: { secret: app.secret }, unregistered: { certificatePem: toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }) } },
    [
      { provider: 'a', tenantId: unknownTenant, clientId: app.clientId, credential: 's' },
      { provider: 'b', clientId: app.clientId, credential: 'unregistered' },
    ],
  );
  const tenant = failed(results[0]);
  assert.equal(tenant.code, 'TokenRequestRejected');
  assert.match(tenant.message, /AADSTS90002/);
  assert.match(tenant.message, new RegExp(`GRAPH_TENANT_ID '${unknownTenant}'`));
  const certificate = failed(results[1]);
  assert.equal(certificate.code, 'TokenRequestRejected');
  assert.match(certificate.message, /AADSTS700027/);
  assert.ok(certificate.message.includes(sha256Thumbprint(cert.certPem)), 'names the certificate by its thumbprint');
  assert.equal(counted.tokensIssued, 0);
});

test('a token endpoint that keeps failing is retried, then reported as a failure to try again (not a rejection)', async () => {
  const app = secretApp();
  sim.addFault({ target: 'token', fault: { kind: 'status', status: 503 }, times: Infinity });
  try {
    // A short request timeout also bounds the pauses between attempts.
    const { results, counted } = await run(
      { s: { secret: app.secret } },
      [{ provider: 'run', clientId: app.clientId, credential: 's' }],
      2_000,
    );
    const failure = failed(results[0]);
    assert.equal(failure.code, 'TokenRequestFailed');
    assert.ok(counted.token > 1, `retried: ${counted.token} requests`);
    assert.equal(counted.tokensIssued, 0);
  } finally {
    sim.clearFaults();
  }
});
