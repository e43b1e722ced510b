/**
 * openContainer (src/storage.ts) puts the run's per-attempt timeout into the Storage SDK's own pipeline, which
 * the SDK does not offer through its options (storage.ts reaches its client pipeline): against a server that
 * accepts requests and never answers, every attempt times out and the call fails within its bounded tries.
 * If a new @azure/storage-blob moved that pipeline, this test fails (the call would hang, or openContainer throw).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openContainer } from '../../src/storage.js';
import { createTransport } from '../../src/transport.js';
import { localServer } from '../helpers/loopback.js';

let requests = 0;
const silent = localServer(() => {
  requests += 1; // never answers
});

test('a Storage server that never answers: each attempt times out, the tries are bounded, the error says so', async () => {
  const transport = createTransport({ requestTimeoutMs: 300 });
  const key = Buffer.from('key').toString('base64');
  const container = openContainer(
    { kind: 'connectionString', connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=${silent.endpoint}/devstoreaccount1;` },
    'c1',
    undefined as never,
    transport.storage,
  );
  await assert.rejects(container.getBlockBlobClient('b').getProperties(), (e: { code?: unknown }) => {
    assert.equal(e.code, 'ETIMEDOUT');
    return true;
  });
  // Retried, but no more than the tries the transport allows.
  assert.ok(requests > 1 && requests <= transport.storage.pipelineOptions.retryOptions.maxTries, `${requests} requests`);
});
