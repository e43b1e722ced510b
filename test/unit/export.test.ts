/**
 * runExport (src/export.ts), the coordinator of one run, against Azurite and the simulated tenant — called
 * in a child process that trusts the tenant's CA (test/fixtures/run-export.ts), with a logger that records
 * each line: what it returns is what it published; progress is logged while the listing runs; the preflight
 * (container ∥ credential → token) stops a bad credential before anything is staged and, when Storage fails
 * too, reports Storage's problem; Graph's 403 is completed with the app and the authority; a latest.json
 * that names a newer snapshot is left as is, with a warning. (Each step's own rules: the other unit tests;
 * the whole export through `npm run export`: test/integration/.)
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { newRunId } from '../../src/export.js';
import { runExportProcess } from '../../stand-ins/export-process.js';
import { download, startWorld, workingEnv, type World } from '../helpers/environment.js';
import type { RunExportResult } from '../fixtures/run-export.js';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'run-export.js');

let world: World;
before(async () => {
  world = await startWorld({ userCount: 2100 });
});
after(async () => world?.close());

async function runExport(env: Record<string, string | undefined>): Promise<RunExportResult> {
  const child = await runExportProcess(env, { script: FIXTURE, timeoutMs: 120_000 });
  assert.equal(child.code, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as RunExportResult;
}

/** Every blob of a container, committed or only staged (uncommitted blocks). */
async function everyBlob(containerName: string): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of world.container(containerName).listBlobsFlat({ includeUncommitedBlobs: true })) names.push(blob.name);
  return names.sort();
}

test('run ids: the UTC start time, then random hex, unique', () => {
  const started = new Date('2026-03-04T05:06:07.890Z');
  const runId = newRunId(started);
  assert.match(runId, /^20260304T050607Z-[0-9a-f]{8}$/);
  assert.notEqual(newRunId(started), runId, 'run IDs are unique');
});

test('a run returns the manifest it published: stored beside the users, named by latest.json, logged from start to end', async () => {
  const env = workingEnv(world, 'secret');
  const { manifest, error, logs } = await runExport(env);
  assert.equal(error, undefined, JSON.stringify(error));
  assert.ok(manifest);
  const container = world.container(env['EXPORT_CONTAINER']!);
  const manifestName = manifest.blobName.replace(/users\.json$/, 'manifest.json');
  assert.deepEqual(JSON.parse((await download(container, manifestName)).toString()), manifest);
  assert.deepEqual(JSON.parse((await download(container, 'latest.json')).toString()), manifest);
  assert.match(manifest.runId, /^\d{8}T\d{6}Z-[0-9a-f]{8}$/, 'sortable: the UTC start time, then random hex');
  assert.equal(manifest.runId.slice(0, 15), manifest.startedAt.replace(/[-:]/g, '').slice(0, 15), 'the run id starts with the start time');
  assert.deepEqual({ users: manifest.userCount, pages: manifest.pages, retries: manifest.retries }, { users: 2100, pages: 3, retries: 0 });
  assert.match(
    logs[0]?.message ?? '',
    new RegExp(`^Export ${manifest.runId} started: tenant ${env['GRAPH_TENANT_ID']}, app ${env['GRAPH_CLIENT_ID']}`),
  );
  assert.match(logs.at(-1)?.message ?? '', new RegExp(`^Export completed: run ${manifest.runId}, 2100 users in 3 pages`));
});

test('progress is logged at the interval asked for while the listing runs', async () => {
  world.sim.setPageLatency(500);
  try {
    const { manifest, logs } = await runExport({ ...workingEnv(world, 'secret'), TEST_PROGRESS_INTERVAL_MS: '100' });
    assert.ok(manifest);
    const progress = logs.filter((l) => l.message.startsWith('Progress: '));
    assert.ok(progress.length >= 2, `three pages of 500 ms, progress every 100 ms: ${progress.length} lines`);
    assert.match(progress[0]?.message ?? '', /^Progress: \d+ users, \d+ pages, \d+ users\/s, 0 retries, [\d.]+ MiB stored, \d+ s\.$/);
  } finally {
    world.sim.setPageLatency(0);
  }
});

test('a credential Key Vault does not have stops the run before anything is staged; the container is made meanwhile', async () => {
  const env = workingEnv(world, 'certificate-pfx', { GRAPH_CLIENT_CERTIFICATE_NAME: 'no-such-certificate' });
  const { manifest, error } = await runExport(env);
  assert.equal(manifest, undefined);
  assert.equal(error?.code, 'KeyVaultNotFound');
  assert.equal(error?.exitCode, 2);
  assert.ok(await world.container(env['EXPORT_CONTAINER']!).exists(), 'the container was created alongside');
  assert.deepEqual(await everyBlob(env['EXPORT_CONTAINER']!), [], 'no block staged, no blob committed');
});

test("when Storage and the credential both fail, Storage's problem is the one reported", async () => {
  const wrongKey = world.azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.alloc(64, 7).toString('base64')}`);
  const env = workingEnv(world, 'certificate-pfx', { EXPORT_STORAGE: wrongKey, GRAPH_CLIENT_CERTIFICATE_NAME: 'no-such-certificate' });
  const { error } = await runExport(env);
  assert.equal(error?.code, 'StorageForbidden', JSON.stringify(error));
});

test("Graph's 403 names the app and how to consent to it in its own tenant and cloud", async () => {
  const app = world.sim.addApp({ displayName: 'no-permission', roles: [] });
  const name = 'no-permission-secret';
  world.sim.setSecret(name, world.sim.addClientSecret(app.clientId), { contentType: 'text/plain' });
  const env = workingEnv(world, 'secret', { GRAPH_CLIENT_ID: app.clientId, GRAPH_CLIENT_SECRET_NAME: name });
  const { error } = await runExport(env);
  assert.equal(error?.code, 'GraphForbidden', JSON.stringify(error));
  assert.equal(error?.exitCode, 2);
  assert.ok(error?.message.includes(app.clientId), error?.message);
  assert.ok(error?.message.includes(world.sim.authorityHost), `the admin-consent link is on GRAPH_AUTHORITY_HOST: ${error?.message}`);
  assert.deepEqual(await everyBlob(env['EXPORT_CONTAINER']!), [], 'nothing left behind');
});

test('a latest.json that names a newer snapshot is left as is, with a warning; the snapshot itself is published', async () => {
  const env = workingEnv(world, 'secret');
  const container = world.container(env['EXPORT_CONTAINER']!);
  await container.createIfNotExists();
  const newer = JSON.stringify({ runId: '29990101T000000Z-00000000', completedAt: '2999-01-01T00:00:00.000Z' });
  await container.getBlockBlobClient('latest.json').upload(newer, Buffer.byteLength(newer));
  const { manifest, logs } = await runExport(env);
  assert.ok(manifest);
  assert.equal((await download(container, 'latest.json')).toString(), newer);
  assert.ok((await download(container, manifest.blobName)).length > 0);
  assert.ok(
    logs.some((l) => l.level === 'warn' && /latest\.json already names a newer snapshot/.test(l.message)),
    JSON.stringify(logs),
  );
});
