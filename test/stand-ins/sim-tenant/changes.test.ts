import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ExpectedChange, TenantUsers, sortById } from '../../../stand-ins/sim-tenant/changes.js';
import { type SimTenant } from '../../../stand-ins/sim-tenant/index.js';
import { PRODUCT_DEFAULT_SELECT, expectedUsers, generateUser } from '../../../stand-ins/sim-tenant/users.js';
import { request, startTenantWithApp } from './helpers.js';

const SPEC = { joiners: 20, leavers: 15, edits: 30, renames: 10, nulls: 25 };

/**
 * The change report of two listings computed the obvious way, independently of changes.ts: every user of both
 * held in maps by id, compared property by property as JSON values. For small tenants only.
 */
function bruteForceReport(before: Iterable<Record<string, unknown>>, after: Iterable<Record<string, unknown>>): ExpectedChange[] {
  const old = new Map<string, Record<string, unknown>>();
  for (const u of before) old.set(String(u['id']), u);
  const lines: ExpectedChange[] = [];
  const seen = new Set<string>();
  for (const u of after) {
    const id = String(u['id']);
    assert.ok(!seen.has(id), `id ${id} listed twice`);
    seen.add(id);
    const was = old.get(id);
    if (was === undefined) {
      lines.push({ change: 'added', id, user: u });
      continue;
    }
    const changes: Record<string, { old: unknown; new: unknown }> = {};
    for (const name of new Set([...Object.keys(was), ...Object.keys(u)])) {
      const a = was[name] ?? null;
      const b = u[name] ?? null;
      if (JSON.stringify(a) !== JSON.stringify(b)) changes[name] = { old: a, new: b };
    }
    if (Object.keys(changes).length > 0) lines.push({ change: 'changed', id, changes });
  }
  for (const [id, u] of old) if (!seen.has(id)) lines.push({ change: 'removed', id, user: u });
  return sortById(lines);
}

const count = (lines: ExpectedChange[], kind: ExpectedChange['change']): number => lines.filter((l) => l.change === kind).length;

test('a change set is deterministic: same tenant seed and spec, same users and report; another change seed, other values', () => {
  const a = new TenantUsers(5, 800);
  const b = new TenantUsers(5, 800);
  const ea = a.apply(SPEC).expected();
  const eb = b.apply(SPEC).expected();
  assert.deepEqual(ea, eb);
  assert.deepEqual([...a.listing()], [...b.listing()]);
  const c = new TenantUsers(5, 800);
  const ec = c.apply({ ...SPEC, seed: 99 }).expected();
  assert.notDeepEqual(ec, ea);
  // Generation 0 is the seeded tenant users.ts generates, whatever was applied since.
  assert.deepEqual([...a.listing({ generation: 0 })], [...expectedUsers({ seed: 5, userCount: 800, select: [...PRODUCT_DEFAULT_SELECT] })]);
});

test('the expected report is exactly the difference of the two complete listings, with exact counts per kind', () => {
  const users = new TenantUsers(3, 1000);
  const before = [...users.listing()];
  const applied = users.apply(SPEC);
  const after = [...users.listing()];
  const expected = applied.expected();
  assert.deepEqual(expected, bruteForceReport(before, after));
  assert.equal(count(expected, 'added'), 20);
  assert.equal(count(expected, 'removed'), 15);
  // Every edit, rename and null toggle touches at least one property of the product's default select.
  assert.equal(count(expected, 'changed'), 30 + 10 + 25);
  assert.deepEqual(applied.applied, { ...SPEC });
  assert.equal(applied.userCount, 1000 + 20 - 15);
  assert.equal(after.length, applied.userCount);
  assert.equal(users.userCount, applied.userCount);
});

