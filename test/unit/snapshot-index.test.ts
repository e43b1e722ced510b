/**
 * The snapshot index (src/snapshot-index.ts): GUID and text ids, sorting, lookups, its file and what a damaged
 * one looks like.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DuplicateIdError, IndexBuilder, IndexFormatError, SnapshotIndex, userHasher } from '../../src/snapshot-index.js';

test('the index sorts GUID ids as their text sorts, finds each, and survives its file', async () => {
  const hash = await userHasher();
  const ids = Array.from({ length: 5000 }, () => randomUUID());
  const builder = new IndexBuilder();
  for (const id of ids) builder.push(Buffer.from(id), hash(Buffer.from(`{"id":"${id}"}`)));
  const index = builder.finish({ bytes: 10, sha256: 'ab' });
  assert.equal(index.header.idEncoding, 'guid');
  const sorted = [...ids].sort();
  assert.deepEqual(
    Array.from({ length: index.count }, (_, i) => index.id(i)),
    sorted,
  );
  for (let i = 0; i < index.count; i += 1) assert.equal(ids[index.places[i]!], sorted[i], "each user's place in the users file");
  const file = Buffer.concat(index.serialize());
  assert.ok(file.length < 5000 * 28 + 1024, `about 28 bytes per user (${file.length})`);
  const back = SnapshotIndex.parse(file);
  assert.deepEqual(back.header, index.header);
  assert.deepEqual(back.places, index.places);
  for (const [k, id] of ids.entries()) {
    const at = back.find(Buffer.from(id));
    assert.equal(back.id(at), id);
    assert.equal(back.hashes[at], hash(Buffer.from(`{"id":"${ids[k]}"}`)));
  }
  assert.equal(back.find(Buffer.from(randomUUID())), -1);
  assert.equal(back.find(Buffer.from(ids[0]!.toUpperCase())), -1, 'ids are compared as given (Graph sends lower case)');
  assert.equal(back.find(Buffer.from('not-a-guid')), -1);
});

test('ids that are not all lower-case GUIDs are kept as text, sorted by code point', async () => {
  const hash = await userHasher();
  const ids = [randomUUID(), 'b', 'a', randomUUID().toUpperCase(), 'émile', 'z', '𝒜', '\uffff', randomUUID(), ''];
  const builder = new IndexBuilder();
  for (const id of ids) builder.push(Buffer.from(id), hash(Buffer.from(id)));
  const index = builder.finish({ bytes: 0, sha256: '' });
  assert.equal(index.header.idEncoding, 'utf8');
  const byCodePoint = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(
    Array.from({ length: index.count }, (_, i) => index.id(i)),
    byCodePoint,
  );
  const back = SnapshotIndex.parse(Buffer.concat(index.serialize()));
  for (const id of ids) assert.equal(back.id(back.find(Buffer.from(id))), id);
  // A GUID index and a text index compare by the same order.
  const guids = new IndexBuilder();
  for (const id of ids.filter((x) => /^[0-9a-f-]{36}$/.test(x))) guids.push(Buffer.from(id), 0n);
  const g = guids.finish({ bytes: 0, sha256: '' });
  for (let i = 0; i < g.count; i += 1) assert.equal(g.compare(i, back, back.find(Buffer.from(g.id(i)))), 0);
});

test('two users with one id make no index', () => {
  const builder = new IndexBuilder();
  const id = randomUUID();
  builder.push(Buffer.from(id), 1n);
  builder.push(Buffer.from(randomUUID()), 2n);
  builder.push(Buffer.from(id), 3n);
  assert.throws(
    () => builder.finish({ bytes: 0, sha256: '' }),
    (e: unknown) => e instanceof DuplicateIdError && e.id === id,
  );
});

test('a damaged, cut or foreign index file is refused', () => {
  const builder = new IndexBuilder();
  for (let i = 0; i < 100; i += 1) builder.push(Buffer.from(randomUUID()), BigInt(i));
  const file = Buffer.concat(builder.finish({ bytes: 1, sha256: 'x' }).serialize());
  const flipped = Buffer.from(file);
  flipped[200]! ^= 1;
  for (const bad of [
    flipped,
    file.subarray(0, file.length - 1),
    file.subarray(0, 40),
    Buffer.from('{"format":"other"}\n'),
    Buffer.alloc(0),
  ]) {
    assert.throws(() => SnapshotIndex.parse(bad), IndexFormatError);
  }
});

test('an index whose places in the users file are not one per user is refused, even with a matching checksum', () => {
  const builder = new IndexBuilder();
  for (let i = 0; i < 10; i += 1) builder.push(Buffer.from(randomUUID()), BigInt(i));
  const parts = builder.finish({ bytes: 1, sha256: 'x' }).serialize();
  // header, ids, hashes, places, checksum: two users said to be on the same line.
  const places = Buffer.from(parts[3]!);
  places.writeUInt32LE(places.readUInt32LE(4), 0);
  const body = Buffer.concat([...parts.slice(0, 3), places]);
  const file = Buffer.concat([body, createHash('sha256').update(body).digest()]);
  assert.throws(() => SnapshotIndex.parse(file), /places in the users file are not one per user/);
  const intact = Buffer.concat(parts.slice(0, 4));
  assert.equal(SnapshotIndex.parse(Buffer.concat([intact, createHash('sha256').update(intact).digest()])).count, 10);
});
