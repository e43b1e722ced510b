/**
 * The report's parts (src/change-report.ts) on small fixtures: finding the differences of two indexes, the
 * report's lines from two sides, the properties compared.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { comparedProperties, usersToKeep, writeReportLines } from '../../src/change-report.js';
import { IndexBuilder } from '../../src/snapshot-index.js';
import { SortedSpill } from '../../src/sorted-spill.js';
import { userIdBytes } from '../../src/user-json.js';

test('usersToKeep finds, by their place in the file, the users of one side not on the other or with other bytes, with their hashes', () => {
  const a = new IndexBuilder();
  const b = new IndexBuilder();
  const ids = Array.from({ length: 10 }, () => randomUUID());
  ids.forEach((id, k) => a.push(Buffer.from(id), BigInt(k)));
  // b: drops ids 0-1, changes 2, keeps 3-9, adds 3 more.
  ids.slice(2).forEach((id, k) => b.push(Buffer.from(id), k === 0 ? 99n : BigInt(k + 2)));
  for (let k = 0; k < 3; k += 1) b.push(Buffer.from(randomUUID()), 0n);
  const older = a.finish({ bytes: 0, sha256: '' });
  const newer = b.finish({ bytes: 0, sha256: '' });
  const placesOf = (keep: { differs: Uint8Array }): number[] =>
    [...keep.differs.entries()].filter(([, d]) => d === 1).map(([place]) => place);
  const fromOlder = usersToKeep(older, newer);
  assert.equal(fromOlder.count, 3);
  assert.deepEqual(placesOf(fromOlder), [0, 1, 2], 'the two leavers and the changed user, by the order they were added');
  assert.deepEqual([...fromOlder.hashes.subarray(0, 4)], [0n, 1n, 2n, 0n], 'their hashes at their places, 0 elsewhere');
  const fromNewer = usersToKeep(newer, older);
  assert.equal(fromNewer.count, 4);
  assert.deepEqual(placesOf(fromNewer), [0, 8, 9, 10], 'the changed user and the three joiners');
});

test('the report lines: added, removed, changed with raw old/new values, sorted by id, nothing for equal values', async () => {
  const older = new SortedSpill();
  const newer = new SortedSpill();
  const add = (spill: SortedSpill, user: string): void => {
    const b = Buffer.from(user);
    spill.add(userIdBytes(b, 0, b.length)!, b);
  };
  add(older, '{"id":"c","displayName":"Leaver"}');
  add(older, '{"id":"a","department":"Sales","mobilePhone":null,"jobTitle":"x","extra":1}');
  add(older, '{"id":"d","displayName":"Same","n":1.0,"s":"\\u0041"}');
  add(newer, '{"id":"b","displayName":"Joiner \\u00e9"}');
  add(newer, '{"id":"a","department":"Finance","mobilePhone":"+1 555","extra":2}');
  add(newer, '{"id":"d","displayName":"Same","n":1,"s":"A"}');
  const chunks: Buffer[] = [];
  const counts = await writeReportLines(
    older,
    newer,
    ['id', 'department', 'mobilePhone', 'jobTitle', 'displayName', 'n', 's'],
    async (lines) => {
      chunks.push(lines);
    },
  );
  assert.deepEqual(counts, { added: 1, removed: 1, changed: 1 });
  assert.equal(
    Buffer.concat(chunks).toString('utf8'),
    [
      '{"change":"changed","id":"a","changes":{"department":{"old":"Sales","new":"Finance"},"mobilePhone":{"old":null,"new":"+1 555"},"jobTitle":{"old":"x","new":null}}}',
      '{"change":"added","id":"b","user":{"id":"b","displayName":"Joiner \\u00e9"}}',
      '{"change":"removed","id":"c","user":{"id":"c","displayName":"Leaver"}}',
      '',
    ].join('\n'),
  );
});

test('compared properties: those in both selects, in the newer order, case-insensitively', () => {
  assert.deepEqual(comparedProperties(['id', 'displayName', 'mail'], ['ID', 'mail', 'department', 'displayname']), [
    'ID',
    'mail',
    'displayname',
  ]);
  assert.deepEqual(comparedProperties(['id', 'a'], ['id', 'a']), ['id', 'a']);
});
