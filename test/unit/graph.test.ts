/**
 * src/graph.ts: listing /v1.0/users page by page, each section against what it needs —
 * - the first page's URL;
 * - paging over a canned transport (the SDK's HttpClient interface): rules that need no tenant;
 * - the next link read off the start of a page, to ask for the next page before this one has arrived;
 * - pages read from their bytes (page-scan.ts; its own cases: page-scan.test.ts), against a local Graph
 *   stand-in that sends each body byte for byte;
 * - streaming: the next page requested while the current body is still arriving; stalls and breaks retried;
 * - advanced queries: a filter Graph serves only as one, listed again with `ConsistencyLevel: eventual`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { beforeEach, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { ExportError } from '../../src/errors.js';
import { earlyNextLink, firstPageUrl, listUserPages, type ConsistencyLevel } from '../../src/graph.js';
import { HttpClientWithRetries, type HttpOptions, type RetryInfo } from '../../src/http.js';
import { createTransport } from '../../src/transport.js';
import { graphError as graphErrorBody } from '../../stand-ins/sim-tenant/errors.js';
import { sendJson } from '../../stand-ins/sim-tenant/http.js';
import { localServer, loopbackHttpClient as loopback } from '../helpers/loopback.js';

test('the first Graph page asks for $select, $filter and $top=999', () => {
  const url = new URL(firstPageUrl('https://graph.microsoft.us', ['id', 'displayName'], "userType eq 'Guest'"));
  assert.equal(url.origin + url.pathname, 'https://graph.microsoft.us/v1.0/users');
  assert.equal(url.searchParams.get('$select'), 'id,displayName');
  assert.equal(url.searchParams.get('$filter'), "userType eq 'Guest'");
  assert.equal(url.searchParams.get('$top'), '999');
  assert.equal(new URL(firstPageUrl('https://graph.microsoft.com', ['id'], undefined)).searchParams.has('$filter'), false);
});

describe('paging over a canned transport', () => {
  // listUserPages over a canned transport (the SDK's HttpClient interface): paging rules that need no tenant.

  const endpoint = 'https://graph.example';

  function transport(pages: (url: URL) => unknown, seen: string[]): HttpClient {
    return {
      sendRequest: async (request: PipelineRequest): Promise<PipelineResponse> => {
        seen.push(request.url);
        return {
          request,
          status: 200,
          headers: createHttpHeaders({ 'content-type': 'application/json' }),
          bodyAsText: JSON.stringify(pages(new URL(request.url))),
        };
      },
    };
  }

  async function collect(client: HttpClient): Promise<number> {
    let users = 0;
    for await (const page of listUserPages({
      graphEndpoint: endpoint,
      select: ['id'],
      tokens: { getToken: async () => 'token' },
      http: new HttpClientWithRetries(createTransport().graph, client),
    })) {
      users += page.count;
    }
    return users;
  }

  test('follows @odata.nextLink as given until it is absent', async () => {
    const seen: string[] = [];
    const users = await collect(
      transport((url) => {
        const n = Number(url.searchParams.get('$skiptoken') ?? 0);
        return {
          '@odata.context': 'x',
          ...(n < 2 ? { '@odata.nextLink': `${endpoint}/v1.0/users?$select=id&$top=999&$skiptoken=${n + 1}` } : {}),
          value: [{ id: `a${n}` }, { id: `b${n}` }],
        };
      }, seen),
    );
    assert.equal(users, 6);
    assert.equal(seen.length, 3);
    assert.match(seen[0]!, /\/v1\.0\/users\?%24select=id&%24top=999$/);
  });

  test('a nextLink that comes back again stops the export instead of looping', async () => {
    const seen: string[] = [];
    const loop = `${endpoint}/v1.0/users?$skiptoken=same`;
    await assert.rejects(
      collect(transport(() => ({ '@odata.nextLink': loop, value: [{ id: 'x' }] }), seen)),
      (e: unknown) => e instanceof ExportError && e.code === 'GraphProtocolError' && e.exitCode === 1 && /already returned/.test(e.message),
    );
    assert.ok(seen.length <= 3, `stopped after ${seen.length} requests`);
  });
});

describe('the next link read off the start of a page', () => {
  // The shortcut graph.ts takes on a page's first bytes — reading the next link off its start, to ask for the
  // next page before the page has arrived — must never disagree with a full read; in any doubt it gives up
  // (undefined), and the link read with the whole page is followed. (Cutting the users out of a page:
  // page-scan.test.ts.)

  const GRAPH = 'https://graph.microsoft.com';

  test('the next link is read off the start of a page, only when it goes to GRAPH_ENDPOINT', () => {
    const link = `${GRAPH}/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQAAAD8`;
    const page = (next: string, rest = ',"value":[]}'): string =>
      `{"@odata.context":"${GRAPH}/v1.0/$metadata#users(id)","@odata.nextLink":${JSON.stringify(next)}${rest}`;
    assert.equal(earlyNextLink(page(link), GRAPH), link);
    // JSON escapes in the link are decoded as the parse would.
    assert.equal(earlyNextLink(page(link).replace(/\//g, '\\/'), GRAPH), link);
    assert.equal(earlyNextLink(`{"@odata.nextLink":${JSON.stringify(link)},"value":[]}`, GRAPH), link);
    // Another host never gets the token, not even early.
    assert.equal(earlyNextLink(page('https://evil.example/v1.0/users?$skiptoken=x'), GRAPH), undefined);
    assert.equal(earlyNextLink(page('not a url'), GRAPH), undefined);
    // Not at the start (another order, or the last page): left to the full parse.
    assert.equal(earlyNextLink(`{"value":[],"@odata.nextLink":${JSON.stringify(link)}}`, GRAPH), undefined);
    assert.equal(earlyNextLink(`{"@odata.context":"x","value":[{"id":"1"}]}`, GRAPH), undefined);
    assert.equal(earlyNextLink('<html>proxy error</html>', GRAPH), undefined);
  });

  test('only what the full read accepts is read early: JSON whitespace, valid JSON strings, UTF-8', () => {
    const link = `${GRAPH}/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQAAAD8`;
    const head = (before: string, context = `"${GRAPH}/v1.0/$metadata#users"`): string =>
      `${before}{"@odata.context":${context},"@odata.nextLink":${JSON.stringify(link)},"value":[`;
    // RFC 8259 §2's whitespace — space, tab, LF, CR — anywhere between the tokens: read early.
    assert.equal(earlyNextLink(` \t\r\n{ \n"@odata.context" :\t"x" ,\r\n "@odata.nextLink"\n:\n${JSON.stringify(link)}`, GRAPH), link);
    // Whitespace to `\s` but not to JSON (page-scan refuses the page): never read early.
    for (const space of ['\u00a0', '\u2028', '\u2029', '\ufeff', '\u000b', '\u000c', '\u3000', '\u1680']) {
      const code = `U+${space.charCodeAt(0).toString(16).padStart(4, '0')}`;
      assert.equal(earlyNextLink(head(space), GRAPH), undefined, `${code} before the page`);
      assert.equal(earlyNextLink(`{"@odata.nextLink":${space}${JSON.stringify(link)}}`, GRAPH), undefined, `${code} before the link`);
    }
    // Strings JSON does not allow, in the context or the link: a raw control character, an unknown escape, a short \u.
    for (const bad of ['"a\tb"', '"a\u0001"', '"\\x41"', '"\\u12"', '"\\u12G4"', '"\\\'"']) {
      assert.equal(earlyNextLink(head('', bad), GRAPH), undefined, `context ${bad}`);
      assert.equal(earlyNextLink(`{"@odata.nextLink":${bad.replace(/^"/, `"${link}`)}}`, GRAPH), undefined, `link ${bad}`);
    }
    // Valid escapes are fine.
    assert.equal(earlyNextLink(head('', '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"'), GRAPH), link);
    // U+FFFD: what decoding made of bytes that are not UTF-8 (page-scan refuses those); left to the full read.
    assert.equal(earlyNextLink(head('', '"\ufffd"'), GRAPH), undefined);
  });
});

describe('pages read from their bytes', () => {
  // listUserPages reads every page one way — from its bytes, by page-scan.ts — against a local Graph stand-in
  // that sends each body byte for byte: a page with line breaks or pretty-printing still gives each user's
  // tokens exactly as sent (no JSON.parse + JSON.stringify: `-0`, big integers, `1e400` stay as they are), and
  // a page that is not one (a user that is not an object, bytes that are not UTF-8) stops the listing with
  // GraphProtocolError naming the page.

  /** The body of each page, by $skiptoken ('0' for the first page). */
  let bodies: Map<string, Buffer>;
  let requested: string[];

  const graph = localServer((req, res) => {
    const page = new URL(req.url ?? '/', 'http://x').searchParams.get('$skiptoken') ?? '0';
    requested.push(page);
    const body = bodies.get(page);
    if (body === undefined) return void res.writeHead(404).end();
    res
      .writeHead(200, {
        'content-type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8',
        'content-length': body.length,
      })
      .end(body);
  });
  beforeEach(() => {
    bodies = new Map();
    requested = [];
  });

  const link = (page: number): string => `${graph.endpoint}/v1.0/users?$select=id&$top=999&$skiptoken=${page}`;

  /** Each user of each page as the export would store it: the bytes listUserPages hands over, as text. */
  async function storedUsers(): Promise<string[]> {
    const users: string[] = [];
    for await (const page of listUserPages({
      graphEndpoint: graph.endpoint,
      select: ['id'],
      tokens: { getToken: async () => 'token' },
      http: new HttpClientWithRetries({ ...createTransport().graph, retryDelayInMs: 10 }, loopback),
    })) {
      for (let i = 0; i < page.count; i += 1)
        users.push(page.elements.bytes.toString('utf8', page.elements.ranges[2 * i], page.elements.ranges[2 * i + 1]));
    }
    return users;
  }

  /** Users whose tokens JSON.parse + JSON.stringify would change: -0, a big integer, 1e400, escapes, a kept "\/". */
  const EXACT = [
    String.raw`{"id":"1","a":-0,"b":12345678901234567890123,"c":1e400,"d":-1E-400,"e":0.10}`,
    String.raw`{"id":"2","displayName":"Zo\u00eb \"Z\"","url":"https:\/\/x","n":[1.0,2e0]}`,
  ];

  test('a page ending in a newline: every token stored exactly as sent', async () => {
    bodies.set('0', Buffer.from(`{"@odata.context":"${graph.endpoint}/v1.0/$metadata#users(id)","value":[${EXACT.join(',')}]}\n`));
    assert.deepEqual(await storedUsers(), EXACT);
  });

  test('pretty-printed pages (CRLF, tabs, a user over many lines): each user stored compact, tokens as sent', async () => {
    const pretty = (user: string): string =>
      user.replace(/^\{/, '{\r\n\t\t').replace(/,"/g, ' ,\r\n\t\t"').replace(/":/g, '" :\t').replace(/\}$/, '\r\n\t}');
    bodies.set(
      '0',
      Buffer.from(
        `{\r\n\t"@odata.context" : "${graph.endpoint}/v1.0/$metadata#users(id)",\r\n\t"@odata.nextLink" : ${JSON.stringify(link(1))},\r\n\t"value" : [\r\n\t${EXACT.map(pretty).join(',\r\n\t')}\r\n\t]\r\n}\r\n`,
      ),
    );
    bodies.set('1', Buffer.from(`{\n  "value": [\n    ${EXACT[0]}\n  ]\n}\n`));
    assert.deepEqual(await storedUsers(), [...EXACT, EXACT[0]]);
    assert.deepEqual(requested, ['0', '1']);
  });

  test('a user that is not an object is a GraphProtocolError naming the page, and nothing of it is stored', async () => {
    for (const element of ['null', '"u1"', '42', '[{"id":"1"}]', 'true']) {
      bodies.set('0', Buffer.from(`{"@odata.nextLink":${JSON.stringify(link(1))},"value":[{"id":"0"}]}`));
      bodies.set('1', Buffer.from(`{"value":[{"id":"1"},${element}]}`));
      await assert.rejects(
        storedUsers(),
        (e: unknown) =>
          e instanceof ExportError &&
          e.code === 'GraphProtocolError' &&
          e.exitCode === 1 &&
          /\(next page\) \(page 1 of the listing\) with a page that has an element of 'value' that is not an object, so not a user: element 1 /.test(
            e.message,
          ),
        element,
      );
    }
  });

  test('bytes that are not UTF-8 are a GraphProtocolError, never decoded to U+FFFD and stored', async () => {
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      bodies.set('0', Buffer.concat([Buffer.from('{"value":[{"id":"'), Buffer.from(bad), Buffer.from('"}]}')]));
      await assert.rejects(
        storedUsers(),
        (e: unknown) =>
          e instanceof ExportError && e.code === 'GraphProtocolError' && /Page 0 of the listing is not valid UTF-8/.test(e.message),
        bad.join(','),
      );
    }
  });

  test('a page that starts with U+00A0 (whitespace to \\s, not to JSON) is refused, and its next link is not requested early', async () => {
    bodies.set('0', Buffer.from(`\u00a0{"@odata.nextLink":${JSON.stringify(link(1))},"value":[{"id":"1"}]}`));
    bodies.set('1', Buffer.from('{"value":[]}'));
    await assert.rejects(
      storedUsers(),
      (e: unknown) =>
        e instanceof ExportError &&
        e.code === 'GraphProtocolError' &&
        /not JSON .*Page 0 of the listing is not valid JSON: byte 0 is 0xc2/.test(e.message),
    );
    assert.deepEqual(requested, ['0'], 'the next page was never asked for');
  });
});

