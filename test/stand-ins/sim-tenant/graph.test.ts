import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { type SimTenant, startSimTenant } from '../../../stand-ins/sim-tenant/index.js';
import { DEFAULT_USER_SELECT, PRODUCT_DEFAULT_SELECT, expectedUsers } from '../../../stand-ins/sim-tenant/users.js';
import { type SimResponse, appToken, miToken, request, startTenantWithApp } from './helpers.js';

const SEED = 11;
const USERS = 2500;
let sim: SimTenant;
let token: string;

before(async () => ({ sim, token } = await startTenantWithApp(USERS, SEED)));
beforeEach(() => sim.clearFaults());
after(() => sim.close());

/** GET with the app's token, another token, or none (null). */
const get = (url: string, bearer: string | null = token): Promise<SimResponse> =>
  request(sim, url, { headers: bearer === null ? {} : { Authorization: `Bearer ${bearer}` } });
const users = (query = ''): string => `${sim.graphEndpoint}/v1.0/users${query}`;

function assertGraphError(res: SimResponse, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error.code, code);
  if (message !== undefined) assert.match(res.json.error.message, message);
  assert.match(res.json.error.innerError['request-id'], /^[0-9a-f-]{36}$/);
  assert.ok(res.json.error.innerError.date);
  assert.ok(res.json.error.innerError['client-request-id']);
}

/** Follows @odata.nextLink to the end (of this file's tenant, or another); returns the users and the number of pages. */
async function listAll(
  firstUrl: string,
  from: { tenant: SimTenant; token: string } = { tenant: sim, token },
): Promise<{ users: Record<string, unknown>[]; pages: number }> {
  const all: Record<string, unknown>[] = [];
  let url: string | undefined = firstUrl;
  let pages = 0;
  while (url !== undefined) {
    const res = await request(from.tenant, url, { headers: { Authorization: `Bearer ${from.token}` } });
    assert.equal(res.status, 200, res.text);
    all.push(...(res.json.value as Record<string, unknown>[]));
    pages++;
    url = res.json['@odata.nextLink'];
  }
  return { users: all, pages };
}

test('full paging of 2,500 users with $top=999 equals expectedUsers, in 3 pages', async () => {
  const select = [...PRODUCT_DEFAULT_SELECT];
  const served = sim.stats.graphPagesServed;
  const { users: got, pages } = await listAll(users(`?$top=999&$select=${select.join(',')}`));
  assert.equal(pages, 3);
  assert.equal(sim.stats.graphPagesServed - served, 3);
  assert.deepEqual(got, [...expectedUsers({ seed: SEED, userCount: USERS, select })]);
});

test('page shape: context, nextLink carrying the query, headers; last page has no nextLink', async () => {
  const res = await get(users('?$top=999&$select=id,displayName&$filter=accountEnabled%20eq%20true'));
  assert.equal(
    res.headers['content-type'],
    'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8',
  );
  assert.match(String(res.headers['request-id']), /^[0-9a-f-]{36}$/);
  assert.ok(res.headers['client-request-id']);
  assert.equal(res.json['@odata.context'], `${sim.graphEndpoint}/v1.0/$metadata#users(id,displayName)`);
  assert.deepEqual(Object.keys(res.json), ['@odata.context', '@odata.nextLink', 'value'], "Graph's member order");
  const next = new URL(res.json['@odata.nextLink']);
  assert.equal(next.origin, sim.graphEndpoint);
  assert.equal(next.searchParams.get('$top'), '999');
  assert.equal(next.searchParams.get('$select'), 'id,displayName');
  assert.equal(next.searchParams.get('$filter'), 'accountEnabled eq true');
  assert.ok(next.searchParams.get('$skiptoken'));
  assert.deepEqual(Object.keys(res.json.value[0]), ['displayName', 'id'], 'schema order');
  const small = await get(users('?$filter=' + encodeURIComponent("startswith(displayName,'zzz')")));
  assert.deepEqual(small.json.value, []);
  assert.equal('@odata.nextLink' in small.json, false);
});

test("defaults: page of 100 and Graph's default property set; %24-encoded options are understood", async () => {
  const res = await get(users());
  assert.equal(res.json.value.length, 100);
  assert.deepEqual(Object.keys(res.json.value[0]), [...DEFAULT_USER_SELECT]);
  assert.equal(res.json['@odata.context'], `${sim.graphEndpoint}/v1.0/$metadata#users`);
  const encoded = await get(users('?%24top=5&%24select=id'));
  assert.equal(encoded.json.value.length, 5);
  assert.deepEqual(Object.keys(encoded.json.value[0]), ['id']);
});

test('$filter is applied across the whole population, pages hold $top matching users', async () => {
  const filter = "userType eq 'Guest' or startswith(displayName,'a')";
  const select = ['id', 'displayName', 'userType'];
  const want = [...expectedUsers({ seed: SEED, userCount: USERS, select, filter })];
  const { users: got, pages } = await listAll(users(`?$top=100&$select=${select.join(',')}&$filter=${encodeURIComponent(filter)}`));
  assert.deepEqual(got, want);
  assert.equal(pages, Math.ceil(want.length / 100));
});

