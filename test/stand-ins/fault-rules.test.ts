/**
 * The stand-ins' shared fault-rule engine (stand-ins/fault-rules.ts) and the two ways it counts `nth`, and the
 * storage fault proxy built on it and on the shared socket tracker (stand-ins/server-group.ts): a rule fires on
 * the request it names and no other, a hung request is let go when the proxy closes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import { FaultRules, type Firing } from '../../stand-ins/fault-rules.js';
import { startFaultProxy } from '../../stand-ins/fault-proxy/index.js';

interface Rule extends Firing {
  target: string;
  id: string;
}

const byTarget = (): FaultRules<Rule, { target: string; ordinal?: number }> =>
  new FaultRules((rule, request) => rule.target === request.target);

test('nth counts the requests a rule matched since it was added; the first rule added wins; times spends firings', () => {
  const rules = byTarget();
  rules.add({ target: 'a', id: 'a-2nd', nth: 2 });
  rules.add({ target: 'a', id: 'a-any', times: 2 });
  rules.add({ target: 'b', id: 'b-always', times: Infinity });
  const fired = ['a', 'a', 'a', 'a', 'b', 'b', 'b'].map((target) => rules.take({ target })?.id ?? '-');
  assert.deepEqual(fired, ['a-any', 'a-2nd', 'a-any', '-', 'b-always', 'b-always', 'b-always']);

  rules.add({ target: 'a', id: 'late', nth: 1 });
  assert.equal(rules.take({ target: 'a' })?.id, 'late', 'counted from when it was added, not from the first request');
  rules.clear((rule) => rule.target === 'b');
  assert.equal(rules.take({ target: 'b' }), undefined);
});

test("with an ordinal, nth is the request's own number (the simulated tenant counts per service over its life)", () => {
  const rules = new FaultRules<Rule, { target: string; ordinal: number }>(
    (rule, request) => rule.target === request.target,
    (request) => request.ordinal,
  );
  rules.add({ target: 'graph', id: 'third', nth: 3 });
  assert.equal(rules.take({ target: 'graph', ordinal: 2 }), undefined);
  assert.equal(rules.take({ target: 'graph', ordinal: 3 })?.id, 'third');
  assert.equal(rules.take({ target: 'graph', ordinal: 3 }), undefined, 'spent');
});

test('a rule that could never fire is refused', () => {
  const rules = byTarget();
  assert.throws(() => rules.add({ target: 'a', id: 'x', times: 0 }), /times must be > 0/);
  assert.throws(() => rules.add({ target: 'a', id: 'x', nth: 0 }), /nth must be a positive integer/);
  assert.throws(() => rules.add({ target: 'a', id: 'x', nth: 1.5 }), /nth must be a positive integer/);
});

function send(url: string, method: string): Promise<{ status: number; code: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-ms-error-code'] as string | undefined, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('the fault proxy fires a rule on its nth matching call only, answers as Azure Storage, and lets a hung request go on close', async () => {
  const upstream = http.createServer((req, res) => {
    res.writeHead(201, { 'content-type': 'text/plain' });
    res.end(`upstream ${req.method} ${req.url}`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as net.AddressInfo).port;
  const proxy = await startFaultProxy({ blobEndpoint: `http://127.0.0.1:${port}/devstoreaccount1` });
  try {
    const stage = (container: string): string => `${proxy.blobEndpoint}/${container}/snapshots/users.json?comp=block&blockid=AAAA`;
    proxy.addRule({ call: 'block-stage', container: 'c1', nth: 2, fault: { kind: 'status', status: 503 } });
    proxy.addRule({ call: 'block-stage', container: 'c2', fault: { kind: 'status', status: 500 } });
    proxy.clearRules('c2');

    const first = await send(stage('c1'), 'PUT');
    const second = await send(stage('c1'), 'PUT');
    const third = await send(stage('c1'), 'PUT');
    const other = await send(stage('c2'), 'PUT');
    assert.deepEqual([first.status, second.status, third.status, other.status], [201, 503, 201, 201]);
    assert.equal(second.code, 'ServerBusy');
    assert.match(second.body, /^<\?xml version="1\.0" encoding="utf-8"\?><Error><Code>ServerBusy<\/Code><Message>/);
    assert.equal(first.body, 'upstream PUT /devstoreaccount1/c1/snapshots/users.json?comp=block&blockid=AAAA');
    assert.deepEqual(
      { forwarded: proxy.stats.forwarded, faults: proxy.stats.faultsInjected, byContainer: proxy.stats.faultsByContainer },
      { forwarded: 3, faults: 1, byContainer: { c1: 1 } },
    );

    proxy.addRule({ call: 'latest-get', fault: { kind: 'hang' } });
    const hung = send(`${proxy.blobEndpoint}/c1/latest.json`, 'GET');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await proxy.close();
    await assert.rejects(hung, /socket hang up|ECONNRESET/);
    assert.deepEqual(
      proxy.requests.map((r) => r.status),
      [201, 503, 201, 201, 'hang'],
    );
  } finally {
    await proxy.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});
