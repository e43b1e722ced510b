/**
 * src/storage.ts:
 * - snapshotPaths: where a run's blobs go;
 * - SnapshotBlobWriter against a recording BlockBlobClient: bytes cut into 4 MiB blocks across write
 *   boundaries, nothing lost or reordered when block buffers are recycled, a bounded number of stages in
 *   flight, the sha256 and size of what is stored, gzip, and callers free to reuse their buffers.
 *   (The integration tests' tenants fit in one block; this covers the multi-block path.);
 * - openContainer puts the run's per-attempt timeout into the Storage SDK's own pipeline, which the SDK does
 *   not offer through its options (storage.ts reaches its client pipeline): against a server that accepts
 *   requests and never answers, every attempt times out and the call fails within its bounded tries. If a
 *   new @azure/storage-blob moved that pipeline, this test fails (the call would hang, or openContainer throw).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { BlockBlobClient } from '@azure/storage-blob';
import { openContainer, snapshotPaths, SnapshotBlobWriter } from '../../src/storage.js';
import { createTransport } from '../../src/transport.js';
import { localServer } from '../helpers/loopback.js';

const MiB = 1024 * 1024;

test('snapshot layout follows README "Output"', () => {
  const started = new Date('2026-03-04T05:06:07.890Z');
  const runId = '20260304T050607Z-0123abcd';
  assert.deepEqual(snapshotPaths(runId, started, 'json', 'none'), {
    folder: `snapshots/2026/03/04/${runId}`,
    usersBlob: `snapshots/2026/03/04/${runId}/users.json`,
    manifestBlob: `snapshots/2026/03/04/${runId}/manifest.json`,
  });
  assert.equal(snapshotPaths(runId, started, 'ndjson', 'gzip').usersBlob, `snapshots/2026/03/04/${runId}/users.ndjson.gz`);
  assert.equal(snapshotPaths(runId, started, 'json', 'gzip').usersBlob, `snapshots/2026/03/04/${runId}/users.json.gz`);
});

interface Recorder {
  client: BlockBlobClient;
  stored(): Buffer;
  blockSizes(): number[];
  maxInFlight(): number;
  commits(): number;
}

function recordingBlob(): Recorder {
  const blocks = new Map<string, Buffer>();
  let committed: string[] = [];
  let commits = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    name: 'snapshots/test/users.json',
    async stageBlock(id: string, body: Buffer, length: number): Promise<void> {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      // Read the body at the end of the "request", as a socket would: a buffer reused too early shows here.
      assert.equal(body.length, length);
      // Azure Storage refuses an empty block (400 InvalidHeaderValue, Content-Length 0; see stand-ins/azurite/strict.ts).
      assert.notEqual(length, 0, 'an empty Put Block, which Azure Storage refuses');
      blocks.set(id, Buffer.from(body));
      inFlight -= 1;
    },
    async commitBlockList(ids: string[]): Promise<void> {
      committed = ids;
      commits += 1;
    },
  };
  return {
    client: client as unknown as BlockBlobClient,
    stored: () => Buffer.concat(committed.map((id) => blocks.get(id)!)),
    blockSizes: () => committed.map((id) => blocks.get(id)!.length),
    maxInFlight: () => maxInFlight,
    commits: () => commits,
  };
}

/** Writes `data` in pieces of varied sizes through one reused buffer, overwritten right after each write. */
async function writeThroughScratch(writer: SnapshotBlobWriter, data: Buffer): Promise<void> {
  const scratch = Buffer.alloc(700 * 1024);
  const sizes = [1, 333_333, 699_999, 4096, 500_000];
  for (let offset = 0, i = 0; offset < data.length; i += 1) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - offset);
    data.copy(scratch, 0, offset, offset + n);
    const written = writer.write(scratch.subarray(0, n));
    scratch.fill(0x21); // the writer must already have what it keeps
    await written;
    offset += n;
  }
}

test('bytes cross 4 MiB block boundaries intact, with at most 4 stages in flight', async () => {
  const data = randomBytes(18 * MiB + 12_345);
  const blob = recordingBlob();
  const writer = new SnapshotBlobWriter(blob.client, { compression: 'none', contentType: 'application/json' });
  await writer.write('[');
  await writeThroughScratch(writer, data);
  const committed = await writer.commit({ runid: 'r' });
  const expected = Buffer.concat([Buffer.from('['), data]);
  assert.ok(blob.stored().equals(expected), 'the stored bytes are the written bytes, in order');
  assert.deepEqual(blob.blockSizes(), [4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB, expected.length - 16 * MiB]);
  assert.ok(blob.maxInFlight() <= 4, `at most 4 blocks in flight (saw ${blob.maxInFlight()})`);
  assert.equal(committed.bytes, expected.length);
  assert.equal(committed.sha256, createHash('sha256').update(expected).digest('hex'));
});

test('gzip: the stored bytes gunzip to what was written, and are what the sha256 describes', async () => {
  // Compressible but not trivially: JSON-ish lines with random ids.
  const lines: string[] = [];
  for (let i = 0; i < 60_000; i += 1)
    lines.push(`{"id":"${randomBytes(8).toString('hex')}","displayName":"User ${i}","accountEnabled":true}\n`);
  const data = Buffer.from(lines.join(''));
  const blob = recordingBlob();
  const writer = new SnapshotBlobWriter(blob.client, { compression: 'gzip', contentType: 'application/x-ndjson' });
  await writeThroughScratch(writer, data);
  const committed = await writer.commit({ runid: 'r' });
  const stored = blob.stored();
  assert.ok(gunzipSync(stored).equals(data));
  assert.equal(committed.bytes, stored.length);
  assert.equal(committed.sha256, createHash('sha256').update(stored).digest('hex'));
});

test('an empty file stages no block and commits an empty block list (Azure refuses an empty block)', async () => {
  const blob = recordingBlob();
  const writer = new SnapshotBlobWriter(blob.client, { compression: 'none', contentType: 'application/x-ndjson' });
  await writer.write('');
  const committed = await writer.commit({ runid: 'r' });
  assert.deepEqual(blob.blockSizes(), []);
  assert.equal(blob.commits(), 1, 'committed once: the empty blob becomes visible complete');
  assert.equal(committed.bytes, 0);
  assert.equal(committed.sha256, createHash('sha256').digest('hex'));
});

test('a reset writer that ends empty commits an empty block list too', async () => {
  const blob = recordingBlob();
  const writer = new SnapshotBlobWriter(blob.client, { compression: 'none', contentType: 'application/x-ndjson' });
  await writer.write('{"id":"1"}\n');
  await writer.reset();
  const committed = await writer.commit({ runid: 'r' });
  assert.deepEqual(blob.blockSizes(), []);
  assert.equal(committed.bytes, 0);
});

let requests = 0;
const silent = localServer(() => {
  requests += 1; // never answers
});

test('a Storage server that never answers: each attempt times out, the tries are bounded, the error says so', async () => {
  const transport = createTransport({ requestTimeoutMs: 300 });
  const key = Buffer.from('key').toString('base64');
  const container = openContainer(
    {
      kind: 'connectionString',
      connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=${silent.endpoint}/devstoreaccount1;`,
    },
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