describe('streaming: the next page asked for while this one arrives', () => {
  // listUserPages against a local Graph stand-in that controls each page's body byte by byte: the next page is
  // requested while the current body is still arriving, and a body that stalls, breaks off or is cut short is
  // retried (bounded), its retries counted, and no request is left running behind the listing.

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
    const users = Array.from({ length: USERS_PER_PAGE }, (_, i) =>
      JSON.stringify({ id: `u${n}-${i}`, displayName: `User ${n}-${i} ${'x'.repeat(60)}` }),
    );
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

  async function list(
    httpOptions: Partial<HttpOptions> = {},
    stopAfter = Infinity,
    run: Run = { users: [], pages: 0, retries: [] },
  ): Promise<Run> {
    const client = new HttpClientWithRetries(
      { ...createTransport().graph, retryDelayInMs: 10, ...httpOptions, onRetry: (r) => run.retries.push(r) },
      loopback,
    );
    for await (const page of listUserPages({
      graphEndpoint: graph.endpoint,
      select: ['id', 'displayName'],
      tokens: { getToken: async () => 'token' },
      http: client,
    })) {
      for (let i = 0; i < page.count; i += 1) {
        const user = JSON.parse(
          page.elements.bytes.toString('utf8', page.elements.ranges[2 * i], page.elements.ranges[2 * i + 1]),
        ) as Record<string, unknown>;
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
    assert.deepEqual(
      seen.map((s) => s.page),
      ['0', '1', '2'],
      'each page requested exactly once',
    );
    assert.equal(run.retries.length, 0);
  });

  test('a body that stalls mid-way is abandoned after the attempt timeout and the page is fetched again', async () => {
    const pages = 3;
    handler = (_req, res, page, attempt) => {
      const body = pageBody(pageIndex(page), pages);
      if (page === '1' && attempt === 1)
        sendHead(res, body, Math.floor(body.length / 2)); // and nothing more
      else sendWhole(res, body);
    };
    // Every other attempt must finish within the timeout, so it is not tiny: a busy machine can take a second to
    // read a page, and an unfaulted attempt that times out adds a retry this test does not expect.
    const run = await list({ attemptTimeoutInMs: ATTEMPT_TIMEOUT_MS });
    assert.deepEqual(run.users, expectedUsers(pages), 'every user once, in order');
    assert.deepEqual(
      run.retries.map((r) => [r.attempt, r.error]),
      [[2, 'ETIMEDOUT']],
    );
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
      assert.deepEqual(
        run.retries.map((r) => [r.attempt, r.error]),
        [[2, 'ECONNRESET']],
      );
      assert.deepEqual(
        seen.map((s) => `${s.page}#${s.attempt}`).sort(),
        ['0#1', '1#1', '1#2', '2#1'],
        'page 1 twice, every other page once',
      );
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
    assert.deepEqual(
      run.retries.map((r) => [r.attempt, r.error]),
      [[2, 'ETIMEDOUT']],
    );
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
    assert.deepEqual(
      run.retries.map((r) => [r.attempt, r.error]),
      [
        [2, 'ECONNRESET'],
        [3, 'ECONNRESET'],
      ],
      'both retries reported (the manifest counts them)',
    );
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
      const text = body
        .toString()
        .replace(`"@odata.nextLink":${JSON.stringify(link(1))}`, `"@odata.nextLink":${JSON.stringify(link(9))}`)
        .replace(/\}$/, `,"@odata.nextLink":${JSON.stringify(link(1))}}`);
      // The rest (with the second link) once page 9 was asked for: the early request is certainly under way.
      const rest = sendHead(res, Buffer.from(text), text.indexOf('"value":[') + 200);
      void requestFor('9', 2000).then(rest);
    };
    const run: Run = { users: [], pages: 0, retries: [] };
    await assert.rejects(
      list({}, Infinity, run),
      (e: unknown) =>
        e instanceof ExportError &&
        e.code === 'GraphProtocolError' &&
        e.exitCode === 1 &&
        /page 0 .*two members named "@odata\.nextLink"/.test(e.message),
    );
    assert.deepEqual(run.users, [], 'no user of the ambiguous page was stored');
    assert.deepEqual(
      seen.map((s) => s.page),
      ['0', '9'],
    );
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
});

describe('advanced queries', () => {
  // listUserPages and advanced queries, against a local Graph stand-in that records every request's headers:
  // a first page refused with 400 Request_UnsupportedQuery starts the listing again with `$count=true` and
  // `ConsistencyLevel: eventual` on every request — the page fetched ahead from the early `@odata.nextLink`
  // (which now follows `@odata.count`) and a listing restarted after an expired `$skiptoken` included — once only.

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

  const isAdvanced = (req: http.IncomingMessage, url: URL): boolean =>
    req.headers['consistencylevel'] === 'eventual' && url.searchParams.get('$count') === 'true';

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
        const user = JSON.parse(
          page.elements.bytes.toString('utf8', page.elements.ranges[2 * i], page.elements.ranges[2 * i + 1]),
        ) as Record<string, unknown>;
        run.ids.push(String(user['id']));
      }
    }
    return run;
  }

  const FILTER = "endsWith(mail,'@contoso.com')";
  const expectedIds = (pages: number): string[] => Array.from({ length: pages }, (_, n) => [`a${n}`, `b${n}`, `c${n}`]).flat();

  test('the early nextLink is read when @odata.count precedes it', () => {
    const link = `${graph.endpoint}/v1.0/users?$count=true&$skiptoken=1`;
    assert.equal(
      earlyNextLink(`{"@odata.context":"x","@odata.count":1234,"@odata.nextLink":${JSON.stringify(link)},"value":[`, graph.endpoint),
      link,
    );
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
    assert.match(
      run.log[0]!,
      /USERS_FILTER.*HTTP 400 Request_UnsupportedQuery: Operator 'endsWith' is not supported.*advanced query \(ConsistencyLevel: eventual, \$count=true\).*may lag/,
    );
  });

  test('a listing restarted after an expired $skiptoken stays an advanced query', async () => {
    const pages = 3;
    let expired = false;
    handler = (req, res, url) => {
      if (!isAdvanced(req, url)) return graphError(res, 400, 'Request_UnsupportedQuery', ENDSWITH_REFUSED);
      const n = Number(url.searchParams.get('$skiptoken') ?? 0);
      if (n === 2 && !expired) {
        expired = true;
        return graphError(
          res,
          400,
          'Directory_ExpiredPageToken',
          'The specified page token value has expired and can no longer be included in your request.',
        );
      }
      servePage(req, res, url, n, pages);
    };
    const run = await list(FILTER);
    assert.equal(run.restarted, 1);
    assert.deepEqual(run.ids, expectedIds(pages));
    assert.deepEqual(run.advanced, ['eventual'], 'switched once');
    const afterRefusal = seen.slice(1);
    assert.equal(
      afterRefusal.filter((s) => !s.url.searchParams.has('$skiptoken')).length,
      2,
      'the first page twice: the listing and its restart',
    );
    for (const s of afterRefusal) assert.equal(s.consistencyLevel, 'eventual', s.url.search);
    for (const s of afterRefusal.filter((x) => !x.url.searchParams.has('$skiptoken')))
      assert.equal(s.url.searchParams.get('$count'), 'true');
  });

  test("refused again as an advanced query: InvalidSettings naming USERS_FILTER with Graph's message, after exactly one retry", async () => {
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
    assert.deepEqual(
      seen.map((s) => s.consistencyLevel),
      [undefined, 'eventual'],
    );
  });

  test('no USERS_FILTER: a Request_UnsupportedQuery is a configuration error at once, without an advanced retry', async () => {
    handler = (_req, res) => graphError(res, 400, 'Request_UnsupportedQuery', 'Unsupported Query.');
    await assert.rejects(
      list(undefined),
      (e: unknown) =>
        e instanceof ExportError && e.code === 'InvalidSettings' && /USERS_SELECT/.test(e.message) && /Unsupported Query\./.test(e.message),
    );
    assert.equal(seen.length, 1);
  });

  test('another 400 (Request_BadRequest) to a filter is not retried as an advanced query', async () => {
    handler = (_req, res) =>
      graphError(res, 400, 'Request_BadRequest', "Could not find a property named 'nope' on type 'microsoft.graph.user'.");
    const run: Run = { ids: [], restarted: 0, advanced: [], log: [] };
    await assert.rejects(
      list("nope eq 'x'", run),
      (e: unknown) =>
        e instanceof ExportError && e.code === 'InvalidSettings' && /USERS_SELECT/.test(e.message) && /USERS_FILTER/.test(e.message),
    );
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
});
