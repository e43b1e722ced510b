/**
 * A stored snapshot read back (src/stored-snapshot.ts) from Azurite: its manifest checked, its users file
 * streamed user by user in both formats (gzip too) and checked against the manifest, its index loaded from
 * `users.index` or built from the users file.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import { IndexBuilder, userHasher } from '../../src/snapshot-index.js';
import { openContainer, SnapshotBlobWriter } from '../../src/storage.js';
import {
  buildSnapshotIndex,
  forEachStoredUser,
  indexBlobName,
  loadSnapshotIndex,
  parseManifest,
  selectsId,
  snapshotFolder,
  SnapshotUnreadable,
  type SnapshotManifest,
} from '../../src/stored-snapshot.js';
import { createTransport } from '../../src/transport.js';
import { newContainerName } from '../helpers/environment.js';

let azurite: Azurite;
let container: ContainerClient;
before(async () => {
  azurite = await startAzurite();
  container = openContainer(
    { kind: 'connectionString', connectionString: azurite.connectionString },
    newContainerName('stored'),
    undefined as never,
    createTransport().storage,
  );
  await container.create();
});
after(async () => azurite?.stop());

const users = Array.from({ length: 50 }, (_, k) =>
  JSON.stringify({ id: randomUUID(), displayName: `User ${k}`, mail: k % 3 === 0 ? null : `u${k}@x.test` }),
);

/** Stores `lines` as the export stores a users file, and returns its manifest's fields. */
async function store(lines: readonly string[], format: 'json' | 'ndjson', compression: 'none' | 'gzip'): Promise<SnapshotManifest> {
  const runId = `20260102T030405Z-${randomUUID().slice(0, 8)}`;
  const blobName = `snapshots/2026/01/02/${runId}/users.${format}${compression === 'gzip' ? '.gz' : ''}`;
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(blobName), { compression, contentType: 'application/json' });
  await writer.write(format === 'json' ? `[${lines.map((l) => `\n${l}`).join(',')}\n]\n` : lines.map((l) => `${l}\n`).join(''));
  const { bytes, sha256 } = await writer.commit({ runid: runId });
  return {
    runId,
    tenantId: 'tenant',
    blobName,
    format,
    compression,
    bytes,
    sha256,
    userCount: lines.length,
    select: ['id', 'displayName', 'mail'],
  };
}

async function read(manifest: SnapshotManifest): Promise<string[]> {
  const back: string[] = [];
  await forEachStoredUser(container, manifest, (bytes, start, end) => back.push(bytes.toString('utf8', start, end)));
  return back;
}

test('parseManifest keeps the fields the report needs, and says what a manifest lacks', () => {
  const manifest = {
    runId: 'r',
    tenantId: 't',
    blobName: 'a/b/users.json',
    format: 'ndjson',
    compression: 'gzip',
    bytes: 10,
    sha256: 'ab',
    userCount: 2,
  };
  assert.deepEqual(parseManifest(JSON.stringify({ ...manifest, select: 'id, displayName,,mail', other: 1 }), 'm.json'), {
    ...manifest,
    select: ['id', 'displayName', 'mail'],
  });
  const refused: [string, RegExp][] = [
    ['{', /^m\.json is not JSON$/],
    ['null', /^m\.json is not a JSON object$/],
    [JSON.stringify({ ...manifest, select: 'id', runId: '' }), /has no 'runId'/],
    [JSON.stringify({ ...manifest, select: 'id', bytes: -1 }), /has no 'bytes'/],
    [JSON.stringify({ ...manifest, select: 'id', userCount: 1.5 }), /has no 'userCount'/],
    [JSON.stringify({ ...manifest, select: 'id', format: 'csv' }), /unknown format 'csv'/],
    [JSON.stringify({ ...manifest, select: 'id', compression: 'zip' }), /unknown compression 'zip'/],
    [JSON.stringify(manifest), /has no 'select'/],
  ];
  for (const [text, why] of refused)
    assert.throws(
      () => parseManifest(text, 'm.json'),
      (e: unknown) => e instanceof SnapshotUnreadable && why.test(e.message),
      text,
    );
});

test('a snapshot folder, its users.index, and whether a select names id', () => {
  assert.equal(snapshotFolder('snapshots/2026/01/02/run/users.ndjson.gz'), 'snapshots/2026/01/02/run');
  assert.equal(indexBlobName('snapshots/2026/01/02/run/users.json'), 'snapshots/2026/01/02/run/users.index');
  assert.equal(selectsId(['displayName', 'ID']), true);
  assert.equal(selectsId(['displayName', 'userId']), false);
});

test('forEachStoredUser gives each stored user, in order, from json, ndjson and gzip files', async () => {
  for (const [format, compression] of [
    ['json', 'none'],
    ['ndjson', 'none'],
    ['json', 'gzip'],
    ['ndjson', 'gzip'],
  ] as const) {
    assert.deepEqual(await read(await store(users, format, compression)), users, `${format} ${compression}`);
  }
  assert.deepEqual(await read(await store([], 'json', 'none')), []);
});

