/**
 * publishSnapshot (src/publish.ts) against Azurite: the users blob, the other staged blobs, manifest.json and
 * latest.json are published together or not at all, and latest.json never moves back to an older snapshot.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import { publishSnapshot, LATEST_BLOB } from '../../src/publish.js';
import { openContainer, SnapshotBlobWriter } from '../../src/storage.js';
import { createTransport } from '../../src/transport.js';
import { blobNames, newContainerName } from '../helpers/environment.js';

let azurite: Azurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => azurite?.stop());

async function newContainer(): Promise<ContainerClient> {
  const container = openContainer(
    { kind: 'connectionString', connectionString: azurite.connectionString },
    newContainerName('pub'),
    undefined as never,
    createTransport().storage,
  );
  await container.create();
  return container;
}

function snapshot(container: ContainerClient, runId: string, completedAt: string) {
  const usersBlob = `snapshots/${runId}/users.json`;
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(usersBlob), { compression: 'none', contentType: 'application/json' });
  return {
    users: {
      blobName: usersBlob,
      commit: async () => {
        await writer.write('[]\n');
        return writer.commit({ runid: runId });
      },
    },
    manifestBlob: `snapshots/${runId}/manifest.json`,
    manifest: (users: { bytes: number; sha256: string }) => ({ runId, completedAt, bytes: users.bytes, sha256: users.sha256 }),
  };
}

test('a published snapshot: users blob, manifest and latest.json naming it', async () => {
  const container = await newContainer();
  const { manifest, latestUpdated } = await publishSnapshot(container, snapshot(container, 'run-1', '2026-01-01T00:00:01.000Z'));
  assert.equal(latestUpdated, true);
  assert.equal(manifest.bytes, 3);
  assert.deepEqual(await blobNames(container), [LATEST_BLOB, 'snapshots/run-1/manifest.json', 'snapshots/run-1/users.json'].sort());
  const latest = JSON.parse((await container.getBlockBlobClient(LATEST_BLOB).downloadToBuffer()).toString('utf8')) as { runId: string };
  assert.equal(latest.runId, 'run-1');
});

test('an older snapshot is published but latest.json keeps naming the newer one', async () => {
  const container = await newContainer();
  await publishSnapshot(container, snapshot(container, 'run-new', '2026-01-01T00:00:02.000Z'));
  const { latestUpdated } = await publishSnapshot(container, snapshot(container, 'run-old', '2026-01-01T00:00:01.000Z'));
  assert.equal(latestUpdated, false);
  const latest = JSON.parse((await container.getBlockBlobClient(LATEST_BLOB).downloadToBuffer()).toString('utf8')) as { runId: string };
  assert.equal(latest.runId, 'run-new');
});

test('a manifest that cannot be written takes the committed users blob back: the failed run leaves nothing', async () => {
  const container = await newContainer();
  // Another manifest already in the way: the write (If-None-Match: *) fails and its content is not this run's.
  const s = snapshot(container, 'run-2', '2026-01-01T00:00:01.000Z');
  await container.getBlockBlobClient(s.manifestBlob).upload('{}', 2);
  await assert.rejects(publishSnapshot(container, s), { name: 'ExportError', code: 'StorageFailed' });
  assert.deepEqual(await blobNames(container), []);
});

test('the staged blobs are committed after the users blob, in order; one refused takes back what was committed', async () => {
  const container = await newContainer();
  const staged = (name: string): { blobName: string; commit: () => Promise<unknown>; writer: SnapshotBlobWriter } => {
    const writer = new SnapshotBlobWriter(container.getBlockBlobClient(name), { compression: 'none', contentType: 'text/plain' });
    return { blobName: name, writer, commit: () => writer.commit({ runid: 'run-3' }) };
  };
  const index = staged('snapshots/run-3/users.index');
  const report = staged('snapshots/run-3/changes.ndjson');
  await index.writer.write('index');
  await report.writer.write('report');
  await Promise.all([index.writer.seal(), report.writer.seal()]);
  assert.deepEqual(await blobNames(container), [], 'staged: nothing visible');
  // Another report already there: its commit (If-None-Match: *) is refused after the users blob and the index were committed.
  await container.getBlockBlobClient(report.blobName).upload('x', 1);
  const s = { ...snapshot(container, 'run-3', '2026-01-01T00:00:03.000Z'), others: [index, report] };
  await assert.rejects(publishSnapshot(container, s), { name: 'ExportError', message: /changes\.ndjson .*HTTP 409 BlobAlreadyExists/ });
  // The users blob and the index are taken back; so is the name of the refused commit (in this run's folder), as for
  // a manifest in the way: the failed run leaves nothing.
  assert.deepEqual(await blobNames(container), []);

  const ok = await newContainer();
  const okIndex = 'snapshots/run-4/users.index';
  const next = {
    ...snapshot(ok, 'run-4', '2026-01-01T00:00:04.000Z'),
    others: [{ blobName: okIndex, commit: () => ok.getBlockBlobClient(okIndex).upload('i', 1) }],
  };
  await publishSnapshot(ok, next);
  assert.deepEqual(
    await blobNames(ok),
    [LATEST_BLOB, 'snapshots/run-4/manifest.json', 'snapshots/run-4/users.index', 'snapshots/run-4/users.json'].sort(),
  );
});
