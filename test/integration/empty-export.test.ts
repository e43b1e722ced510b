/**
 * A tenant with no users (or a filter that matches nobody) exports successfully on Storage that refuses an
 * empty Put Block, as Azure does: the tests' Azurite answers it 400 InvalidHeaderValue (stand-ins/azurite/strict.ts).
 * ndjson is then an empty blob, json `[]`, gzip an empty gzip stream — each committed once, with its size
 * and sha256 in the manifest and latest.json.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { RestError } from '@azure/storage-blob';
import { azureRefusal } from '../../stand-ins/azurite/strict.js';
import { assertSnapshot, download, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

const SHA256_OF_NOTHING = createHash('sha256').update(Buffer.alloc(0)).digest('hex');

let world: World;
before(async () => {
  world = await startWorld({ userCount: 0 });
});
after(async () => world?.close());

async function exportEmpty(
  overrides: Record<string, string>,
): Promise<{ stored: Buffer; manifest: Record<string, unknown>; env: Record<string, string | undefined> }> {
  const env = workingEnv(world, 'certificate-pfx', overrides);
  const result = await runExport(env);
  const { users, manifest } = await assertSnapshot(world, env, result, { userCount: 0 });
  assert.equal(users.length, 0);
  assert.equal(manifest['userCount'], 0);
  assert.equal(result.summary?.['userCount'], 0);
  const container = world.container(env['EXPORT_CONTAINER']!);
  const blobName = String(manifest['blobName']);
  const stored = await download(container, blobName);
  // The blob's own record of itself agrees with the manifest (its metadata is what a lost commit is checked by).
  const properties = await container.getBlobClient(blobName).getProperties();
  assert.equal(properties.contentLength, stored.length);
  assert.equal(properties.metadata?.['sha256'], manifest['sha256']);
  assert.equal(properties.metadata?.['usercount'], '0');
  return { stored, manifest, env };
}

test('the test Storage refuses an empty Put Block as Azure does: 400 InvalidHeaderValue naming Content-Length 0', async () => {
  const container = world.container('empty-put-block');
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient('b');
  const id = Buffer.from('block-0').toString('base64');
  const refused = await blob.stageBlock(id, Buffer.alloc(0), 0).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(refused instanceof RestError, `an empty block is refused (got ${String(refused)})`);
  assert.equal(refused.statusCode, 400);
  assert.equal(refused.code, 'InvalidHeaderValue');
  assert.match(String(refused.response?.bodyAsText), /<HeaderName>Content-Length<\/HeaderName><HeaderValue>0<\/HeaderValue>/);
  // What Azure accepts for empty content: an empty block list, or a single-shot empty upload.
  await blob.commitBlockList([]);
  assert.equal((await blob.getProperties()).contentLength, 0);
  const single = container.getBlockBlobClient('c');
  await single.upload('', 0);
  assert.equal((await single.getProperties()).contentLength, 0);
  // A non-empty block is still Azurite's to answer.
  await blob.stageBlock(id, Buffer.from('x'), 1);
});

test('only an empty Put Block is refused: not Put Block From URL, a non-empty block, an empty Put Blob or block list', () => {
  const block = '/devstoreaccount1/c/b?comp=block&blockid=QUJD';
  assert.equal(azureRefusal('PUT', block, { 'content-length': '0' })?.code, 'InvalidHeaderValue');
  assert.equal(azureRefusal('PUT', block, { 'content-length': '0', 'x-ms-copy-source': 'https://a.blob.core.windows.net/c/s' }), undefined);
  assert.equal(azureRefusal('PUT', block, { 'content-length': '1' }), undefined);
  assert.equal(azureRefusal('PUT', '/devstoreaccount1/c/b', { 'content-length': '0' }), undefined);
  assert.equal(azureRefusal('PUT', '/devstoreaccount1/c/b?comp=blocklist', { 'content-length': '50' }), undefined);
  assert.equal(azureRefusal('GET', block, {}), undefined);
});

test('ndjson, no users: an empty blob, sha256 of zero bytes, manifest and latest.json right', async () => {
  const { stored, manifest } = await exportEmpty({ EXPORT_FORMAT: 'ndjson' });
  assert.equal(stored.length, 0);
  assert.equal(manifest['bytes'], 0);
  assert.equal(manifest['sha256'], SHA256_OF_NOTHING);
});

test('json, no users: []', async () => {
  const { stored } = await exportEmpty({ EXPORT_FORMAT: 'json' });
  assert.equal(JSON.stringify(JSON.parse(stored.toString('utf8'))), '[]');
});

test('ndjson with gzip, no users: a gzip stream of nothing', async () => {
  const { stored, manifest } = await exportEmpty({ EXPORT_FORMAT: 'ndjson', EXPORT_COMPRESSION: 'gzip' });
  assert.ok(stored.length > 0, 'an empty gzip stream still has its header and trailer');
  assert.equal(gunzipSync(stored).length, 0);
  assert.equal(manifest['sha256'], createHash('sha256').update(stored).digest('hex'));
});
