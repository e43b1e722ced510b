/**
 * Throttling, transient faults, a 401 mid-run and an expired page token: the run succeeds with exactly
 * the tenant's users, none duplicated or dropped. Persistent faults and protocol oddities fail the run
 * (exit 1) with nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { assertFailsCleanly, assertSnapshot, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 4000 });
});
after(async () => world?.close());
beforeEach(() => world.sim.clearFaults());

test('429 with Retry-After, 503 and 504 without, a reset: retried, nothing lost or duplicated', async () => {
  const env = workingEnv(world);
  world.sim.addFault({ target: 'graph', page: 0, fault: { kind: 'status', status: 504 } });
  world.sim.addFault({ target: 'graph', page: 1, times: 2, fault: { kind: 'status', status: 429, retryAfter: 0.2 } });
  world.sim.addFault({ target: 'graph', page: 2, fault: { kind: 'status', status: 503 } });
  world.sim.addFault({ target: 'graph', page: 3, fault: { kind: 'reset' } });
  const before = world.sim.stats.faultsInjected;
  const result = await runExport(env);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(world.sim.stats.faultsInjected - before, 5);
  assert.equal(manifest['retries'], 5, 'every retry is counted in the manifest');
});

test('transient faults of the token endpoint, the managed-identity endpoint and Key Vault are retried', async () => {
  const env = workingEnv(world);
  world.sim.addFault({ target: 'token', fault: { kind: 'status', status: 503 } });
  world.sim.addFault({ target: 'msi', fault: { kind: 'status', status: 500 } });
  // nth counts requests over the sim's life: the second Key Vault request of this run is the one with a token.
  world.sim.addFault({ target: 'keyvault', nth: world.sim.stats.keyvault + 2, fault: { kind: 'status', status: 503 } });
  const before = world.sim.stats.faultsInjected;
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  assert.equal(world.sim.stats.faultsInjected - before, 3);
});

test('a 401 InvalidAuthenticationToken mid-run gets one fresh token, then the run goes on', async () => {
  const env = workingEnv(world);
  const tokens = world.sim.stats.tokensIssued;
  world.sim.addFault({ target: 'graph', page: 2, fault: { kind: 'invalid-token' } });
  const result = await runExport(env);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(manifest['tokenRefreshes'], 1);
  assert.equal(world.sim.stats.tokensIssued - tokens, 2, 'one token at start, one fresh after the 401');
});

test('a run outlasting its token renews it before it expires (the token is cached for the run, not forever)', async () => {
  const env = workingEnv(world);
  // MSAL and the export renew a token 5 minutes before it expires: a 302-second token is due after 2 s.
  world.sim.setAccessTokenLifetime(302);
  world.sim.setPageLatency(800);
  const tokens = world.sim.stats.tokensIssued;
  try {
    const result = await runExport(env);
    const { manifest } = await assertSnapshot(world, env, result);
    assert.equal(manifest['pages'], 5);
    assert.ok(world.sim.stats.tokensIssued - tokens >= 2, `${world.sim.stats.tokensIssued - tokens} token(s) for a run of 4 s`);
  } finally {
    world.sim.setAccessTokenLifetime(3599);
    world.sim.setPageLatency(0);
  }
});

test('an expired $skiptoken restarts the listing from the first page without duplicates', async () => {
  const env = workingEnv(world);
  world.sim.addFault({ target: 'graph', page: 2, fault: { kind: 'expire-skiptoken' } });
  const result = await runExport(env);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(manifest['listingRestarts'], 1);
});

test('persistent throttling fails the run after bounded retries, nothing written', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => world.sim.addFault({ target: 'graph', page: 1, times: Infinity, fault: { kind: 'status', status: 429, retryAfter: 0.01 } }),
    /Listing users from Microsoft Graph failed .* HTTP 429 .*after all retries/,
  );
});

test('a nextLink to a foreign host is refused: the token never leaves GRAPH_ENDPOINT', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => world.sim.addFault({ target: 'graph', page: 1, times: Infinity, fault: { kind: 'foreign-nextlink' } }),
    /nextLink to https:\/\/.* which is not GRAPH_ENDPOINT/,
  );
});

test('a page without value fails the run', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => world.sim.addFault({ target: 'graph', page: 2, times: Infinity, fault: { kind: 'no-value' } }),
    /page that has no 'value' array/,
  );
});

test('an HTML error page from a proxy is reported as such', async () => {
  const env = workingEnv(world);
  await assertFailsCleanly(
    world,
    env,
    () => world.sim.addFault({ target: 'graph', page: 1, times: Infinity, fault: { kind: 'html', status: 403 } }),
    /not Graph's JSON error — a proxy or gateway/,
  );
});
