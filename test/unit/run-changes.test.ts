/**
 * The change report of one run (src/run-changes.ts) against Azurite: the first run (skipped, an index written),
 * a report against the snapshot latest.json names, the reasons to skip one (no id, another tenant), a listing
 * restarted mid-run, and a run whose blobs cannot be written leaving none behind.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import type { PageElements } from '../../src/graph.js';
import { LATEST_BLOB } from '../../src/publish.js';
import { changesBlobName, RunChanges, type FinishedChanges } from '../../src/run-changes.js';
import { SnapshotIndex } from '../../src/snapshot-index.js';
import { openContainer, SnapshotBlobWriter } from '../../src/storage.js';
import { createTransport } from '../../src/transport.js';
import { blobNames, download, newContainerName } from '../helpers/environment.js';

let azurite: Azurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => azurite?.stop());

const TENANT = 'c2a8a6a9-0000-4000-8000-000000000002';
const SELECT = ['id', 'displayName', 'mail'];

async function newContainer(): Promise<ContainerClient> {
  const container = openContainer(
    { kind: 'connectionString', connectionString: azurite.connectionString },
    newContainerName('runch'),
    undefined as never,
    createTransport().storage,
  );
  await container.create();
  return container;
}

/** A page as the Graph listing hands it over: the users' bytes and each one's [start, end). */
function page(users: readonly string[]): { elements: PageElements; count: number } {
  const bytes = Buffer.from(users.join(','));
  const ranges = new Uint32Array(2 * users.length);
  let at = 0;
  users.forEach((user, i) => {
    ranges[2 * i] = at;
    ranges[2 * i + 1] = at + Buffer.byteLength(user);
    at += Buffer.byteLength(user) + 1;
  });
  return { elements: { bytes, ranges }, count: users.length };
}

let runs = 0;

interface Run {
  runId: string;
  folder: string;
  /** What finish() returned, its staged blobs by name (committed by the run, as the export does). */
  finished: { changes: FinishedChanges['changes']; blobs: string[] };
  warnings: string[];
}

/**
 * One run as the export makes it: the report started, the users handed over page by page and staged as ndjson,
 * the report finished (staged), the blobs committed, then the manifest and latest.json written.
 */
async function run(
  container: ContainerClient,
  pages: readonly string[][],
  options: { select?: string[]; tenantId?: string; compression?: 'none' | 'gzip' } = {},
): Promise<Run> {
  const { select = SELECT, tenantId = TENANT, compression = 'none' } = options;
  runs += 1;
  const runId = `20260304T0506${String(runs).padStart(2, '0')}Z-${randomUUID().slice(0, 8)}`;
  const folder = `snapshots/2026/03/04/${runId}`;
  const warnings: string[] = [];
  const changes = await RunChanges.start({ container, tenantId, select, compression, runId, warn: (m) => warnings.push(m) });
  const usersBlob = `${folder}/users.ndjson${compression === 'gzip' ? '.gz' : ''}`;
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(usersBlob), { compression, contentType: 'application/x-ndjson' });
  for (const users of pages) {
    const { elements, count } = page(users);
    changes.addPage(elements, count);
    await writer.write(users.map((u) => `${u}\n`).join(''));
  }
  const users = await writer.seal();
  const staged = await changes.finish(usersBlob, users);
  const visible = await blobNames(container);
  for (const blob of staged.blobs) assert.ok(!visible.includes(blob.blobName), `${blob.blobName} is staged, not visible`);
  await writer.commit({ runid: runId });
  for (const blob of staged.blobs) await blob.commit();
  const finished = { changes: staged.changes, blobs: staged.blobs.map((b) => b.blobName) };
  const manifest = JSON.stringify({
    runId,
    tenantId,
    blobName: usersBlob,
    format: 'ndjson',
    compression,
    ...users,
    userCount: pages.flat().length,
    select: select.join(','),
    changes: finished.changes,
  });
  await container.getBlockBlobClient(`${folder}/manifest.json`).upload(manifest, Buffer.byteLength(manifest));
  await container.getBlockBlobClient(LATEST_BLOB).upload(manifest, Buffer.byteLength(manifest));
  return { runId, folder, finished, warnings };
}

const first = [
  '{"id":"a","displayName":"Ann","mail":null}',
  '{"id":"b","displayName":"Leaver"}',
  '{"id":"c","displayName":"Same","mail":"c@x"}',
];
const second = [
  '{"id":"c","displayName":"Same","mail":"c@x"}',
  '{"id":"a","displayName":"Ann B","mail":"a@x"}',
  '{"id":"d","displayName":"Joiner"}',
];
const expected = [
  '{"change":"changed","id":"a","changes":{"displayName":{"old":"Ann","new":"Ann B"},"mail":{"old":null,"new":"a@x"}}}',
  '{"change":"removed","id":"b","user":{"id":"b","displayName":"Leaver"}}',
  '{"change":"added","id":"d","user":{"id":"d","displayName":"Joiner"}}',
  '',
].join('\n');

