import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_USER_SELECT,
  PRODUCT_DEFAULT_SELECT,
  USER_PROPERTIES,
  UnsupportedFilterError,
  expectedUsers,
  generateUser,
  matchesFilter,
  projectUser,
} from '../../../stand-ins/sim-tenant/users.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('generateUser is deterministic per (seed, index) and differs across seeds', () => {
  assert.deepEqual(generateUser(1, 42), generateUser(1, 42));
  assert.notDeepEqual(generateUser(1, 42), generateUser(2, 42));
  assert.notEqual(generateUser(1, 42)['id'], generateUser(1, 43)['id']);
});

test('every user has every known property, in schema order, with GUID ids and valid timestamps', () => {
  for (let i = 0; i < 2000; i++) {
    const u = generateUser(3, i);
    assert.deepEqual(Object.keys(u), [...USER_PROPERTIES]);
    assert.match(String(u['id']), GUID);
    const created = String(u['createdDateTime']);
    assert.equal(new Date(created).toISOString().slice(0, 19) + 'Z', created, 'ISO 8601 without fractions');
  }
});

test('ids and user principal names are unique across a large tenant', () => {
  const ids = new Set<string>();
  const upns = new Set<string>();
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const u = generateUser(9, i);
    ids.add(String(u['id']));
    upns.add(String(u['userPrincipalName']).toLowerCase());
  }
  assert.equal(ids.size, n);
  assert.equal(upns.size, n);
});

test('the data is awkward: non-ASCII, RTL, emoji (surrogates and ZWJ), quotes, backslashes, control chars, </script>, nulls, long strings, guests', () => {
  const users = Array.from({ length: 3000 }, (_, i) => generateUser(1, i));
  const strings = users.flatMap((u) => Object.values(u).filter((v): v is string => typeof v === 'string'));
  const has = (re: RegExp): boolean => strings.some((s) => re.test(s));
  assert.ok(has(/[éßü]/), 'Latin diacritics');
  assert.ok(has(/[\u4e00-\u9fff]/), 'CJK');
  assert.ok(has(/[\u0370-\u03ff]/), 'Greek');
  assert.ok(has(/[\u0600-\u06ff]/), 'Arabic (right-to-left)');
  assert.ok(has(/[\ud800-\udbff][\udc00-\udfff]/), 'surrogate pairs');
  assert.ok(has(/\u200d/), 'ZWJ sequences');
  assert.ok(has(/"/) && has(/\\/), 'quotes and backslashes');
  assert.ok(has(/\n/) && has(/\t/), 'newlines and tabs');
  assert.ok(has(/<\/script>/), '</script>');
  assert.ok(
    strings.some((s) => s.length >= 2000),
    '~2 KB strings',
  );
  assert.ok(
    users.some((u) => u['userType'] === 'Guest' && /#EXT#@/.test(String(u['userPrincipalName']))),
    'guests with #EXT# UPNs',
  );
  assert.ok(
    users.some((u) => u['mail'] === null && u['jobTitle'] === null && u['department'] === null),
    'sparse users full of nulls',
  );
  assert.ok(
    users.some((u) => Array.isArray(u['businessPhones']) && (u['businessPhones'] as unknown[]).length === 0),
    'empty arrays',
  );
  assert.ok(
    users.some((u) => u['accountEnabled'] === false),
    'disabled accounts',
  );
  // And it all survives a JSON round trip unchanged (no lone surrogates).
  assert.deepEqual(JSON.parse(JSON.stringify(users)), users);
});

test('projectUser keeps only the selected properties, in schema order whatever the $select order', () => {
  const u = generateUser(1, 7);
  const p = projectUser(u, ['userPrincipalName', 'id', 'displayName', 'accountEnabled']);
  assert.deepEqual(Object.keys(p), ['accountEnabled', 'displayName', 'userPrincipalName', 'id']);
  assert.equal(p['id'], u['id']);
  assert.deepEqual(Object.keys(projectUser(u, ['DisplayName'])), ['displayName'], 'names match case-insensitively');
  assert.deepEqual(Object.keys(projectUser(u, [])), [...DEFAULT_USER_SELECT], "no $select: Graph's default set, id last");
  assert.equal(Object.keys(projectUser(u, [...PRODUCT_DEFAULT_SELECT])).length, PRODUCT_DEFAULT_SELECT.length);
  assert.throws(() => projectUser(u, ['signInActivity']), /Could not find a property named 'signInActivity'/);
});

test('matchesFilter supports the documented subset and refuses everything else', () => {
  const users = Array.from({ length: 500 }, (_, i) => generateUser(1, i));
  const count = (f: string): number => users.filter((u) => matchesFilter(u, f)).length;
  const enabled = count('accountEnabled eq true');
  assert.ok(enabled > 0 && enabled < users.length);
  assert.equal(count('accountEnabled eq true') + count('accountEnabled eq false'), users.length);
  const guests = count("userType eq 'Guest'");
  assert.equal(guests + count("userType eq 'Member'"), users.length);
  assert.equal(count("userType eq 'guest'"), guests, 'string comparison is case-insensitive');
  assert.ok(count("startswith(displayName,'a')") > 0);
  assert.equal(count("department eq 'Sales' or department eq 'IT'"), count("department eq 'Sales'") + count("department eq 'IT'"));
  assert.equal(
    count("accountEnabled eq true and userType eq 'Guest'"),
    users.filter((u) => u['accountEnabled'] === true && u['userType'] === 'Guest').length,
  );
  assert.equal(count("(userType eq 'Guest' or userType eq 'Member') and accountEnabled eq false"), count('accountEnabled eq false'));
  assert.equal(count("displayName eq 'O''Brien'"), 0, "'' escapes a quote");
  assert.equal(matchesFilter(users[0] as Record<string, unknown>, undefined), true);

  for (const bad of [
    "faxNumber eq '1'",
    "endswith(displayName,'x')",
    "startswith(jobTitle,'x')",
    'mail eq null',
    'accountEnabled eq',
    "startswith(displayName,'a'",
    'nosuchprop eq 1',
    "userType eq 'Guest' xor true",
  ]) {
    assert.throws(() => matchesFilter(users[0] as Record<string, unknown>, bad), UnsupportedFilterError, bad);
  }
  assert.throws(
    () => matchesFilter(users[0] as Record<string, unknown>, "faxNumber eq '1'"),
    /Unsupported or invalid query filter clause specified for property 'faxNumber' of resource 'User'/,
  );
});

test('expectedUsers is the filtered, projected population in index order', () => {
  const select = ['id', 'displayName', 'userType'];
  const all = [...expectedUsers({ seed: 5, userCount: 300, select })];
  assert.equal(all.length, 300);
  assert.deepEqual(all[10], projectUser(generateUser(5, 10), select));
  const guests = [...expectedUsers({ seed: 5, userCount: 300, select, filter: "userType eq 'Guest'" })];
  assert.deepEqual(
    guests,
    all.filter((u) => u['userType'] === 'Guest'),
  );
});
