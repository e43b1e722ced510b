/**
 * src/cli.ts, as `npm run export` runs it (its bundle, dist/bin/cli.js, in a child process) against Azurite
 * and the simulated tenant: stdout is exactly one line of JSON, the manifest, and nothing else; the log goes
 * to stderr, each line stamped with the time; a failure prints one line naming its code on stderr, nothing on
 * stdout, and exits 2 for a setting or credential to change, 1 for anything else.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { download, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 1500 });
});
after(async () => world?.close());

test('success: one line of JSON on stdout, the manifest that latest.json holds; the log on stderr, timestamped; exit 0', async () => {
  const env = workingEnv(world, 'secret');
  const result = await runExport(env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\{.*\}\n$/, 'exactly one line');
  const latest = (await download(world.container(env['EXPORT_CONTAINER']!), 'latest.json')).toString();
  assert.deepEqual(JSON.parse(result.stdout), JSON.parse(latest));
  const lines = result.stderr.trimEnd().split('\n');
  assert.ok(lines.length >= 2, result.stderr);
  for (const line of lines) assert.match(line, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z /, `timestamped: ${line}`);
  assert.match(lines.at(-1) ?? '', / Export completed: run /);
});

test('settings to fix: one line naming the code on stderr, nothing on stdout, exit 2', async () => {
  const result = await runExport(workingEnv(world, 'secret', { GRAPH_TENANT_ID: undefined, EXPORT_FORMAT: 'xml' }));
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^entra-users-export: export failed \[InvalidSettings\]: .*GRAPH_TENANT_ID.*EXPORT_FORMAT/s);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
});

test('a service that keeps failing: exit 1, the code on stderr, nothing on stdout', async () => {
  world.sim.addFault({ target: 'graph', fault: { kind: 'status', status: 500 }, times: Infinity });
  try {
    const result = await runExport(workingEnv(world, 'secret', { EXPORT_REQUEST_TIMEOUT_SECONDS: '1' }));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /\nentra-users-export: export failed \[GraphFailed\]: /);
  } finally {
    world.sim.clearFaults();
  }
});
