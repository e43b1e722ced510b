/**
 * USERS_FILTER that Graph serves only as an advanced query (README "Settings", USERS_FILTER): the export is refused once,
 * lists again with `ConsistencyLevel: eventual` on every request and `$count=true`, says so, and records
 * `consistencyLevel: "eventual"`; a standard filter runs as before, without the header.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectedUsers } from '../../stand-ins/sim-tenant/users.js';
import { assertSnapshot, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 5000 });
});
after(async () => world?.close());

const SELECT = 'id,userPrincipalName,mail,userType,accountEnabled';

/** The sim's Graph request counters around one export run. */
async function exportCounting(
  env: Record<string, string | undefined>,
): Promise<{ result: Awaited<ReturnType<typeof runExport>>; requests: number; eventual: number }> {
  const before = { graph: world.sim.stats.graph, eventual: world.sim.stats.graphEventual };
  const result = await runExport(env);
  return { result, requests: world.sim.stats.graph - before.graph, eventual: world.sim.stats.graphEventual - before.eventual };
}

test("USERS_FILTER=endsWith(mail,'@contoso.com'): refused once, then listed as an advanced query, header on every page", async () => {
  const filter = "endsWith(mail,'@contoso.com')";
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: SELECT, USERS_FILTER: filter });
  const want = [...expectedUsers({ seed: world.seed, userCount: world.userCount, select: SELECT.split(','), filter })];
  assert.ok(want.length > 999 * 2 && want.length < world.userCount, `the filter keeps several pages of users but not all (${want.length})`);

  const { result, requests, eventual } = await exportCounting(env);
  const { users, manifest } = await assertSnapshot(world, env, result);
  assert.equal(users.length, want.length);
  for (const user of users) assert.match(String(user['mail']), /@contoso\.com$/i);
  const pages = Math.ceil(want.length / 999);
  assert.equal(manifest['pages'], pages);
  assert.equal(requests, pages + 1, 'the refused first request, then one request per page');
  assert.equal(eventual, pages, 'every request of the advanced listing carried ConsistencyLevel: eventual, nextLinks included');
  assert.equal(manifest['consistencyLevel'], 'eventual');
  assert.equal(result.summary?.['consistencyLevel'], 'eventual', 'the CLI summary says so too');
  assert.match(result.stderr, /USERS_FILTER.*advanced query \(ConsistencyLevel: eventual, \$count=true\).*may lag/);
  assert.match(
    result.stderr,
    /Operator 'endsWith' is not supported because the required parameters might be missing/,
    "Graph's reason is logged",
  );
  assert.match(result.stderr, /Export completed: .*listed as an advanced query \(ConsistencyLevel: eventual\)/);
});

test('USERS_FILTER with ne and not: the advanced listing returns exactly the matching users', async () => {
  const filter = "userType ne 'Guest' and not(accountEnabled eq true)";
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: SELECT, USERS_FILTER: filter, EXPORT_FORMAT: 'ndjson' });
  const { result } = await exportCounting(env);
  const { users, manifest } = await assertSnapshot(world, env, result);
  assert.ok(users.length > 0);
  for (const user of users) assert.ok(user['userType'] !== 'Guest' && user['accountEnabled'] === false, JSON.stringify(user));
  assert.equal(manifest['consistencyLevel'], 'eventual');
});

test('a standard USERS_FILTER (accountEnabled eq true) runs without the header and records consistencyLevel null', async () => {
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: SELECT, USERS_FILTER: 'accountEnabled eq true' });
  const { result, requests, eventual } = await exportCounting(env);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(manifest['consistencyLevel'], null);
  assert.equal(result.summary?.['consistencyLevel'], null);
  assert.equal(requests, manifest['pages'], 'one request per page, none refused');
  assert.equal(eventual, 0, 'no request carried ConsistencyLevel');
  assert.doesNotMatch(result.stderr, /advanced query/);
});

test('no USERS_FILTER: consistencyLevel null', async () => {
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: 'id' });
  const { result, eventual } = await exportCounting(env);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(manifest['consistencyLevel'], null);
  assert.equal(eventual, 0);
});
