/** The HTTP pipeline against a local server: Retry-After honoured, bounded retries, per-attempt timeout. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { HttpClientWithRetries as Client, type HttpOptions, type RetryInfo } from '../../src/http.js';
import { createTransport } from '../../src/transport.js';
import { localServer, loopbackHttpClient as loopback } from '../helpers/loopback.js';

// The pipeline refuses plain http (as it should in production); this local test server speaks http, so
// the transport under the pipeline is told that this one connection may be insecure.
const HttpClientWithRetries = class extends Client {
  constructor(options: Partial<HttpOptions> = {}) {
    super({ ...createTransport().graph, ...options }, loopback);
  }
};

const script: Array<(res: http.ServerResponse) => void> = [];
const seen: number[] = [];

const server = localServer((_req, res) => {
  seen.push(Date.now());
  const next = script.shift();
  if (next) next(res);
  else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});

test('429 with Retry-After waits that long, then succeeds; retries are reported', async () => {
  seen.length = 0;
  script.push((res) => res.writeHead(429, { 'retry-after': '0.3' }).end('{}'));
  const retries: RetryInfo[] = [];
  const client = new HttpClientWithRetries({ onRetry: (r) => retries.push(r) });
  const result = await client.send('GET', `${server.endpoint}/a`);
  assert.equal(result.status, 200);
  assert.equal(retries.length, 1);
  assert.equal(retries[0]!.status, 429);
  assert.ok(seen[1]! - seen[0]! >= 280, `waited ${seen[1]! - seen[0]!} ms for Retry-After 0.3 s`);
});

test('retries are bounded: the last 503 is returned after maxRetries', async () => {
  for (let i = 0; i < 3; i += 1) script.push((res) => res.writeHead(503, { 'retry-after': '0' }).end('{}'));
  const client = new HttpClientWithRetries({ maxRetries: 2 });
  const result = await client.send('GET', `${server.endpoint}/b`);
  assert.equal(result.status, 503);
  assert.equal(script.length, 0, 'exactly three attempts');
});

test('an attempt that hangs past the timeout is retried', async () => {
  script.push(() => undefined); // never answers
  const retries: RetryInfo[] = [];
  // Not tiny: the second attempt, answered at once, must finish within it too, and on a busy machine a local
  // answer can take a second to be read (one more timeout would be one more retry than expected).
  const client = new HttpClientWithRetries({ attemptTimeoutInMs: 3000, retryDelayInMs: 10, onRetry: (r) => retries.push(r) });
  const result = await client.send('GET', `${server.endpoint}/c`);
  assert.equal(result.status, 200);
  assert.equal(retries.length, 1);
  assert.equal(retries[0]!.error, 'ETIMEDOUT');
});

test('a request that always hangs fails with a timeout after bounded attempts', async () => {
  for (let i = 0; i < 2; i += 1) script.push(() => undefined);
  const client = new HttpClientWithRetries({ attemptTimeoutInMs: 150, retryDelayInMs: 10, maxRetries: 1 });
  await assert.rejects(
    client.send('GET', `${server.endpoint}/d`),
    (e: Error & { code?: string }) => e.code === 'ETIMEDOUT' && /no response within/.test(e.message),
  );
});

test('sendStreaming: a 200 body is shown chunk by chunk and returned whole; other statuses are read as text and retried as before', async () => {
  script.push((res) => res.writeHead(503, { 'retry-after': '0' }).end('{"error":{"code":"busy"}}'));
  const chunks: Array<[offset: number, text: string]> = [];
  const retries: RetryInfo[] = [];
  const client = new HttpClientWithRetries({ onRetry: (r) => retries.push(r) });
  const ok = await client.sendStreaming('GET', `${server.endpoint}/e`, {
    onChunk: (chunk, offset) => chunks.push([offset, chunk.toString()]),
  });
  assert.equal(ok.status, 200);
  assert.equal(ok.body, '{"ok":true}');
  assert.equal(chunks[0]?.[0], 0, 'the first chunk is at offset 0');
  assert.equal(chunks.map(([, text]) => text).join(''), '{"ok":true}');
  assert.deepEqual(
    retries.map((r) => r.status),
    [503],
  );

  script.push((res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"nope"}}'));
  chunks.length = 0;
  const missing = await client.sendStreaming('GET', `${server.endpoint}/f`, {
    onChunk: (chunk, offset) => chunks.push([offset, chunk.toString()]),
  });
  assert.equal(missing.status, 404);
  assert.equal(missing.body, '{"error":{"code":"nope"}}');
  assert.equal(chunks.length, 0, 'only a 200 body is streamed');
});
