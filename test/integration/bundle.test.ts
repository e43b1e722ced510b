/**
 * The deployed code is the bundle: run its registered handler end to end (Key Vault certificate through
 * the proxy, MSAL, Graph paging, staged blocks in Azurite), from a copy away from node_modules, so that a
 * dependency esbuild missed or mangled fails here rather than in Azure.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runExportProcess } from '../../stand-ins/export-process.js';
import { expectedUsers } from '../../stand-ins/sim-tenant/users.js';
import { DEFAULTS } from '../../src/settings.js';
import { blobNames, download, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
const away = mkdtempSync(path.join(os.tmpdir(), 'bundle-run-'));
before(async () => {
  world = await startWorld({ userCount: 1500 });
});
after(async () => {
  await world?.close();
  rmSync(away, { recursive: true, force: true });
});

test('the bundled handler exports the tenant', async () => {
  const bundle = path.join(away, 'exportUsers.js');
  copyFileSync(path.resolve(__dirname, '..', '..', 'bundle', 'functions', 'exportUsers.js'), bundle);
  const env = workingEnv(world, 'certificate-pfx', { BUNDLE_PATH: bundle, EXPORT_FORMAT: 'ndjson', EXPORT_COMPRESSION: 'none' });
  const result = await runExportProcess(env, { script: path.join(__dirname, '..', 'fixtures', 'run-bundled-handler.js') });
  assert.equal(result.code, 0, result.stderr);
  const outcome = JSON.parse(result.stdout.trim().split('\n').pop()!) as { logs: Array<{ message: string }>; threw?: unknown };
  assert.equal(outcome.threw, undefined, JSON.stringify(outcome));
  assert.ok(
    outcome.logs.some((l) => /Export completed: run .*1500 users/.test(l.message)),
    JSON.stringify(outcome.logs),
  );

  const container = world.container(env['EXPORT_CONTAINER']!);
  const names = await blobNames(container);
  // latest.json, the manifest, the users and their index (the first run has no change report).
  assert.equal(names.length, 4, names.join(', '));
  assert.ok(
    names.some((n) => n.endsWith('/users.index')),
    names.join(', '),
  );
  const usersBlob = names.find((n) => n.endsWith('users.ndjson'))!;
  const stored = (await download(container, usersBlob)).toString('utf8');
  const users = stored
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
  const want = [...expectedUsers({ seed: world.seed, userCount: 1500, select: DEFAULTS.USERS_SELECT.split(',') })];
  assert.deepEqual(users, want);
});