test('the first run: no report, skipped with the reason, and its users.index written', async () => {
  const container = await newContainer();
  const { finished, folder, warnings } = await run(container, [first.slice(0, 2), first.slice(2)]);
  assert.deepEqual(finished, {
    changes: { skipped: `there is no previous snapshot (no ${LATEST_BLOB}: the first run)` },
    blobs: [`${folder}/users.index`],
  });
  assert.deepEqual(warnings, [`The change report is skipped: there is no previous snapshot (no ${LATEST_BLOB}: the first run).`]);
  const index = SnapshotIndex.parse(await download(container, `${folder}/users.index`));
  assert.deepEqual(
    Array.from({ length: index.count }, (_, i) => index.id(i)),
    ['a', 'b', 'c'],
  );
});

test('the next run: the report against the snapshot latest.json names, gzipped as the run is, recorded for the manifest', async () => {
  const container = await newContainer();
  const previous = await run(container, [first]);
  const { finished, folder, warnings } = await run(container, [second.slice(0, 1), second.slice(1)], { compression: 'gzip' });
  assert.deepEqual(warnings, []);
  const blobName = changesBlobName(folder, 'gzip');
  assert.equal(blobName, `${folder}/changes.ndjson.gz`);
  const stored = await download(container, blobName);
  assert.equal(gunzipSync(stored).toString('utf8'), expected);
  assert.deepEqual(finished.blobs, [`${folder}/users.index`, blobName]);
  assert.deepEqual(finished.changes, {
    previousRunId: previous.runId,
    added: 1,
    removed: 1,
    changed: 1,
    blobName,
    bytes: stored.length,
    sha256: createHash('sha256').update(stored).digest('hex'),
    compared: SELECT,
  });
});

test('no id selected, or a previous snapshot of another tenant: skipped, saying why', async () => {
  const container = await newContainer();
  await run(container, [first]);
  const noId = await run(container, [['{"displayName":"x"}']], { select: ['displayName'] });
  assert.deepEqual(noId.finished, {
    changes: { skipped: 'USERS_SELECT does not include id, so users cannot be matched between snapshots' },
    blobs: [],
  });
  const next = await run(container, [second]);
  assert.match(
    String((next.finished.changes as { skipped: string }).skipped),
    new RegExp(`the previous snapshot ${noId.runId} does not include id`),
  );
  const otherTenant = await run(container, [second], { tenantId: 'another-tenant' });
  assert.match(String((otherTenant.finished.changes as { skipped: string }).skipped), /is of another tenant/);
  assert.deepEqual(otherTenant.finished.blobs, [`${otherTenant.folder}/users.index`]);
});

test('a listing restarted mid-run: only the users after the restart count', async () => {
  const container = await newContainer();
  const previous = await run(container, [first]);
  const runId = `20260304T050700Z-${randomUUID().slice(0, 8)}`;
  const changes = await RunChanges.start({
    container,
    tenantId: TENANT,
    select: SELECT,
    compression: 'none',
    runId,
    warn: () => undefined,
  });
  assert.equal(changes.previousRunId, previous.runId);
  const stale = page(['{"id":"z","displayName":"Gone again"}', '{"id":"a","displayName":"Other"}']);
  changes.addPage(stale.elements, stale.count);
  changes.restart();
  const fresh = page(second);
  changes.addPage(fresh.elements, fresh.count);
  const usersBlob = `snapshots/2026/03/04/${runId}/users.ndjson`;
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(usersBlob), {
    compression: 'none',
    contentType: 'application/x-ndjson',
  });
  await writer.write(second.map((u) => `${u}\n`).join(''));
  const finished = await changes.finish(usersBlob, await writer.commit({ runid: runId }));
  for (const blob of finished.blobs) await blob.commit();
  assert.equal((await download(container, changesBlobName(`snapshots/2026/03/04/${runId}`, 'none'))).toString('utf8'), expected);
  assert.deepEqual([(finished.changes as { added: number }).added, (finished.changes as { removed: number }).removed], [1, 1]);
});

test('the staged report is committed only over nothing: another blob in its place refuses it', async () => {
  const container = await newContainer();
  await run(container, [first]);
  const runId = `20260304T050800Z-${randomUUID().slice(0, 8)}`;
  const folder = `snapshots/2026/03/04/${runId}`;
  const changes = await RunChanges.start({
    container,
    tenantId: TENANT,
    select: SELECT,
    compression: 'none',
    runId,
    warn: () => undefined,
  });
  const { elements, count } = page(second);
  changes.addPage(elements, count);
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(`${folder}/users.ndjson`), {
    compression: 'none',
    contentType: 'application/x-ndjson',
  });
  await writer.write(second.map((u) => `${u}\n`).join(''));
  const finished = await changes.finish(`${folder}/users.ndjson`, await writer.seal());
  assert.deepEqual(
    finished.blobs.map((b) => b.blobName),
    [`${folder}/users.index`, changesBlobName(folder, 'none')],
  );
  await container.getBlockBlobClient(changesBlobName(folder, 'none')).upload('x', 1);
  await finished.blobs[0]!.commit();
  await assert.rejects(finished.blobs[1]!.commit(), { name: 'ExportError', message: /changes\.ndjson .*HTTP 409 BlobAlreadyExists/ });
  assert.equal((await download(container, changesBlobName(folder, 'none'))).toString('utf8'), 'x', 'the other blob is left as it was');
});