test('authentication: missing, tampered, wrong audience → 401 InvalidAuthenticationToken; no role → 403', async () => {
  assertGraphError(await get(users(), null), 401, 'InvalidAuthenticationToken', /^Access token is empty\.$/);
  const [h, p] = token.split('.');
  assertGraphError(await get(users(), `${h}.${p}.AAAA`), 401, 'InvalidAuthenticationToken');
  const vaultToken = await miToken(sim, 'https://vault.azure.net');
  const wrongAud = await get(users(), vaultToken);
  assertGraphError(wrongAud, 401, 'InvalidAuthenticationToken', /Invalid audience/);
  assert.ok(wrongAud.headers['www-authenticate']);

  const noRole = sim.addApp({ roles: [] });
  const denied = await get(users(), await appToken(sim, noRole.clientId, sim.addClientSecret(noRole.clientId)));
  assertGraphError(denied, 403, 'Authorization_RequestDenied', /^Insufficient privileges to complete the operation\.$/);
  const miForGraph = await miToken(sim, sim.graphEndpoint);
  assertGraphError(await get(users(), miForGraph), 403, 'Authorization_RequestDenied');
  const directoryReader = sim.addApp({ roles: ['Directory.Read.All'] });
  assert.equal(
    (await get(users('?$top=1'), await appToken(sim, directoryReader.clientId, sim.addClientSecret(directoryReader.clientId)))).status,
    200,
  );
});

test('query validation: $top range, $skip, unknown $select property, unsupported $filter, other options', async () => {
  assertGraphError(
    await get(users('?$top=1000')),
    400,
    'Request_UnsupportedQuery',
    /^Invalid page size specified: '1000'\. Must be between 1 and 999 inclusive\.$/,
  );
  assertGraphError(await get(users('?$top=0')), 400, 'Request_UnsupportedQuery');
  // A repeated system query option is refused, not read once (so $top=5&$top=5000 cannot slip past the range check).
  assertGraphError(
    await get(users('?$top=5&$TOP=5000')),
    400,
    'BadRequest',
    /^Query option '\$top' was specified more than once, but it must be specified at most once\.$/,
  );
  assertGraphError(await get(users('?$top=abc')), 400, 'Request_UnsupportedQuery');
  assertGraphError(await get(users('?$skip=10')), 400, 'Request_UnsupportedQuery');
  assertGraphError(
    await get(users('?$select=id,nope')),
    400,
    'Request_BadRequest',
    /^Could not find a property named 'nope' on type 'microsoft\.graph\.user'\.$/,
  );
  // faxNumber is not in the docs' table of filterable user properties: not filterable at all.
  assertGraphError(
    await get(users(`?$filter=${encodeURIComponent("faxNumber eq '1'")}`)),
    400,
    'Request_UnsupportedQuery',
    /^Unsupported or invalid query filter clause specified for property 'faxNumber' of resource 'User'\.$/,
  );
  assertGraphError(await get(users(`?$filter=${encodeURIComponent('accountEnabled ne true')}`)), 400, 'Request_UnsupportedQuery');
  assertGraphError(await get(users('?$orderby=displayName')), 400, 'Request_UnsupportedQuery');
  assertGraphError(await get(`${sim.graphEndpoint}/v1.0/groups`), 400, 'BadRequest');
});

test("skiptokens are opaque and tamper-proof, and bound to the listing's filter", async () => {
  const first = await get(users('?$top=10'));
  const next = new URL(first.json['@odata.nextLink']);
  const skiptoken = next.searchParams.get('$skiptoken') ?? '';
  const tampered = skiptoken.slice(0, -2) + (skiptoken.endsWith('AA') ? 'BB' : 'AA');
  assertGraphError(await get(users(`?$top=10&$skiptoken=${tampered}`)), 400, 'Request_BadRequest');
  assertGraphError(await get(users('?$top=10&$skiptoken=garbage')), 400, 'Request_BadRequest');
  assertGraphError(await get(users(`?$top=10&$filter=accountEnabled%20eq%20true&$skiptoken=${skiptoken}`)), 400, 'Request_BadRequest');
  assert.equal((await get(next.href)).status, 200);
});

test("faults by page index: a retried page keeps its index; 429 carries Retry-After and Graph's body", async () => {
  sim.addFault({ target: 'graph', page: 1, times: 2, fault: { kind: 'status', status: 429, retryAfter: 0.5 } });
  const first = await get(users('?$top=999'));
  assert.equal(first.status, 200, 'page 0 is not targeted');
  const nextLink: string = first.json['@odata.nextLink'];
  const throttled = await get(nextLink);
  assertGraphError(throttled, 429, 'TooManyRequests');
  assert.equal(throttled.headers['retry-after'], '0.5');
  assert.equal((await get(nextLink)).status, 429, 'the retry is page 1 again');
  assert.equal((await get(nextLink)).status, 200, 'the rule is spent after 2 firings');
  sim.addFault({ target: 'graph', page: 0, fault: { kind: 'status', status: 503 } });
  assertGraphError(await get(users()), 503, 'serviceNotAvailable');
});

