/**
 * listUserPages against a local Graph stand-in that controls each page's body byte by byte: the next page is
 * requested while the current body is still arriving, and a body that stalls, breaks off or is cut short is
 * retried (bounded), its retries counted, and no request is left running behind the listing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, beforeEach, test } from 'node:test';
import { ExportError } from '../../src/errors.js';
import { listUserPages } from '../../src/graph.js';
import { createTransport } from '../../src/transport.js';
import { HttpClientWithRetries, type HttpOptions, type RetryInfo } from '../../src/http.js';
import { localServer, loopbackHttpClient as loopback } from '../helpers/loopback.js';


/** What the stand-in does with one request: `page` is '0' for the first page, else the $skiptoken; `attempt` counts from 1 per page. */
type PageHandler = (req: http.IncomingMessage, res: http.ServerResponse, page: string, attempt: number) => void;

interface Seen {
  page: string;
  attempt: number;
  /** Set when the client closed the connection before the response was complete. */
  abandoned: boolean;
}

let handler: PageHandler;
let seen: Seen[] = [];
const attemptsByPage = new Map<string, number>();
/** Called on every request, after it is recorded: lets a handler wait for a later request. */
const arrivals = new Set<() => void>();

const graph = localServer((req, res) => {
  const page = new URL(req.url ?? '/', 'http://x').searchParams.get('$skiptoken') ?? '0';
  const attempt = (attemptsByPage.get(page) ?? 0) + 1;
  attemptsByPage.set(page, attempt);
  const record: Seen = { page, attempt, abandoned: false };
  seen.push(record);
  res.on('close', () => (record.abandoned = !res.writableFinished));
  for (const arrived of arrivals) arrived();
  handler(req, res, page, attempt);
});
beforeEach(() => {
  seen = [];
  attemptsByPage.clear();
  arrivals.clear();
});

const USERS_PER_PAGE = 400;
/** The attempt timeout of the tests where a stalled body must time out (see the stall test). */
const ATTEMPT_TIMEOUT_MS = 3000;

function link(page: number): string {
  return `${graph.endpoint}/v1.0/users?$select=id,displayName&$top=999&$skiptoken=${page}`;
}

/** Page `n` of `pages` as Graph writes it: context, nextLink, then value (~40 KB, several TCP chunks). */
function pageBody(n: number, pages: number): Buffer {
  const users = Array.from({ length: USERS_PER_PAGE }, (_, i) => JSON.stringify({ id: `u${n}-${i}`, displayName: `User ${n}-${i} ${'x'.repeat(60)}` }));
  const next = n + 1 < pages ? `,"@odata.nextLink":${JSON.stringify(link(n + 1))}` : '';
  return Buffer.from(`{"@odata.context":"${graph.endpoint}/v1.0/$metadata#users(id,displayName)"${next},"value":[${users.join(',')}]}`);
}

function pageIndex(page: string): number {
  return Number(page);
}

function sendWhole(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
}

/** Writes the headers and the first `bytes` of `body` now; returns a function that writes the rest. */
function sendHead(res: http.ServerResponse, body: Buffer, bytes: number): () => void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.write(body.subarray(0, bytes));
  return () => res.end(body.subarray(bytes));
}

interface Run {
  users: string[];
  pages: number;
  retries: RetryInfo[];
}

async function list(httpOptions: Partial<HttpOptions> = {}, stopAfter = Infinity, run: Run = { users: [], pages: 0, retries: [] }): Promise<Run> {
  const client = new HttpClientWithRetries({ ...createTransport().graph, retryDelayInMs: 10, ...httpOptions, onRetry: (r) => run.retries.push(r) }, loopback);
  for await (const page of listUserPages({
    graphEndpoint: graph.endpoint,
    select: ['id', 'displayName'],
    tokens: { getToken: async () => 'token' },
    http: client,
  })) {
    for (let i = 0; i < page.count; i += 1) {
      const user = JSON.parse(page.elements.bytes.toString('utf8', page.elements.ranges[2 * i], page.elements.ranges[2 * i + 1])) as Record<string, unknown>;
      run.users.push(String(user['id']));
    }
    run.pages += 1;
    if (run.pages >= stopAfter) break;
  }
  return run;
}

function expectedUsers(pages: number): string[] {
  return Array.from({ length: pages }, (_, n) => Array.from({ length: USERS_PER_PAGE }, (_, i) => `u${n}-${i}`)).flat();
}