test('the kinds of change are all there: renames, edits of arrays and booleans, nulls both ways; unselected edits only with their select', () => {
  const users = new TenantUsers(8, 3000);
  const applied = users.apply({ edits: 300, renames: 100, nulls: 200 });
  const changed = applied.expected().flatMap((l) => (l.change === 'changed' ? [l.changes] : []));
  const changedProps = (name: string): { old: unknown; new: unknown }[] => changed.flatMap((c) => (c[name] ? [c[name]] : []));
  const renamed = changed.filter((c) => c['displayName'] && c['userPrincipalName']);
  assert.ok(renamed.length >= 100, 'renames change displayName and userPrincipalName together');
  assert.ok(
    renamed.some((c) => c['mail'] && c['surname']),
    'and mail and surname',
  );
  assert.ok(
    renamed.some((c) => c['givenName']),
    'or the given name',
  );
  for (const c of renamed) {
    const { old, new: now } = c['userPrincipalName'] as { old: string; new: string };
    assert.equal(old.replace(/^[a-z]+\.[a-z]+/, ''), now.replace(/^[a-z]+\.[a-z]+/, ''), 'same index and domain');
  }
  assert.ok(
    changedProps('department').some((d) => d.old !== null && d.new === null),
    'a value becomes null',
  );
  assert.ok(
    changedProps('department').some((d) => d.old === null && d.new !== null),
    'null becomes a value',
  );
  assert.ok(
    changedProps('department').some((d) => d.old !== null && d.new !== null),
    'a value is edited',
  );
  assert.ok(
    changedProps('businessPhones').some((p) => JSON.stringify(p.new) === JSON.stringify([...(p.old as string[])].reverse())),
    'a reordered array',
  );
  assert.ok(
    changedProps('businessPhones').some((p) => (p.old as string[]).length > 0 && (p.new as string[]).length === 0),
    'an array emptied',
  );
  assert.ok(changedProps('accountEnabled').length > 0, 'accounts enabled/disabled');
  assert.equal(changedProps('city').length, 0, 'city is not in the default select');
  const withCity = applied.expected({ select: [...PRODUCT_DEFAULT_SELECT, 'city'] });
  assert.ok(
    withCity.some((l) => l.change === 'changed' && 'city' in l.changes),
    'city edits show when city is selected',
  );
  // With a select that none of the changes touch, no user is changed.
  assert.deepEqual(applied.expected({ select: ['id', 'createdDateTime'] }), []);
});

test('with a filter, users edited into or out of it are added or removed, exactly as the filtered listings differ', () => {
  const users = new TenantUsers(4, 2000);
  const filter = "department eq 'Sales'";
  const before = [...users.listing({ filter })];
  const applied = users.apply({ ...SPEC, edits: 400, nulls: 200 });
  const after = [...users.listing({ filter })];
  const expected = applied.expected({ filter });
  assert.deepEqual(expected, bruteForceReport(before, after));
  assert.ok(count(expected, 'added') > 0 && count(expected, 'removed') > 0);
});

test('several change sets: each report is exact, between any two generations too, and users who left stay gone', () => {
  const users = new TenantUsers(6, 1200);
  const listings = [[...users.listing()]];
  const sets = [SPEC, { joiners: 5, leavers: 300, edits: 400, renames: 50, nulls: 100, seed: 17 }, { edits: 1205, seed: 3 }];
  for (const spec of sets) {
    const applied = users.apply(spec);
    listings.push([...users.listing()]);
    const g = applied.generation;
    assert.deepEqual(
      applied.expected(),
      bruteForceReport(listings[g - 1] as Record<string, unknown>[], listings[g] as Record<string, unknown>[]),
      `generation ${g}`,
    );
  }
  assert.deepEqual(
    sortById([...users.differences({ from: 0, to: 3 })]),
    bruteForceReport(listings[0] as Record<string, unknown>[], listings[3] as Record<string, unknown>[]),
  );
  assert.deepEqual(
    sortById([...users.differences({ from: 1, to: 3 })]),
    bruteForceReport(listings[1] as Record<string, unknown>[], listings[3] as Record<string, unknown>[]),
  );
  assert.equal(users.userCount, (listings[3] as unknown[]).length);
  // The third set asked for every slot: those who had left are not edited back into the tenant.
  assert.ok(users.apply({}).userCount < 1200 + 25);
  assert.throws(() => users.apply({ edits: users.slotCount + 1 }), RangeError);
  assert.throws(() => users.apply({ leavers: -1 }), TypeError);
});

test('a million users: 1 % and then every user changed, without holding users (the report is enumerated lazily)', () => {
  const users = new TenantUsers(1, 1_000_000);
  const one = users.apply({ joiners: 2000, leavers: 2000, edits: 4000, renames: 2000, nulls: 2000 });
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const line of one.differences()) counts[line.change]++;
  assert.deepEqual(counts, { added: 2000, removed: 2000, changed: 8000 });
  assert.equal(users.userCount, 1_000_000);
  assert.equal(users.slotCount, 1_002_000);
  // Every user there is edited; only which users, not their values, are computed here.
  const all = users.apply({ edits: users.slotCount, seed: 2 });
  assert.deepEqual(all.applied, { joiners: 0, leavers: 0, edits: 1_000_000, renames: 0, nulls: 0 });
  const sample = users.user(123_456);
  assert.ok(sample === undefined || JSON.stringify(sample) !== JSON.stringify(users.user(123_456, 1)), 'a user of the 100 % set differs');
});

