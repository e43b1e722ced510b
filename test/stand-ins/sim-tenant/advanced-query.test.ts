/**
 * The simulated Graph's advanced queries ("Advanced query capabilities on Microsoft Entra ID objects",
 * https://learn.microsoft.com/graph/aad-advanced-queries): a filter Graph serves only with
 * `ConsistencyLevel: eventual` + `$count=true` is refused without them — on every page — with Graph's body,
 * served with them (with `@odata.count` on the first page), and evaluated right; a filter Graph does not
 * support even then is refused either way.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SimTenant } from '../../../stand-ins/sim-tenant/index.js';
import { compileFilter, expectedUsers, generateUser, projectUser } from '../../../stand-ins/sim-tenant/users.js';
import { type SimResponse, request, startTenantWithApp } from './helpers.js';

const SEED = 23;
const USERS = 2300;
let sim: SimTenant;
let token: string;

before(async () => ({ sim, token } = await startTenantWithApp(USERS, SEED)));
after(() => sim.close());

const EVENTUAL = { ConsistencyLevel: 'eventual' };
const get = (url: string, headers: Record<string, string> = {}): Promise<SimResponse> =>
  request(sim, url, { headers: { Authorization: `Bearer ${token}`, ...headers } });
const users = (query: string): string => `${sim.graphEndpoint}/v1.0/users?${query}`;
const q = (filter: string): string => `$filter=${encodeURIComponent(filter)}`;

/** Graph's error body for the documented case, as in the docs' "Error handling for advanced queries on directory objects". */
function assertRefusedAsGraphDoes(res: SimResponse, message: string): void {
  assert.equal(res.status, 400, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.deepEqual(Object.keys(res.json.error), ['code', 'message', 'innerError']);
  assert.equal(res.json.error.code, 'Request_UnsupportedQuery');
  assert.equal(res.json.error.message, message);
  assert.match(res.json.error.innerError['request-id'], /^[0-9a-f-]{36}$/);
  assert.ok(res.json.error.innerError.date);
}

const ENDSWITH_REFUSED =
  "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information";

test('endsWith without ConsistencyLevel, or without $count=true: 400 Request_UnsupportedQuery with the documented message', async () => {
  const filter = q("endsWith(userPrincipalName,'@contoso.com')");
  assertRefusedAsGraphDoes(await get(users(`${filter}&$top=999`)), ENDSWITH_REFUSED);
  assertRefusedAsGraphDoes(await get(users(`${filter}&$count=true&$top=999`)), ENDSWITH_REFUSED);
  assertRefusedAsGraphDoes(await get(users(`${filter}&$top=999`), EVENTUAL), ENDSWITH_REFUSED);
  assert.equal((await get(users(`${filter}&$count=true&$top=999`), EVENTUAL)).status, 200);
  assert.equal(
    (await get(users(`${filter}&$count=true`), { consistencylevel: 'Eventual' })).status,
    200,
    'header name and value case-insensitive',
  );
});

test('ne and not need the advanced query parameters too; their refusals', async () => {
  assertRefusedAsGraphDoes(await get(users(q("userType ne 'Guest'"))), "Filter operator 'NotEqualsMatch' is not supported.");
  assertRefusedAsGraphDoes(await get(users(q('companyName ne null'))), "Filter operator 'NotEqualsMatch' is not supported.");
  const not = await get(users(q('not(accountEnabled eq true)')));
  assert.equal(not.status, 400);
  assert.equal(not.json.error.code, 'Request_UnsupportedQuery');
  assertRefusedAsGraphDoes(
    await get(users(q("officeLocation eq 'Remote'"))),
    "Unsupported or invalid query filter clause specified for property 'officeLocation' of resource 'User'.",
  );
  for (const filter of ["userType ne 'Guest'", 'not(accountEnabled eq true)', "officeLocation eq 'Remote'"]) {
    assert.equal((await get(users(`${q(filter)}&$count=true`), EVENTUAL)).status, 200, filter);
  }
});

test("an advanced listing: @odata.count on the first page only, in Graph's order; the nextLink carries $count=true and is refused without the header", async () => {
  const filter = "endsWith(mail,'@contoso.com')";
  const select = ['id', 'mail'];
  const want = [...expectedUsers({ seed: SEED, userCount: USERS, select, filter })];
  assert.ok(want.length > 2 * 400, `several pages (${want.length} users)`);

  const first = await get(users(`$select=id,mail&${q(filter)}&$count=true&$top=400`), EVENTUAL);
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(
    Object.keys(first.json),
    ['@odata.context', '@odata.count', '@odata.nextLink', 'value'],
    'context, count, nextLink, value',
  );
  assert.ok(
    first.text.startsWith(
      `{"@odata.context":${JSON.stringify(first.json['@odata.context'])},"@odata.count":${want.length},"@odata.nextLink":`,
    ),
  );
  assert.equal(first.json['@odata.count'], want.length, 'the number of matching users in the whole listing');

  const nextLink = new URL(first.json['@odata.nextLink']);
  assert.equal(nextLink.searchParams.get('$count'), 'true');
  assert.equal(nextLink.searchParams.get('$filter'), filter);
  assertRefusedAsGraphDoes(await get(nextLink.href), ENDSWITH_REFUSED);

  const got = [...first.json.value];
  let url: string | undefined = nextLink.href;
  while (url !== undefined) {
    const page = await get(url, EVENTUAL);
    assert.equal(page.status, 200, page.text);
    assert.equal('@odata.count' in page.json, false, 'no @odata.count after the first page');
    got.push(...page.json.value);
    url = page.json['@odata.nextLink'];
  }
  assert.deepEqual(got, want);
});

test('$count=true without ConsistencyLevel is silently ignored; with it a standard filter gets @odata.count', async () => {
  const ignored = await get(users(`${q('accountEnabled eq false')}&$count=true&$top=5`));
  assert.equal(ignored.status, 200);
  assert.equal('@odata.count' in ignored.json, false);
  const counted = await get(users(`${q('accountEnabled eq false')}&$count=true&$top=5`), EVENTUAL);
  assert.equal(
    counted.json['@odata.count'],
    [...expectedUsers({ seed: SEED, userCount: USERS, select: ['id'], filter: 'accountEnabled eq false' })].length,
  );
  const all = await get(users('$count=true&$top=5'), EVENTUAL);
  assert.equal(all.json['@odata.count'], USERS);
  assert.equal((await get(users('$count=maybe'), EVENTUAL)).status, 400);
});

test('a filter Graph does not support even as an advanced query is refused either way', async () => {
  const message = "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'.";
  assertRefusedAsGraphDoes(await get(users(q("endsWith(displayName,'x')"))), message);
  assertRefusedAsGraphDoes(await get(users(`${q("endsWith(displayName,'x')")}&$count=true`), EVENTUAL), message);
  assertRefusedAsGraphDoes(
    await get(users(`${q("startsWith(jobTitle,'C')")}&$count=true`), EVENTUAL),
    "Unsupported or invalid query filter clause specified for property 'jobTitle' of resource 'User'.",
  );
});

test('the filters are evaluated: endsWith, startsWith, eq, ne, not, null, and/or, precedence', () => {
  const population = Array.from({ length: 800 }, (_, i) => generateUser(SEED, i));
  const count = (filter: string): number => population.filter(compileFilter(filter).predicate).length;
  const lower = (v: unknown): string | undefined => (typeof v === 'string' ? v.toLowerCase() : undefined);
  const cases: [string, (u: Record<string, unknown>) => boolean][] = [
    ["endsWith(mail,'@CONTOSO.com')", (u) => lower(u['mail'])?.endsWith('@contoso.com') === true],
    [
      "endswith(userPrincipalName,'#EXT#@contoso.onmicrosoft.com')",
      (u) => lower(u['userPrincipalName'])?.endsWith('#ext#@contoso.onmicrosoft.com') === true,
    ],
    ["startsWith(displayName,'a')", (u) => lower(u['displayName'])?.startsWith('a') === true],
    ["userType eq 'guest'", (u) => u['userType'] === 'Guest'],
    ["userType ne 'Guest'", (u) => u['userType'] !== 'Guest'],
    ["department ne 'Sales'", (u) => u['department'] !== 'Sales'],
    ['accountEnabled ne true', (u) => u['accountEnabled'] !== true],
    ["NOT(companyName eq 'Contoso Ltd.')", (u) => u['companyName'] !== 'Contoso Ltd.'],
    ["NOT startsWith(displayName,'a')", (u) => !(lower(u['displayName'])?.startsWith('a') === true)],
    ['companyName ne null', (u) => u['companyName'] !== null],
    ['department eq null', (u) => u['department'] === null],
    ["companyName ne null and NOT(companyName eq 'Contoso Ltd.')", (u) => u['companyName'] !== null && u['companyName'] !== 'Contoso Ltd.'],
    [
      "endsWith(mail,'@contoso.com') or userType eq 'Guest' and accountEnabled eq false",
      (u) => lower(u['mail'])?.endsWith('@contoso.com') === true || (u['userType'] === 'Guest' && u['accountEnabled'] === false),
    ],
    ["not accountEnabled eq true and userType eq 'Member'", (u) => u['accountEnabled'] === false && u['userType'] === 'Member'],
  ];
  for (const [filter, expected] of cases) {
    const want = population.filter(expected).length;
    assert.ok(want > 0 && want < population.length, `${filter}: a meaningful case (${want})`);
    assert.equal(count(filter), want, filter);
  }
  assert.equal(compileFilter("userType eq 'Guest'").needsAdvancedQuery, undefined);
  assert.equal(compileFilter("startsWith(mail,'a') or accountEnabled eq true").needsAdvancedQuery, undefined);
  assert.equal(compileFilter("accountEnabled eq true and endsWith(mail,'x')").needsAdvancedQuery, ENDSWITH_REFUSED);
  assert.deepEqual(projectUser(population[0]!, ['mail']), { mail: population[0]!['mail'] });
});
