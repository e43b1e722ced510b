/**
 * Comparing two stored snapshots by runId (src/compare-snapshots.ts) against Azurite: where a run's manifest is,
 * finding it (or saying why not), and the report between two snapshots of other formats, either way round.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import { compareSnapshots, findSnapshot, manifestBlobOf, openSnapshots } from '../../src/compare-snapshots.js';
import { readStorageSettings } from '../../src/settings.js';
import { SnapshotBlobWriter } from '../../src/storage.js';
import type { SnapshotManifest } from '../../src/stored-snapshot.js';
import { newContainerName } from '../helpers/environment.js';

let azurite: Azurite;
let container: ContainerClient;
before(async () => {
  azurite = await startAzurite();
  container = openSnapshots(
    readStorageSettings({ EXPORT_STORAGE: azurite.connectionString, EXPORT_CONTAINER: newContainerName('compare') }),
  );
  await container.create();
});
after(async () => azurite?.stop());

const TENANT = 'c2a8a6a9-0000-4000-8000-000000000001';
let runs = 0;

/** Stores users and a manifest at the run's place, as a run of the export does (without users.index). */
async function store(
  lines: readonly string[],
  options: { format?: 'json' | 'ndjson'; compression?: 'none' | 'gzip'; tenantId?: string; select?: string } = {},
): Promise<SnapshotManifest> {
  const { format = 'json', compression = 'none', tenantId = TENANT, select = 'id,displayName,mail' } = options;
  runs += 1;
  const runId = `20260203T0405${String(runs).padStart(2, '0')}Z-${randomUUID().slice(0, 8)}`;
  const folder = `snapshots/2026/02/03/${runId}`;
  const blobName = `${folder}/users.${format}${compression === 'gzip' ? '.gz' : ''}`;
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(blobName), { compression, contentType: 'application/json' });
  await writer.write(format === 'json' ? `[${lines.map((l) => `\n${l}`).join(',')}\n]\n` : lines.map((l) => `${l}\n`).join(''));
  const { bytes, sha256 } = await writer.commit({ runid: runId });
  const manifest = { runId, tenantId, blobName, format, compression, bytes, sha256, userCount: lines.length, select };
  const text = JSON.stringify(manifest);
  await container.getBlockBlobClient(`${folder}/manifest.json`).upload(text, Buffer.byteLength(text));
  return { ...manifest, select: select.split(',') };
}

async function report(
  older: SnapshotManifest,
  newer: SnapshotManifest,
): Promise<{ text: string; counts: Awaited<ReturnType<typeof compareSnapshots>> }> {
  const chunks: Buffer[] = [];
  const counts = await compareSnapshots(
    container,
    older,
    newer,
    async (lines) => void chunks.push(lines),
    () => undefined,
  );
  return { text: Buffer.concat(chunks).toString('utf8'), counts };
}

test('manifestBlobOf: the manifest of a runId is under the date of the runId', () => {
  assert.equal(manifestBlobOf('20261202T020000Z-1a2b3c4d'), 'snapshots/2026/12/02/20261202T020000Z-1a2b3c4d/manifest.json');
  for (const notRunId of ['yesterday', '20261202T020000Z', '20261202-1a2b', '20261202T020000Z-XYZ', '../20261202T020000Z-1a']) {
    assert.equal(manifestBlobOf(notRunId), undefined, notRunId);
  }
});

test('findSnapshot reads the manifest of a runId, or says which runId and why not', async () => {
  const stored = await store(['{"id":"a"}']);
  assert.deepEqual(await findSnapshot(container, stored.runId, 'older'), stored);

  await assert.rejects(findSnapshot(container, 'yesterday', 'newer'), {
    code: 'InvalidArguments',
    message: /^The newer runId 'yesterday' is not a runId/,
  });
  const missing = '20250101T000000Z-deadbeef';
  await assert.rejects(findSnapshot(container, missing, 'newer'), {
    code: 'SnapshotNotFound',
    message:
      `No snapshot with the newer runId '${missing}': snapshots/2025/01/01/${missing}/manifest.json does not exist in container ` +
      `'${container.containerName}' (${container.url}). Check the runId and EXPORT_CONTAINER / EXPORT_STORAGE.`,
  });
  const noId = await store(['{"displayName":"a"}'], { select: 'displayName' });
  await assert.rejects(findSnapshot(container, noId.runId, 'older'), {
    code: 'InvalidArguments',
    message: new RegExp(`The older snapshot ${noId.runId} was exported without id`),
  });

  // A manifest at the place of one run that names another: not trusted.
  const other = await store(['{"id":"a"}']);
  const elsewhere = `${other.runId.slice(0, -8)}00000000`;
  const moved = container.getBlockBlobClient(manifestBlobOf(elsewhere)!);
  const text = JSON.stringify({ ...other, select: 'id' });
  await moved.upload(text, Buffer.byteLength(text));
  await assert.rejects(findSnapshot(container, elsewhere, 'older'), {
    code: 'SnapshotUnreadable',
    message: new RegExp(`names another run \\(${other.runId}\\)`),
  });
  await moved.upload('not json', 8);
  await assert.rejects(findSnapshot(container, elsewhere, 'older'), { code: 'SnapshotUnreadable', message: /is not JSON/ });
});

test('compareSnapshots: the report between snapshots of other formats, sorted by id, either way round', async () => {
  const older = await store([
    '{"id":"b","displayName":"Leaver"}',
    '{"id":"a","displayName":"Ann","mail":null}',
    '{"id":"c","displayName":"Same","mail":"c@x"}',
  ]);
  const newer = await store(
    ['{"id":"c","displayName":"Same","mail":"c@x"}', '{"id":"a","displayName":"Ann B","mail":"a@x"}', '{"id":"d","displayName":"Joiner"}'],
    {
      format: 'ndjson',
      compression: 'gzip',
    },
  );
  const forward = await report(older, newer);
  assert.deepEqual(forward.counts, { added: 1, removed: 1, changed: 1, compared: ['id', 'displayName', 'mail'] });
  assert.equal(
    forward.text,
    [
      '{"change":"changed","id":"a","changes":{"displayName":{"old":"Ann","new":"Ann B"},"mail":{"old":null,"new":"a@x"}}}',
      '{"change":"removed","id":"b","user":{"id":"b","displayName":"Leaver"}}',
      '{"change":"added","id":"d","user":{"id":"d","displayName":"Joiner"}}',
      '',
    ].join('\n'),
  );
  const backward = await report(newer, older);
  assert.deepEqual(backward.counts, { added: 1, removed: 1, changed: 1, compared: ['id', 'displayName', 'mail'] });
  assert.match(backward.text, /^\{"change":"changed","id":"a","changes":\{"displayName":\{"old":"Ann B","new":"Ann"\}/);
  assert.deepEqual((await report(older, older)).counts, { added: 0, removed: 0, changed: 0, compared: ['id', 'displayName', 'mail'] });
});

test('compareSnapshots refuses snapshots of two tenants, and says which snapshot cannot be read', async () => {
  const older = await store(['{"id":"a"}']);
  const otherTenant = await store(['{"id":"a"}'], { tenantId: 'another-tenant' });
  await assert.rejects(report(older, otherTenant), { code: 'InvalidArguments', message: /are of different tenants/ });
  const cut = await store(['{"id":"a"}', '{"id":"b"}']);
  await assert.rejects(report(older, { ...cut, bytes: cut.bytes - 1 }), {
    code: 'SnapshotUnreadable',
    message: new RegExp(`^The ${older.runId} or ${cut.runId} snapshot cannot be read: .*is not the one its manifest describes`),
  });
});