test('the permutation behind the picks is a bijection: every slot is picked once', () => {
  for (const size of [1, 2, 3, 5, 17, 1000, 4097]) {
    const users = new TenantUsers(2, size);
    const applied = users.apply({ edits: size });
    const ids = new Set(applied.expected().map((l) => l.id));
    assert.equal(ids.size, size, `size ${size}`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Through Graph: a tenant that changes between two complete listings pages consistently.

let sim: SimTenant;
let token: string;
before(async () => ({ sim, token } = await startTenantWithApp(3000, 12)));
after(() => sim.close());

async function listAll(query: string): Promise<{ users: Record<string, unknown>[]; pages: number; count: unknown }> {
  const all: Record<string, unknown>[] = [];
  let url: string | undefined = `${sim.graphEndpoint}/v1.0/users${query}`;
  let pages = 0;
  let first: unknown;
  while (url !== undefined) {
    const res = await request(sim, url, { headers: { Authorization: `Bearer ${token}`, ConsistencyLevel: 'eventual' } });
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.value.length > 0, 'no empty page');
    if (pages === 0) first = res.json['@odata.count'];
    all.push(...(res.json.value as Record<string, unknown>[]));
    pages++;
    url = res.json['@odata.nextLink'];
  }
  return { users: all, pages, count: first };
}

test('Graph: after a change between listings, every user is listed once, as users.listing() says, and the listings differ as expected', async () => {
  const select = [...PRODUCT_DEFAULT_SELECT];
  const query = `?$top=999&$select=${select.join(',')}`;
  const before = await listAll(query);
  assert.deepEqual(before.users, [...sim.users.listing({ select })]);
  const applied = sim.applyChanges({ joiners: 50, leavers: 40, edits: 60, renames: 30, nulls: 20 });
  const afterChange = await listAll(query);
  const ids = new Set(afterChange.users.map((u) => u['id']));
  assert.equal(ids.size, afterChange.users.length, 'no duplicates');
  assert.equal(afterChange.users.length, 3000 + 50 - 40);
  assert.deepEqual(afterChange.users, [...sim.users.listing({ select })]);
  assert.deepEqual(bruteForceReport(before.users, afterChange.users), applied.expected());
  // An advanced query's count follows the change too.
  const filter = "department eq 'Sales'";
  const filtered = await listAll(`?$top=999&$count=true&$filter=${encodeURIComponent(filter)}`);
  assert.equal(filtered.count, filtered.users.length);
  assert.deepEqual(
    filtered.users.map((u) => u['id']),
    [...sim.users.listing({ filter, select: ['id'] })].map((u) => u['id']),
  );
});

test('Graph: when leavers leave gaps at the end, no page is empty and the last page has no nextLink', async () => {
  const { sim: small, token: smallToken } = await startTenantWithApp(6, 21);
  try {
    small.applyChanges({ leavers: 5 });
    let url: string | undefined = `${small.graphEndpoint}/v1.0/users?$top=1&$select=id`;
    const got: unknown[] = [];
    while (url !== undefined) {
      const res = await request(small, url, { headers: { Authorization: `Bearer ${smallToken}` } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.value.length, 1, 'a page of $top=1 holds one user');
      got.push(res.json.value[0].id);
      url = res.json['@odata.nextLink'];
    }
    assert.deepEqual(
      got,
      [...small.users.listing({ select: ['id'] })].map((u) => u['id']),
    );
    assert.equal(got.length, 1);
  } finally {
    await small.close();
  }
});

test('joiners are new users with new ids and a recent createdDateTime', () => {
  const users = new TenantUsers(9, 100);
  const applied = users.apply({ joiners: 3 });
  const added = applied.expected().map((l) => (l.change === 'added' ? l.user : undefined));
  assert.equal(added.length, 3);
  for (const user of added) {
    assert.ok(user);
    assert.ok(String(user['createdDateTime']) >= '2026-01-02', String(user['createdDateTime']));
    assert.notEqual(user['id'], generateUser(9, 0)['id']);
  }
});
