/**
 * listUserPages reads every page one way — from its bytes, by page-scan.ts — against a local Graph stand-in
 * that sends each body byte for byte: a page with line breaks or pretty-printing still gives each user's
 * tokens exactly as sent (no JSON.parse + JSON.stringify: `-0`, big integers, `1e400` stay as they are), and
 * a page that is not one (a user that is not an object, bytes that are not UTF-8) stops the listing with
 * GraphProtocolError naming the page.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { beforeEach, test } from 'node:test';
import { ExportError } from '../../src/errors.js';
import { listUserPages } from '../../src/graph.js';
import { HttpClientWithRetries } from '../../src/http.js';
import { createTransport } from '../../src/transport.js';
import { localServer, loopbackHttpClient as loopback } from '../helpers/loopback.js';


/** The body of each page, by $skiptoken ('0' for the first page). */
let bodies: Map<string, Buffer>;
let requested: string[];

const graph = localServer((req, res) => {
  const page = new URL(req.url ?? '/', 'http://x').searchParams.get('$skiptoken') ?? '0';
  requested.push(page);
  const body = bodies.get(page);
  if (body === undefined) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8', 'content-length': body.length }).end(body);
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
    for (let i = 0; i < page.count; i += 1) users.push(page.elements.bytes.toString('utf8', page.elements.ranges[2 * i], page.elements.ranges[2 * i + 1]));
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
  const pretty = (user: string): string => user.replace(/^\{/, '{\r\n\t\t').replace(/,"/g, ' ,\r\n\t\t"').replace(/":/g, '" :\t').replace(/\}$/, '\r\n\t}');
  bodies.set('0', Buffer.from(`{\r\n\t"@odata.context" : "${graph.endpoint}/v1.0/$metadata#users(id)",\r\n\t"@odata.nextLink" : ${JSON.stringify(link(1))},\r\n\t"value" : [\r\n\t${EXACT.map(pretty).join(',\r\n\t')}\r\n\t]\r\n}\r\n`));
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
      (e: unknown) => e instanceof ExportError && e.code === 'GraphProtocolError' && e.exitCode === 1 && /\(next page\) \(page 1 of the listing\) with a page that has an element of 'value' that is not an object, so not a user: element 1 /.test(e.message),
      element,
    );
  }
});

test('bytes that are not UTF-8 are a GraphProtocolError, never decoded to U+FFFD and stored', async () => {
  for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    bodies.set('0', Buffer.concat([Buffer.from('{"value":[{"id":"'), Buffer.from(bad), Buffer.from('"}]}')]));
    await assert.rejects(storedUsers(), (e: unknown) => e instanceof ExportError && e.code === 'GraphProtocolError' && /Page 0 of the listing is not valid UTF-8/.test(e.message), bad.join(','));
  }
});

test('a page that starts with U+00A0 (whitespace to \\s, not to JSON) is refused, and its next link is not requested early', async () => {
  bodies.set('0', Buffer.from(`\u00a0{"@odata.nextLink":${JSON.stringify(link(1))},"value":[{"id":"1"}]}`));
  bodies.set('1', Buffer.from('{"value":[]}'));
  await assert.rejects(storedUsers(), (e: unknown) => e instanceof ExportError && e.code === 'GraphProtocolError' && /not JSON .*Page 0 of the listing is not valid JSON: byte 0 is 0xc2/.test(e.message));
  assert.deepEqual(requested, ['0'], 'the next page was never asked for');
});
