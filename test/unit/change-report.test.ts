/**
 * The change report's parts on small fixtures: reading a stored user (id, members, JSON value equality), the
 * snapshot index (GUID and text ids, sorting, lookups, its file and what a damaged one looks like), the sorted
 * spill (runs on disk merged back in id order, files removed), and the report's lines from two sides.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';
import { comparedProperties, countDifferences, writeReportLines } from '../../src/change-report.js';
import { DuplicateIdError, IndexBuilder, IndexFormatError, SnapshotIndex, userHasher } from '../../src/snapshot-index.js';
import { SortedSpill } from '../../src/sorted-spill.js';
import { canonical, jsonValuesEqual, membersOf, userIdBytes, UserJsonError } from '../../src/user-json.js';

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));
const idOf = (json: string): string | undefined => {
  const b = Buffer.from(json);
  return text(userIdBytes(b, 0, b.length));
};

test('userIdBytes finds the id member, decoding escapes, and nothing else', () => {
  assert.equal(idOf('{"displayName":"x","id":"abc"}'), 'abc');
  assert.equal(idOf('{"a":{"id":"inner"},"id":"outer"}'), 'outer');
  assert.equal(idOf('{"a":["id","x"],"b":"\\"id\\":","id":"\\u0041\\"b"}'), 'A"b');
  assert.equal(idOf('{"\\u0069d":"escaped-name"}'), 'escaped-name');
  assert.equal(idOf('{"ID":"x"}'), undefined, 'JSON names are case-sensitive: Graph sends id');
  assert.equal(idOf('{"id":12}'), undefined);
  assert.equal(idOf('{}'), undefined);
  assert.equal(idOf(' { "id" : "spaced" } '), 'spaced');
  // What ends like a last `id` member but is not one (read backwards by the fast path).
  assert.equal(idOf('{"x":"a,\\"id\\":\\"b\\"}"}'), undefined);
  assert.equal(idOf('{"a":{"b":1,"id":"x"}}'), undefined);
  assert.equal(idOf('{"a":[{"id":"x"}]}'), undefined);
  assert.equal(idOf('{"id":"first","x":"y,\\"id\\":\\"z"}'), 'first');
  assert.equal(idOf('{"xid":"a"}'), undefined);
  assert.equal(idOf('{"id":""}'), '');
  for (const bad of ['', '[]', '{"id":"x"', '{"id":"x}', '{"id" "x"}', '{"id":"x"} {', '{"a":[1,2}', 'nul']) {
    assert.throws(() => idOf(bad), UserJsonError, bad);
  }
});

test('membersOf gives each member by lower-case name with its raw value', () => {
  const json = Buffer.from('{"id":"1","displayName":"A \\"B\\"","businessPhones":["+1 2", "3"],"manager":{"x":[{}]},"accountEnabled":true,"n":-1.5e3,"z":null}');
  const members = membersOf(json, 0, json.length);
  const raw = (name: string): string => json.toString('utf8', members.get(name)!.start, members.get(name)!.end);
  assert.deepEqual([...members.keys()], ['id', 'displayname', 'businessphones', 'manager', 'accountenabled', 'n', 'z']);
  assert.equal(members.get('displayname')!.name, 'displayName');
  assert.equal(raw('displayname'), '"A \\"B\\""');
  assert.equal(raw('businessphones'), '["+1 2", "3"]');
  assert.equal(raw('manager'), '{"x":[{}]}');
  assert.equal(raw('accountenabled'), 'true');
  assert.equal(raw('n'), '-1.5e3');
  assert.equal(raw('z'), 'null');
});

test('jsonValuesEqual is JSON value equality, exact for numbers of any size', () => {
  const equal: [string, string][] = [
    ['"a"', '"\\u0061"'],
    ['"é"', '"\\u00e9"'],
    ['1', '1.0'],
    ['1', '10e-1'],
    ['100', '1e2'],
    ['0', '-0'],
    ['0.000', '0e5'],
    ['{"a":1,"b":[2,"x"]}', '{"b":[2.0,"\\u0078"],"a":1}'],
    ['[ 1 , 2 ]', '[1,2]'],
    ['123456789012345678901234567890', '1.23456789012345678901234567890e29'],
  ];
  for (const [a, b] of equal) assert.ok(jsonValuesEqual(a, b), `${a} = ${b}`);
  const different: [string, string][] = [
    ['"a"', '"A"'],
    ['1', '2'],
    ['null', '"null"'],
    ['null', 'false'],
    ['[]', '{}'],
    ['[1,2]', '[2,1]'],
    ['{"a":1}', '{"a":1,"b":null}'],
    ['123456789012345678901234567890', '123456789012345678901234567891'],
    ['1e400', '1e401'],
  ];
  for (const [a, b] of different) assert.ok(!jsonValuesEqual(a, b), `${a} ≠ ${b}`);
  assert.equal(canonical('{"b":1,"a":"x"}'), '{"a":"x","b":1e0}');
});

test('the index sorts GUID ids as their text sorts, finds each, and survives its file', async () => {
  const hash = await userHasher();
  const ids = Array.from({ length: 5000 }, () => randomUUID());
  const builder = new IndexBuilder();
  for (const id of ids) builder.push(Buffer.from(id), hash(Buffer.from(`{"id":"${id}"}`)));
  const { index, arrival } = builder.finish({ bytes: 10, sha256: 'ab' });
  assert.equal(index.header.idEncoding, 'guid');
  const sorted = [...ids].sort();
  assert.deepEqual(Array.from({ length: index.count }, (_, i) => index.id(i)), sorted);
  for (let i = 0; i < index.count; i += 1) assert.equal(ids[arrival[i]!], sorted[i]);
  const file = Buffer.concat(index.serialize());
  assert.ok(file.length < 5000 * 24 + 1024, `about 24 bytes per user (${file.length})`);
  const back = SnapshotIndex.parse(file);
  assert.deepEqual(back.header, index.header);
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
  const { index } = builder.finish({ bytes: 0, sha256: '' });
  assert.equal(index.header.idEncoding, 'utf8');
  const byCodePoint = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(Array.from({ length: index.count }, (_, i) => index.id(i)), byCodePoint);
  const back = SnapshotIndex.parse(Buffer.concat(index.serialize()));
  for (const id of ids) assert.equal(back.id(back.find(Buffer.from(id))), id);
  // A GUID index and a text index compare by the same order.
  const guids = new IndexBuilder();
  for (const id of ids.filter((x) => /^[0-9a-f-]{36}$/.test(x))) guids.push(Buffer.from(id), 0n);
  const g = guids.finish({ bytes: 0, sha256: '' }).index;
  for (let i = 0; i < g.count; i += 1) assert.equal(g.compare(i, back, back.find(Buffer.from(g.id(i)))), 0);
});

test('two users with one id make no index', () => {
  const builder = new IndexBuilder();
  const id = randomUUID();
  builder.push(Buffer.from(id), 1n);
  builder.push(Buffer.from(randomUUID()), 2n);
  builder.push(Buffer.from(id), 3n);
  assert.throws(() => builder.finish({ bytes: 0, sha256: '' }), (e: unknown) => e instanceof DuplicateIdError && e.id === id);
});

test('a damaged, cut or foreign index file is refused', () => {
  const builder = new IndexBuilder();
  for (let i = 0; i < 100; i += 1) builder.push(Buffer.from(randomUUID()), BigInt(i));
  const file = Buffer.concat(builder.finish({ bytes: 1, sha256: 'x' }).index.serialize());
  const flipped = Buffer.from(file);
  flipped[200]! ^= 1;
  for (const bad of [flipped, file.subarray(0, file.length - 1), file.subarray(0, 40), Buffer.from('{"format":"other"}\n'), Buffer.alloc(0)]) {
    assert.throws(() => SnapshotIndex.parse(bad), IndexFormatError);
  }
});

test('countDifferences counts the users of one side not on the other or with other bytes', () => {
  const a = new IndexBuilder();
  const b = new IndexBuilder();
  const ids = Array.from({ length: 10 }, () => randomUUID());
  ids.forEach((id, k) => a.push(Buffer.from(id), BigInt(k)));
  // b: drops ids 0-1, changes 2, keeps 3-9, adds 3 more.
  ids.slice(2).forEach((id, k) => b.push(Buffer.from(id), k === 0 ? 99n : BigInt(k + 2)));
  for (let k = 0; k < 3; k += 1) b.push(Buffer.from(randomUUID()), 0n);
  const older = a.finish({ bytes: 0, sha256: '' }).index;
  const newer = b.finish({ bytes: 0, sha256: '' }).index;
  assert.equal(countDifferences(older, newer), 3);
  assert.equal(countDifferences(newer, older), 4);
});

test('the spill gives its records back sorted by id, from runs on disk and memory, and removes its files', () => {
  const before = readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length;
  const spill = new SortedSpill({ runBytes: 64 * 1024 });
  const records = new Map<string, string>();
  for (let i = 0; i < 3000; i += 1) {
    const id = i % 7 === 0 ? `text-${i}` : randomUUID();
    const user = JSON.stringify({ id, n: i, pad: 'x'.repeat(i % 300) });
    records.set(id, user);
    spill.add(Buffer.from(id), Buffer.from(user));
  }
  assert.ok(spill.diskBytes > 0, 'some runs were written');
  assert.equal(readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length, before + 1);
  const back: [string, string][] = [];
  for (let r = spill.take(); r !== undefined; r = spill.take()) back.push([r.id.toString('utf8'), r.bytes.toString('utf8')]);
  assert.deepEqual(back, [...records].sort(([x], [y]) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  spill.close();
  assert.equal(readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length, before);
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
  const counts = await writeReportLines(older, newer, ['id', 'department', 'mobilePhone', 'jobTitle', 'displayName', 'n', 's'], async (lines) => {
    chunks.push(lines);
  });
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
  assert.deepEqual(comparedProperties(['id', 'displayName', 'mail'], ['ID', 'mail', 'department', 'displayname']), ['ID', 'mail', 'displayname']);
  assert.deepEqual(comparedProperties(['id', 'a'], ['id', 'a']), ['id', 'a']);
});