/** Resolves once the stand-in has seen a request for `page`, or after `ms` (then false). */
function requestFor(page: string, ms: number): Promise<boolean> {
  if (seen.some((s) => s.page === page)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), ms);
    const check = (): void => {
      if (seen.some((s) => s.page === page)) done(true);
    };
    function done(result: boolean): void {
      clearTimeout(timer);
      arrivals.delete(check);
      resolve(result);
    }
    arrivals.add(check);
  });
}

test('page n+1 is requested while page n is still arriving: the rest of page n waits for that request', async () => {
  const pages = 3;
  const early: boolean[] = [];
  handler = (_req, res, page) => {
    const n = pageIndex(page);
    const body = pageBody(n, pages);
    if (n + 1 >= pages) return sendWhole(res, body);
    // Just past the start of `value`: the link is there, most of the page is not.
    const rest = sendHead(res, body, body.indexOf('"value":[') + 200);
    // Held until the client asks for the next page (30 s at most, so that a failure is an assertion, not a hang;
    // a busy machine may take seconds to get there).
    void requestFor(String(n + 1), 30_000).then((asked) => {
      early.push(asked);
      rest();
    });
  };
  const run = await list();
  assert.deepEqual(early, [true, true], 'each next page was requested before the previous body was complete');
  assert.deepEqual(run.users, expectedUsers(pages));
  assert.deepEqual(seen.map((s) => s.page), ['0', '1', '2'], 'each page requested exactly once');
  assert.equal(run.retries.length, 0);
});

test('a body that stalls mid-way is abandoned after the attempt timeout and the page is fetched again', async () => {
  const pages = 3;
  handler = (_req, res, page, attempt) => {
    const body = pageBody(pageIndex(page), pages);
    if (page === '1' && attempt === 1) sendHead(res, body, Math.floor(body.length / 2)); // and nothing more
    else sendWhole(res, body);
  };
  // Every other attempt must finish within the timeout, so it is not tiny: a busy machine can take a second to
  // read a page, and an unfaulted attempt that times out adds a retry this test does not expect.
  const run = await list({ attemptTimeoutInMs: ATTEMPT_TIMEOUT_MS });
  assert.deepEqual(run.users, expectedUsers(pages), 'every user once, in order');
  assert.deepEqual(run.retries.map((r) => [r.attempt, r.error]), [[2, 'ETIMEDOUT']]);
  // What ended the stalled attempt is its timeout (ETIMEDOUT above), not the time between arrivals: the
  // stand-in sees a request late when the event loop is busy (page 1 is sent while page 0 is still being
  // read), which once made the gap 353 ms for a 400 ms timeout, and Node's timers count from the loop's
  // cached clock, so even the client's own gap can be a little under the timeout.
  const stalled = seen.find((s) => s.page === '1' && s.attempt === 1)!;
  assert.ok(stalled.abandoned, 'the stalled connection was closed by the client');
  assert.equal(seen.filter((s) => s.page === '2').length, 1, 'the next page was not requested twice');
});

for (const [what, breakOff] of [
  ['reset', (res: http.ServerResponse) => res.socket?.destroy()],
  ['cut short (the server closes before Content-Length bytes)', (res: http.ServerResponse) => res.socket?.end()],
] as const) {
  test(`a body ${what} mid-way is fetched again`, async () => {
    const pages = 3;
    handler = (_req, res, page, attempt) => {
      const body = pageBody(pageIndex(page), pages);
      if (page === '1' && attempt === 1) {
        sendHead(res, body, Math.floor(body.length / 2));
        setTimeout(() => breakOff(res), 50);
      } else {
        sendWhole(res, body);
      }
    };
    const run = await list({ attemptTimeoutInMs: 10_000 });
    assert.deepEqual(run.users, expectedUsers(pages), 'every user once, in order');
    assert.deepEqual(run.retries.map((r) => [r.attempt, r.error]), [[2, 'ECONNRESET']]);
    assert.deepEqual(seen.map((s) => `${s.page}#${s.attempt}`).sort(), ['0#1', '1#1', '1#2', '2#1'], 'page 1 twice, every other page once');
  });
}