test('a users file gone, cut short, replaced or with another count is unreadable, saying why', async () => {
  const manifest = await store(users, 'ndjson', 'gzip');
  const unreadable =
    (why: RegExp) =>
    (e: unknown): boolean =>
      e instanceof SnapshotUnreadable && why.test(e.message);
  await assert.rejects(read({ ...manifest, bytes: manifest.bytes + 1 }), unreadable(/is not the one its manifest describes/));
  await assert.rejects(read({ ...manifest, sha256: '0'.repeat(64) }), unreadable(/is not the one its manifest describes/));
  await assert.rejects(
    read({ ...manifest, userCount: users.length + 1 }),
    unreadable(new RegExp(`holds ${users.length} users, its manifest says ${users.length + 1}`)),
  );
  await assert.rejects(read({ ...manifest, blobName: `${manifest.blobName}.gone` }), unreadable(/does not exist \(deleted\?\)/));
  const notUsers = await store(['[1,2]', 'not a user'], 'ndjson', 'none');
  await assert.rejects(read(notUsers), unreadable(/is damaged \(line 1 is not a user\)/));
});

test('loadSnapshotIndex builds the index from the users file, or uses an intact users.index of that file', async () => {
  const manifest = await store(users, 'json', 'none');
  const hash = await userHasher();
  const ids = users.map((u) => (JSON.parse(u) as { id: string }).id);
  const logs: string[] = [];
  const built = await loadSnapshotIndex(container, manifest, (m) => logs.push(m));
  assert.equal(logs.length, 0, 'no users.index: built without a word');
  assert.deepEqual(
    Array.from({ length: built.count }, (_, i) => built.id(i)),
    [...ids].sort(),
  );
  for (const [k, id] of ids.entries()) assert.equal(built.hashes[built.find(Buffer.from(id))], hash(Buffer.from(users[k]!)));

  // A users.index of this file (same size, SHA-256, count) is taken as it is: here one of other ids, to see it used.
  const other = new IndexBuilder();
  const otherIds = users.map(() => randomUUID());
  for (const id of otherIds) other.push(Buffer.from(id), 1n);
  const file = Buffer.concat(other.finish({ bytes: manifest.bytes, sha256: manifest.sha256 }).serialize());
  await container.getBlockBlobClient(indexBlobName(manifest.blobName)).upload(file, file.length);
  const stored = await loadSnapshotIndex(container, manifest, (m) => logs.push(m));
  assert.deepEqual(
    Array.from({ length: stored.count }, (_, i) => stored.id(i)),
    [...otherIds].sort(),
  );
  assert.equal(logs.length, 0, 'an intact users.index: used without a word');

  // Damaged: rebuilt, and said so.
  const damaged = Buffer.from(file);
  damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 1;
  await container.getBlockBlobClient(indexBlobName(manifest.blobName)).upload(damaged, damaged.length);
  const rebuilt = await loadSnapshotIndex(container, manifest, (m) => logs.push(m));
  assert.deepEqual(
    Array.from({ length: rebuilt.count }, (_, i) => rebuilt.id(i)),
    [...ids].sort(),
  );
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /users\.index cannot be used \(.*\); the index is rebuilt from the users file\./);

  // Intact but of the earlier version (1: no places in the users file): rebuilt, and said so.
  const older = new IndexBuilder();
  for (const id of otherIds) older.push(Buffer.from(id), 1n);
  const parts = older.finish({ bytes: manifest.bytes, sha256: manifest.sha256 }).serialize();
  const header = Buffer.from(parts[0]!.toString('utf8').replace('"version":2', '"version":1'), 'utf8');
  const v1 = Buffer.concat([header, parts[1]!, parts[2]!]);
  const v1File = Buffer.concat([v1, createHash('sha256').update(v1).digest()]);
  await container.getBlockBlobClient(indexBlobName(manifest.blobName)).upload(v1File, v1File.length);
  const fromV1 = await loadSnapshotIndex(container, manifest, (m) => logs.push(m));
  assert.deepEqual(
    Array.from({ length: fromV1.count }, (_, i) => fromV1.id(i)),
    [...ids].sort(),
  );
  assert.deepEqual(
    [...fromV1.places].map((place) => ids[place]),
    [...ids].sort(),
    "the rebuilt index has each user's place",
  );
  assert.equal(logs.length, 2);
  assert.match(logs[1]!, /users\.index cannot be used \(it is not a entra-users-export\/users-index version 2 with xxh64 hashes\)/);
});

test('buildSnapshotIndex refuses a users file with a user without id or two users with one id', async () => {
  const noId = await store([users[0]!, '{"displayName":"x"}'], 'ndjson', 'none');
  await assert.rejects(buildSnapshotIndex(container, noId), (e: unknown) => e instanceof SnapshotUnreadable && /has no id/.test(e.message));
  const twice = await store([users[0]!, users[1]!, users[0]!], 'ndjson', 'none');
  const id = (JSON.parse(users[0]!) as { id: string }).id;
  await assert.rejects(
    buildSnapshotIndex(container, twice),
    (e: unknown) => e instanceof SnapshotUnreadable && e.message.includes(`two users with the id '${id}'`),
  );
});
