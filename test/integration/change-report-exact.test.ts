/**
 * Exactness: the simulated tenant changes between two runs (seeded joiners, leavers, edits, renames, nulls) and
 * says exactly which report lines a comparison of its two listings must give; the report of the second run
 * lists exactly those — the same users, the same properties with the same old and new values — and nothing
 * else. Its own world: the tenant's changes would surprise the other files' checks of the listing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { DEFAULTS } from '../../src/settings.js';
import { download, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 3000, seed: 11 });
});
after(async () => world?.close());

type Json = Record<string, unknown>;

async function run(env: Record<string, string | undefined>): Promise<Json> {
  const result = await runExport(env);
  assert.equal(result.code, 0, result.stderr);
  return result.summary!;
}

async function report(env: Record<string, string | undefined>, manifest: Json): Promise<{ text: string; lines: Json[] }> {
  const changes = manifest['changes'] as Json;
  assert.ok(typeof changes['blobName'] === 'string', JSON.stringify(changes));
  const stored = await download(world.container(env['EXPORT_CONTAINER']!), String(changes['blobName']));
  assert.equal(changes['sha256'], createHash('sha256').update(stored).digest('hex'));
  const text = (manifest['compression'] === 'gzip' ? gunzipSync(stored) : stored).toString('utf8');
  return {
    text,
    lines: text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Json),
  };
}

test('for seeded changes the report lists exactly the expected users and properties, nothing else', async () => {
  const select = DEFAULTS.USERS_SELECT.split(',');
  for (const [k, settings] of [{}, { EXPORT_FORMAT: 'ndjson', EXPORT_COMPRESSION: 'gzip' }].entries()) {
    const env = workingEnv(world, 'certificate-pfx', settings);
    const first = await run(env);
    const applied = world.sim.applyChanges({ seed: 100 + k, joiners: 40, leavers: 25, edits: 60, renames: 20, nulls: 30 });
    const expected = applied.expected({ select });
    const second = await run(env);
    const changes = second['changes'] as Json;
    assert.equal(changes['previousRunId'], first['runId']);
    const { lines } = await report(env, second);
    assert.deepEqual(lines, expected);
    const count = (kind: string): number => expected.filter((l) => l.change === kind).length;
    assert.deepEqual([changes['added'], changes['removed'], changes['changed']], [count('added'), count('removed'), count('changed')]);
    assert.ok(count('added') > 0 && count('removed') > 0 && count('changed') > 0, 'every kind of change is there');
  }
});

test('every user gone: one removed line per user of the previous snapshot, exactly', async () => {
  const select = 'id,displayName,mail,department';
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: select });
  await run(env);
  const applied = world.sim.applyChanges({ seed: 7, leavers: world.sim.users.userCount, joiners: 5 });
  const expected = applied.expected({ select: select.split(',') });
  const manifest = await run(env);
  const { lines } = await report(env, manifest);
  assert.deepEqual(lines, expected);
  assert.equal((manifest['changes'] as Json)['removed'], expected.length - 5);
});
