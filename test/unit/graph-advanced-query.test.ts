/**
 * listUserPages and advanced queries, against a local Graph stand-in that records every request's headers:
 * a first page refused with 400 Request_UnsupportedQuery starts the listing again with `$count=true` and
 * `ConsistencyLevel: eventual` on every request — the page fetched ahead from the early `@odata.nextLink`
 * (which now follows `@odata.count`) and a listing restarted after an expired `$skiptoken` included — once only.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { after, beforeEach, test } from 'node:test';
import { ExportError } from '../../src/errors.js';
import { earlyNextLink, listUserPages, type ConsistencyLevel } from '../../src/graph.js';
import { HttpClientWithRetries } from '../../src/http.js';
import { createTransport } from '../../src/transport.js';
import { localServer, loopbackHttpClient as loopback } from '../helpers/loopback.js';
import { graphError as graphErrorBody } from '../../stand-ins/sim-tenant/errors.js';
import { sendJson } from '../../stand-ins/sim-tenant/http.js';


interface Seen {
  url: URL;
  consistencyLevel: string | undefined;
  /** Whether another request was still being answered when this one arrived. */
  overlapping: boolean;
}

let handler: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;
let seen: Seen[] = [];
let open = 0;

const graph = localServer((req, res) => {
  const url = new URL(req.url ?? '/', graph.endpoint);
  seen.push({ url, consistencyLevel: req.headers['consistencylevel'] as string | undefined, overlapping: open > 0 });
  open += 1;
  res.on('close', () => (open -= 1));
  handler(req, res, url);
});
beforeEach(() => {
  seen = [];
});

const ENDSWITH_REFUSED =
  "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information";

/** Graph's error body (stand-ins/sim-tenant/errors.ts, as the simulated Graph sends it). */
function graphError(res: http.ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, graphErrorBody(code, message, { requestId: randomUUID(), clientRequestId: randomUUID() }));
}

const isAdvanced = (req: http.IncomingMessage, url: URL): boolean => req.headers['consistencylevel'] === 'eventual' && url.searchParams.get('$count') === 'true';

/**
 * Page `n` of `pages` as Graph writes an advanced query's pages: context, count (first page only), nextLink
 * (carrying the query), value. The head goes out at once; the rest only once the next page has been asked for
 * (or after 2 s), so the listing can only get there through the early nextLink.
 */
function servePage(req: http.IncomingMessage, res: http.ServerResponse, url: URL, n: number, pages: number): void {
  const next = new URL(url);
  next.searchParams.set('$skiptoken', String(n + 1));
  const head =
    `{"@odata.context":"${graph.endpoint}/v1.0/$metadata#users(id)"` +
    (n === 0 && isAdvanced(req, url) ? `,"@odata.count":${pages * 3}` : '') +
    (n + 1 < pages ? `,"@odata.nextLink":${JSON.stringify(next.href)}` : '') +
    ',"value":[';
  const rest = `{"id":"a${n}"},{"id":"b${n}"},{"id":"c${n}"}]}`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(head + rest) });
  res.write(head);
  if (n + 1 >= pages) return void res.end(rest);
  const started = Date.now();
  const poll = setInterval(() => {
    if (seen.some((s) => s.url.searchParams.get('$skiptoken') === String(n + 1)) || Date.now() - started > 2000) {
      clearInterval(poll);
      res.end(rest);
    }
  }, 5);
}

interface Run {
  ids: string[];
  restarted: number;
  advanced: ConsistencyLevel[];
  log: string[];
}

async function list(filter: string | undefined, run: Run = { ids: [], restarted: 0, advanced: [], log: [] }): Promise<Run> {
  for await (const page of listUserPages({
    graphEndpoint: graph.endpoint,
    select: ['id'],
    filter,
    tokens: { getToken: async () => 'token' },
    http: new HttpClientWithRetries({ ...createTransport().graph, retryDelayInMs: 10 }, loopback),
    onAdvancedQuery: (level) => run.advanced.push(level),
    log: (m) => run.log.push(m),
  })) {
    if (page.restarted) {
      run.restarted += 1;
      run.ids = [];
    }
    for (let i = 0; i < page.count; i += 1) {
      const user = JSON.parse(page.elements.bytes.toString('utf8', page.elements.ranges[2 * i], page.elements.ranges[2 * i + 1])) as Record<string, unknown>;
      run.ids.push(String(user['id']));
    }
  }
  return run;
}

const FILTER = "endsWith(mail,'@contoso.com')";
const expectedIds = (pages: number): string[] => Array.from({ length: pages }, (_, n) => [`a${n}`, `b${n}`, `c${n}`]).flat();

test('the early nextLink is read when @odata.count precedes it', () => {
  const link = `${graph.endpoint}/v1.0/users?$count=true&$skiptoken=1`;
  assert.equal(earlyNextLink(`{"@odata.context":"x","@odata.count":1234,"@odata.nextLink":${JSON.stringify(link)},"value":[`, graph.endpoint), link);
  assert.equal(earlyNextLink(`{"@odata.context":"x","@odata.count":0,"@odata.nextLink":${JSON.stringify(link)}`, graph.endpoint), link);
});

