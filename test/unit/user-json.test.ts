/**
 * Reading a stored user (src/user-json.ts): its id, its members by name, JSON value equality.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
  const json = Buffer.from(
    '{"id":"1","displayName":"A \\"B\\"","businessPhones":["+1 2", "3"],"manager":{"x":[{}]},"accountEnabled":true,"n":-1.5e3,"z":null}',
  );
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