test('faults: reset, html, invalid-token, no-value, foreign-nextlink, custom body, nth', async () => {
  sim.addFault({ target: 'graph', fault: { kind: 'reset' } });
  await assert.rejects(get(users()), /socket hang up|ECONNRESET/);

  sim.addFault({ target: 'graph', fault: { kind: 'html', status: 502 } });
  const html = await get(users());
  assert.equal(html.status, 502);
  assert.match(String(html.headers['content-type']), /^text\/html/);
  assert.match(html.text, /<html>/);

  sim.addFault({ target: 'graph', fault: { kind: 'invalid-token' } });
  assertGraphError(await get(users()), 401, 'InvalidAuthenticationToken');

  sim.addFault({ target: 'graph', fault: { kind: 'no-value' } });
  const noValue = await get(users());
  assert.equal(noValue.status, 200);
  assert.equal('value' in noValue.json, false);

  sim.addFault({ target: 'graph', fault: { kind: 'foreign-nextlink' } });
  const foreign = await get(users('?$top=5'));
  assert.match(foreign.json['@odata.nextLink'], /^https:\/\/evil\.localhost:\d+\/v1\.0\/users\?/);

  sim.addFault({ target: 'graph', fault: { kind: 'status', status: 500, body: 'plain text', contentType: 'text/plain' } });
  const custom = await get(users());
  assert.equal(custom.status, 500);
  assert.equal(custom.text, 'plain text');

  sim.addFault({ target: 'graph', nth: sim.stats.graph + 2, fault: { kind: 'status', status: 504 } });
  assert.equal((await get(users())).status, 200);
  assert.equal((await get(users())).status, 504);
  assert.throws(() => sim.addFault({ target: 'token', fault: { kind: 'no-value' } }), /applies to target 'graph' only/);
});

test('expire-skiptoken: Directory_ExpiredPageToken, that skiptoken keeps failing, a fresh listing works', async () => {
  sim.addFault({ target: 'graph', page: 1, fault: { kind: 'expire-skiptoken' } });
  const first = await get(users('?$top=999'));
  const nextLink: string = first.json['@odata.nextLink'];
  const expired = await get(nextLink);
  assertGraphError(
    expired,
    400,
    'Directory_ExpiredPageToken',
    /^The specified page token value has expired and can no longer be included in your request\.$/,
  );
  assertGraphError(await get(nextLink), 400, 'Directory_ExpiredPageToken');
  const { users: got } = await listAll(users('?$top=999&$select=id'));
  assert.equal(got.length, USERS);
});

test('hang: the request never completes until close(); page latency delays pages', async () => {
  const hungSim = await startSimTenant({ userCount: 5 });
  const app = hungSim.addApp();
  const t = await appToken(hungSim, app.clientId, hungSim.addClientSecret(app.clientId));
  hungSim.addFault({ target: 'graph', fault: { kind: 'hang' } });
  const pending = request(hungSim, `${hungSim.graphEndpoint}/v1.0/users`, { headers: { Authorization: `Bearer ${t}` } });
  const outcome = await Promise.race([
    pending.then(
      () => 'answered',
      () => 'failed',
    ),
    new Promise((r) => setTimeout(() => r('hanging'), 300)),
  ]);
  assert.equal(outcome, 'hanging');

  hungSim.setPageLatency(150);
  const started = Date.now();
  await request(hungSim, `${hungSim.graphEndpoint}/v1.0/users`, { headers: { Authorization: `Bearer ${t}` } });
  assert.ok(Date.now() - started >= 140);

  // close() resolves although the hung request never completes (no wall-clock bound: a busy machine may take
  // seconds to close; the minute only turns a close() that waits for the hang into an assertion).
  let waiting: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    hungSim.close().then(() => 'closed'),
    new Promise((r) => (waiting = setTimeout(() => r('still waiting'), 60_000))),
  ]);
  clearTimeout(waiting);
  assert.equal(closed, 'closed', 'close() does not wait for the hung request');
  await assert.rejects(pending, /socket hang up|ECONNRESET/);
});

test('cachePages: a tenant serving pages from memory lists exactly what one generating them does, every time', async () => {
  const cached = await startSimTenant({ userCount: USERS, seed: SEED, cachePages: true });
  try {
    const { clientId } = cached.addApp();
    const cachedToken = await appToken(cached, clientId, cached.addClientSecret(clientId));
    for (const query of [
      '?$top=999&$select=id,displayName',
      '?$top=999&$select=id,displayName',
      '?$top=500&$select=id,mail',
      '?$top=999&$select=id,displayName&$filter=accountEnabled%20eq%20true',
    ]) {
      const expected = (await listAll(users(query))).users;
      assert.deepEqual(
        (await listAll(`${cached.graphEndpoint}/v1.0/users${query}`, { tenant: cached, token: cachedToken })).users,
        expected,
        query,
      );
    }
  } finally {
    await cached.close();
  }
});