test('a gzip body (the pipeline asks for gzip) streams too, and one that breaks off is retried by the attempt timeout', async () => {
  // The SDK pipes a gzip body through a decoder that is not told when its source breaks off: such a body
  // looks stalled, so the attempt timeout is what ends it.
  const pages = 3;
  let gzipped = 0;
  handler = (req, res, page, attempt) => {
    const body = gzipSync(pageBody(pageIndex(page), pages));
    assert.match(String(req.headers['accept-encoding']), /gzip/);
    gzipped += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
    if (page === '1' && attempt === 1) {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      setTimeout(() => res.socket?.destroy(), 50);
    } else {
      res.end(body);
    }
  };
  const run = await list({ attemptTimeoutInMs: ATTEMPT_TIMEOUT_MS });
  assert.deepEqual(run.users, expectedUsers(pages));
  assert.deepEqual(run.retries.map((r) => [r.attempt, r.error]), [[2, 'ETIMEDOUT']]);
  assert.equal(gzipped, 4);
});

test('a body that keeps breaking off fails the run with GraphFailed after maxRetries retries', async () => {
  const pages = 3;
  handler = (_req, res, page) => {
    const body = pageBody(pageIndex(page), pages);
    if (page === '0') return sendWhole(res, body);
    if (page === '2') return; // the speculative request: never answered, so it must be closed by the client
    sendHead(res, body, 1000);
    setTimeout(() => res.socket?.destroy(), 20);
  };
  const run: Run = { users: [], pages: 0, retries: [] };
  await assert.rejects(
    list({ maxRetries: 2, attemptTimeoutInMs: 10_000 }, Infinity, run),
    (e: unknown) =>
      e instanceof ExportError &&
      e.code === 'GraphFailed' &&
      e.exitCode === 1 &&
      /Listing users from Microsoft Graph .*\(next page\).* failed: .*response body/.test(e.message) &&
      /ECONNRESET/.test(e.message) &&
      /on attempt 3 of 3/.test(e.message),
  );
  assert.equal(seen.filter((s) => s.page === '1').length, 3, 'one attempt and two retries');
  assert.deepEqual(run.retries.map((r) => [r.attempt, r.error]), [[2, 'ECONNRESET'], [3, 'ECONNRESET']], 'both retries reported (the manifest counts them)');
  assert.equal(seen.filter((s) => s.page === '2').length, 1, 'page 2 was asked for once');
  await waitFor(() => seen.find((s) => s.page === '2')!.abandoned);
});

test('a page whose leading nextLink the full read does not confirm (a second @odata.nextLink) stops the listing, and the early request is aborted', async () => {
  // JSON.parse keeps the last of duplicate names, another reader the first: the page is ambiguous (RFC 8259 §4),
  // so neither link is followed; the request made on the leading one (page 9) must not be left running.
  handler = (_req, res, page) => {
    if (page === '9') return; // never answers: the client must close it, or it would hang the listing's end
    const body = pageBody(pageIndex(page), 2);
    if (page !== '0') return sendWhole(res, body);
    const text = body.toString().replace(`"@odata.nextLink":${JSON.stringify(link(1))}`, `"@odata.nextLink":${JSON.stringify(link(9))}`).replace(/\}$/, `,"@odata.nextLink":${JSON.stringify(link(1))}}`);
    // The rest (with the second link) once page 9 was asked for: the early request is certainly under way.
    const rest = sendHead(res, Buffer.from(text), text.indexOf('"value":[') + 200);
    void requestFor('9', 2000).then(rest);
  };
  const run: Run = { users: [], pages: 0, retries: [] };
  await assert.rejects(list({}, Infinity, run), (e: unknown) => e instanceof ExportError && e.code === 'GraphProtocolError' && e.exitCode === 1 && /page 0 .*two members named "@odata\.nextLink"/.test(e.message));
  assert.deepEqual(run.users, [], 'no user of the ambiguous page was stored');
  assert.deepEqual(seen.map((s) => s.page), ['0', '9']);
  await waitFor(() => seen[1]!.abandoned);
});

test('a consumer that stops early leaves no request running', async () => {
  handler = (_req, res, page) => {
    const body = pageBody(pageIndex(page), 5);
    if (page === '0') return sendWhole(res, body);
    sendHead(res, body, 500); // the rest never comes
  };
  const run = await list({}, 1);
  assert.equal(run.pages, 1);
  await waitFor(() => seen.length === 2 && seen[1]!.abandoned);
  assert.equal(seen[1]!.page, '1');
});

/** Polls until `condition` holds; `ms` only turns a failure into an assertion instead of a hang. */
async function waitFor(condition: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