test('a first page refused with Request_UnsupportedQuery: listed again as an advanced query, header on every request, pages fetched ahead', async () => {
  const pages = 4;
  handler = (req, res, url) => {
    if (!isAdvanced(req, url)) return graphError(res, 400, 'Request_UnsupportedQuery', ENDSWITH_REFUSED);
    servePage(req, res, url, Number(url.searchParams.get('$skiptoken') ?? 0), pages);
  };
  const run = await list(FILTER);
  assert.deepEqual(run.ids, expectedIds(pages), 'every user once, in order');
  assert.deepEqual(run.advanced, ['eventual']);
  assert.equal(seen.length, pages + 1, 'the refused request, then one per page');
  assert.equal(seen[0]!.consistencyLevel, undefined);
  assert.equal(seen[0]!.url.searchParams.has('$count'), false, 'a standard query first');
  assert.equal(seen[0]!.url.searchParams.get('$filter'), FILTER);
  for (const s of seen.slice(1)) assert.equal(s.consistencyLevel, 'eventual', `${s.url.search}: ConsistencyLevel: eventual`);
  assert.equal(seen[1]!.url.searchParams.get('$count'), 'true');
  assert.equal(seen[1]!.url.searchParams.get('$filter'), FILTER);
  assert.deepEqual(
    seen.slice(2).map((s) => s.overlapping),
    Array.from({ length: pages - 1 }, () => true),
    'each next page was asked for while the previous one was still arriving (its early nextLink, after @odata.count)',
  );
  assert.equal(run.log.length, 1);
  assert.match(run.log[0]!, /USERS_FILTER.*HTTP 400 Request_UnsupportedQuery: Operator 'endsWith' is not supported.*advanced query \(ConsistencyLevel: eventual, \$count=true\).*may lag/);
});

test('a listing restarted after an expired $skiptoken stays an advanced query', async () => {
  const pages = 3;
  let expired = false;
  handler = (req, res, url) => {
    if (!isAdvanced(req, url)) return graphError(res, 400, 'Request_UnsupportedQuery', ENDSWITH_REFUSED);
    const n = Number(url.searchParams.get('$skiptoken') ?? 0);
    if (n === 2 && !expired) {
      expired = true;
      return graphError(res, 400, 'Directory_ExpiredPageToken', 'The specified page token value has expired and can no longer be included in your request.');
    }
    servePage(req, res, url, n, pages);
  };
  const run = await list(FILTER);
  assert.equal(run.restarted, 1);
  assert.deepEqual(run.ids, expectedIds(pages));
  assert.deepEqual(run.advanced, ['eventual'], 'switched once');
  const afterRefusal = seen.slice(1);
  assert.equal(afterRefusal.filter((s) => !s.url.searchParams.has('$skiptoken')).length, 2, 'the first page twice: the listing and its restart');
  for (const s of afterRefusal) assert.equal(s.consistencyLevel, 'eventual', s.url.search);
  for (const s of afterRefusal.filter((x) => !x.url.searchParams.has('$skiptoken'))) assert.equal(s.url.searchParams.get('$count'), 'true');
});

test('refused again as an advanced query: InvalidSettings naming USERS_FILTER with Graph\'s message, after exactly one retry', async () => {
  const message = "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'.";
  handler = (_req, res) => graphError(res, 400, 'Request_UnsupportedQuery', message);
  await assert.rejects(
    list("endsWith(displayName,'x')"),
    (e: unknown) =>
      e instanceof ExportError &&
      e.code === 'InvalidSettings' &&
      e.exitCode === 2 &&
      e.message.includes('USERS_FILTER') &&
      e.message.includes(`Request_UnsupportedQuery: ${message}`) &&
      /even as an advanced query/.test(e.message),
  );
  assert.deepEqual(seen.map((s) => s.consistencyLevel), [undefined, 'eventual']);
});

test('no USERS_FILTER: a Request_UnsupportedQuery is a configuration error at once, without an advanced retry', async () => {
  handler = (_req, res) => graphError(res, 400, 'Request_UnsupportedQuery', 'Unsupported Query.');
  await assert.rejects(list(undefined), (e: unknown) => e instanceof ExportError && e.code === 'InvalidSettings' && /USERS_SELECT/.test(e.message) && /Unsupported Query\./.test(e.message));
  assert.equal(seen.length, 1);
});

test('another 400 (Request_BadRequest) to a filter is not retried as an advanced query', async () => {
  handler = (_req, res) => graphError(res, 400, 'Request_BadRequest', "Could not find a property named 'nope' on type 'microsoft.graph.user'.");
  const run: Run = { ids: [], restarted: 0, advanced: [], log: [] };
  await assert.rejects(list("nope eq 'x'", run), (e: unknown) => e instanceof ExportError && e.code === 'InvalidSettings' && /USERS_SELECT/.test(e.message) && /USERS_FILTER/.test(e.message));
  assert.equal(seen.length, 1);
  assert.deepEqual(run.advanced, []);
});

test('a standard filter Graph accepts: no header, no $count, no switch', async () => {
  handler = (req, res, url) => servePage(req, res, url, Number(url.searchParams.get('$skiptoken') ?? 0), 2);
  const run = await list('accountEnabled eq true');
  assert.deepEqual(run.ids, expectedIds(2));
  assert.deepEqual(run.advanced, []);
  for (const s of seen) {
    assert.equal(s.consistencyLevel, undefined);
    assert.equal(s.url.searchParams.has('$count'), false);
  }
});
