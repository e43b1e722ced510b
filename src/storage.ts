/**
 * Blob Storage: the snapshot's users file is streamed into staged blocks and committed once (so it
 * becomes visible only when complete), optionally through gzip, with its SHA-256 and size computed on
 * the way; then `manifest.json` beside it; then `latest.json`, written last with a conditional write so
 * that concurrent runs never move it back to an older snapshot.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createGzip, type Gzip } from 'node:zlib';
import type { Pipeline, PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, type BlockBlobClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { ExportError, statusOf } from './errors.js';
import { describeAzureError } from './azure-errors.js';
import { attemptPolicy, retryBounds } from './http.js';
import type { ExportCompression, ExportFormat, StorageSetting } from './settings.js';

export const LATEST_BLOB = 'latest.json';
const BLOCK_SIZE = 4 * 1024 * 1024;
const STAGE_CONCURRENCY = 4;
const MAX_TRIES = 6;

export function openContainer(storage: StorageSetting, container: string, credential: TokenCredential, options: { requestTimeoutMs: number }): ContainerClient {
  const bounds = retryBounds(options.requestTimeoutMs);
  const pipelineOptions: StoragePipelineOptions = {
    // tryTimeoutInMs is only the server-side `timeout` parameter; the client side is attemptPolicy below.
    retryOptions: { maxTries: MAX_TRIES, tryTimeoutInMs: bounds.attemptTimeoutInMs, retryDelayInMs: 800, maxRetryDelayInMs: bounds.maxRetryDelayInMs },
    userAgentOptions: { userAgentPrefix: 'entra-users-export' },
  };
  const service =
    storage.kind === 'connectionString'
      ? BlobServiceClient.fromConnectionString(storage.connectionString, pipelineOptions)
      : new BlobServiceClient(storage.blobServiceUri, credential, pipelineOptions);
  addPerTryPolicies(service, bounds.attemptTimeoutInMs);
  return service.getContainerClient(container);
}

/**
 * The Storage SDK sets no client-side timeout (a hung connection hangs the run) and retries 500/503 but
 * not 429. Its pipeline takes no per-retry policies through its options, so they are added to the core
 * pipeline of the service client, which every container and blob client made from it shares.
 */
function addPerTryPolicies(service: BlobServiceClient, timeoutInMs: number): void {
  const pipeline = (service as unknown as { storageClientContext?: { pipeline?: Pipeline } }).storageClientContext?.pipeline;
  if (typeof pipeline?.addPolicy !== 'function') {
    throw new ExportError('Unexpected', 'This version of @azure/storage-blob has no client pipeline to add the per-attempt timeout to; pin the version in package-lock.json.');
  }
  pipeline.addPolicy(throttlingAsServerBusy(MAX_TRIES), { afterPhase: 'Retry' });
  pipeline.addPolicy(attemptPolicy({ timeoutInMs }), { afterPhase: 'Retry' });
}

/**
 * Azure Storage throttles with 503 ServerBusy, which its retry policy retries; a gateway in front of it may
 * answer 429 instead, which it would not. Retry a 429 like a 503 — but report it as it is on the last try.
 */
function throttlingAsServerBusy(maxTries: number): PipelinePolicy {
  const tries = new WeakMap<PipelineRequest, number>();
  return {
    name: 'entraUsersExportStorageThrottling',
    async sendRequest(request, next) {
      const attempt = (tries.get(request) ?? 0) + 1;
      tries.set(request, attempt);
      const response = await next(request);
      return response.status === 429 && attempt < maxTries ? { ...response, status: 503 } : response;
    },
  };
}

/** Creates the container if it is missing. */
export async function ensureContainer(container: ContainerClient): Promise<void> {
  try {
    await container.createIfNotExists();
  } catch (e) {
    // An identity with a role scoped to the container itself may not create containers: that is fine
    // when the container exists (Bicep creates it).
    if (statusOf(e) === 403 && (await container.exists().catch(() => false))) return;
    throw storageError(e, `creating container '${container.containerName}'`, container);
  }
}

/** Where a run's files go: `snapshots/<yyyy>/<MM>/<dd>/<runId>/`. */
export function snapshotPaths(runId: string, startedAt: Date, format: ExportFormat, compression: ExportCompression): { folder: string; usersBlob: string; manifestBlob: string } {
  const yyyy = String(startedAt.getUTCFullYear());
  const mm = String(startedAt.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(startedAt.getUTCDate()).padStart(2, '0');
  const folder = `snapshots/${yyyy}/${mm}/${dd}/${runId}`;
  const usersBlob = `${folder}/users.${format}${compression === 'gzip' ? '.gz' : ''}`;
  return { folder, usersBlob, manifestBlob: `${folder}/manifest.json` };
}

export interface CommittedBlob {
  bytes: number;
  sha256: string;
}

/**
 * Streams text into a block blob: stored bytes are hashed and counted as they go, copied into 4 MiB blocks
 * staged a few at a time (backpressure: `write` waits when too many are in flight), and committed once.
 */
export class SnapshotBlobWriter {
  readonly #blob: BlockBlobClient;
  readonly #gzip: boolean;
  readonly #contentType: string;
  #stager: BlockStager;
  #zip: Gzip | undefined;
  #zipped: Buffer[] = [];

  constructor(blob: BlockBlobClient, options: { compression: ExportCompression; contentType: string }) {
    this.#blob = blob;
    this.#gzip = options.compression === 'gzip';
    this.#contentType = options.compression === 'gzip' ? 'application/gzip' : options.contentType;
    this.#stager = new BlockStager(blob);
    this.#zip = this.#newZip();
  }

  get bytes(): number {
    return this.#stager.bytes;
  }

  /** The Content-Type the blob is committed with. */
  get contentType(): string {
    return this.#contentType;
  }

  /**
   * Text is stored as UTF-8, bytes as given. Whatever is kept is copied before write() returns, so the
   * caller may reuse its buffer at once; the promise is the back-pressure (compression, blocks in flight).
   */
  async write(text: string | Uint8Array): Promise<void> {
    const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    if (this.#zip) {
      // zlib reads its input later, on its own thread: give it a copy of caller-owned bytes.
      const input = typeof text === 'string' ? data : Buffer.from(data);
      if (!this.#zip.write(input)) await new Promise<void>((resolve) => this.#zip!.once('drain', resolve));
      this.#drainZipped();
    } else {
      this.#stager.push(data);
    }
    await this.#stager.ready();
  }

  /** Drops everything written so far (the staged blocks are never committed; Storage discards them). */
  async reset(): Promise<void> {
    await this.#stager.settle();
    this.#zip?.destroy();
    this.#zipped = [];
    this.#stager = new BlockStager(this.#blob);
    this.#zip = this.#newZip();
  }

  /** Flushes and commits the block list; fails if the blob already exists. */
  async commit(metadata: Record<string, string>): Promise<CommittedBlob> {
    if (this.#zip) {
      const zip = this.#zip;
      await new Promise<void>((resolve, reject) => {
        zip.once('end', resolve);
        zip.once('error', reject);
        zip.end();
        zip.resume();
      });
      this.#drainZipped();
    }
    return this.#stager.commit(this.#contentType, metadata);
  }

  #newZip(): Gzip | undefined {
    if (!this.#gzip) return undefined;
    const zip = createGzip({ level: 6 });
    zip.on('data', (chunk: Buffer) => this.#zipped.push(chunk));
    return zip;
  }

  #drainZipped(): void {
    for (const chunk of this.#zipped) this.#stager.push(chunk);
    this.#zipped = [];
  }
}

class BlockStager {
  readonly #blob: BlockBlobClient;
  readonly #hash: Hash = createHash('sha256');
  // Unique per writer so that blocks of an abandoned attempt never mix with a later one.
  readonly #prefix = randomBytes(6).toString('hex');
  readonly #ids: string[] = [];
  readonly #inflight = new Set<Promise<void>>();
  // Blocks are filled in place and recycled once staged: the bytes held never exceed
  // (STAGE_CONCURRENCY + 1) × BLOCK_SIZE, whenever the garbage collector runs.
  readonly #spare: Buffer[] = [];
  #block: Buffer = Buffer.allocUnsafeSlow(BLOCK_SIZE);
  #used = 0;
  #error: ExportError | undefined;
  bytes = 0;

  constructor(blob: BlockBlobClient) {
    this.#blob = blob;
  }

  /** Hashes, counts and copies `chunk` into the current block; full blocks are staged. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    for (let offset = 0; offset < chunk.length; ) {
      const copied = chunk.copy(this.#block, this.#used, offset);
      this.#used += copied;
      offset += copied;
      if (this.#used === BLOCK_SIZE) this.#stageBuffered();
    }
  }

  /** Resolves when fewer than the maximum of blocks are in flight; rethrows a failed stage. */
  async ready(): Promise<void> {
    while (this.#inflight.size >= STAGE_CONCURRENCY) await Promise.race(this.#inflight);
    this.#throwIfFailed();
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  async commit(contentType: string, metadata: Record<string, string>): Promise<CommittedBlob> {
    // Empty content stages no block: Azure Storage refuses a Put Block with an empty body (400
    // InvalidHeaderValue, Content-Length 0 — fsspec/adlfs#71; Azurite accepts it). Committing an empty
    // block list creates the 0-byte blob, in the same single commit, as the Storage SDK itself does for an
    // empty stream (azure-sdk-for-js sdk/storage/storage-blob/src/Clients.ts BlockBlobClient.uploadStream:
    // commitBlockList(blockList) after storage-common's BufferScheduler staged nothing).
    if (this.#used > 0) this.#stageBuffered();
    await this.settle();
    this.#throwIfFailed();
    const sha256 = this.#hash.digest('hex');
    try {
      await this.#blob.commitBlockList(this.#ids, {
        blobHTTPHeaders: { blobContentType: contentType },
        metadata: { ...metadata, sha256 },
        // A run never overwrites: its runId is new, and a snapshot is immutable once committed.
        conditions: { ifNoneMatch: '*' },
      });
    } catch (e) {
      // A commit whose answer was lost (reset, timeout) may have been applied — its retry then meets 409, or
      // no answer at all: the blob is ours when it has this run's id, size and sha256.
      if (!(await this.#isOurs(metadata, sha256))) throw storageError(e, `committing ${this.#blob.name}`);
    }
    return { bytes: this.bytes, sha256 };
  }

  async #isOurs(metadata: Record<string, string>, sha256: string): Promise<boolean> {
    const properties = await this.#blob.getProperties().catch(() => undefined);
    const stored = properties?.metadata ?? {};
    return properties?.contentLength === this.bytes && stored['sha256'] === sha256 && Object.entries(metadata).every(([k, v]) => stored[k.toLowerCase()] === v);
  }

  #stageBuffered(): void {
    const buffer = this.#block;
    const block = buffer.subarray(0, this.#used);
    this.#block = this.#spare.pop() ?? Buffer.allocUnsafeSlow(BLOCK_SIZE);
    this.#used = 0;
    // Block IDs must all have the same length within a blob.
    const id = Buffer.from(`${this.#prefix}-${String(this.#ids.length).padStart(6, '0')}`).toString('base64');
    this.#ids.push(id);
    const staged: Promise<void> = this.#blob
      .stageBlock(id, block, block.length)
      .then(
        () => undefined,
        (e: unknown) => {
          this.#error ??= storageError(e, `uploading a block of ${this.#blob.name}`);
        },
      )
      .finally(() => {
        this.#inflight.delete(staged);
        // The request is over (retries included): the SDK holds the buffer no more.
        this.#spare.push(buffer);
      });
    this.#inflight.add(staged);
  }

  #throwIfFailed(): void {
    if (this.#error !== undefined) throw this.#error;
  }
}

/** Uploads a small JSON blob that must not exist yet (or already holds exactly this JSON). */
export async function uploadNewJson(container: ContainerClient, name: string, value: unknown): Promise<void> {
  const body = jsonBlobText(value);
  const blob = container.getBlockBlobClient(name);
  try {
    await blob.upload(body, Buffer.byteLength(body), {
      blobHTTPHeaders: { blobContentType: 'application/json; charset=utf-8' },
      conditions: { ifNoneMatch: '*' },
    });
  } catch (e) {
    // An upload whose answer was lost (reset, timeout) may have been applied — its retry then meets 409, or
    // no answer at all: it is ours when it holds exactly this JSON (which names this run).
    if (statusOf(e) !== 403 && (await blob.downloadToBuffer().then((b) => b.toString('utf8') === body, () => false))) return;
    throw storageError(e, `writing ${name}`, container);
  }
}

/** Whether latest.json names this run (or could not be read, so it might): such a snapshot must stay. */
export async function latestMayName(container: ContainerClient, runId: string): Promise<boolean> {
  try {
    const text = (await container.getBlockBlobClient(LATEST_BLOB).downloadToBuffer()).toString('utf8');
    return parseJson(text)?.runId === runId;
  } catch (e) {
    return statusOf(e) !== 404;
  }
}

export interface LatestCandidate {
  completedAt: string;
  runId: string;
}

/**
 * Points `latest.json` at this run unless a newer snapshot is already there. Read, compare, then write
 * with If-Match on the ETag read (If-None-Match: * when absent); a concurrent writer makes the condition
 * fail and we read again. Returns false when a newer snapshot won. `onWrite` is called before each write:
 * after that, a failure may hide a write that was applied.
 */
export async function publishLatest(container: ContainerClient, manifest: LatestCandidate, options: { onWrite?: () => void } = {}): Promise<boolean> {
  const latest = container.getBlockBlobClient(LATEST_BLOB);
  const body = jsonBlobText(manifest);
  for (let attempt = 1; attempt <= 20; attempt += 1) {
    let etag: string | undefined;
    let current: Partial<LatestCandidate> | undefined;
    try {
      const download = await latest.download();
      etag = download.etag;
      current = parseJson(await readAll(download.readableStreamBody));
    } catch (e) {
      if (statusOf(e) !== 404) throw storageError(e, `reading ${LATEST_BLOB}`, container);
    }
    if (current && isNewer(current, manifest)) return false;
    try {
      options.onWrite?.();
      await latest.upload(body, Buffer.byteLength(body), {
        blobHTTPHeaders: { blobContentType: 'application/json; charset=utf-8' },
        conditions: etag ? { ifMatch: etag } : { ifNoneMatch: '*' },
      });
      return true;
    } catch (e) {
      const status = statusOf(e);
      if (status === 412 || status === 409) continue; // someone else wrote it in between: compare again
      throw storageError(e, `writing ${LATEST_BLOB}`, container);
    }
  }
  throw new ExportError('StorageFailed', `Writing ${LATEST_BLOB} kept conflicting with other writers; the snapshot itself is complete.`);
}

/** Best-effort removal of what a failed run committed, so that a failed run leaves nothing behind. */
export async function deleteIfExists(container: ContainerClient, names: readonly string[]): Promise<void> {
  await Promise.allSettled(names.map((name) => container.getBlockBlobClient(name).deleteIfExists()));
}

/** How manifest.json and latest.json are stored: the same text for the same manifest. */
function jsonBlobText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function isNewer(current: Partial<LatestCandidate>, candidate: LatestCandidate): boolean {
  if (typeof current.completedAt !== 'string') return false;
  if (current.completedAt !== candidate.completedAt) return current.completedAt > candidate.completedAt;
  return (current.runId ?? '') > candidate.runId;
}

function parseJson(text: string): Partial<LatestCandidate> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function storageError(e: unknown, doing: string, container?: ContainerClient): ExportError {
  if (e instanceof ExportError) return e;
  if (statusOf(e) === 403) {
    const account = container ? new URL(container.url).host : 'the storage account';
    return new ExportError(
      'StorageForbidden',
      `Blob Storage refused ${doing} (HTTP 403 ${(e as { code?: string }).code ?? 'AuthorizationFailure'}): the function's identity lacks the 'Storage Blob Data Contributor' role on ${account} (or on the export container). Assign it, e.g. az role assignment create --role "Storage Blob Data Contributor" --assignee <identity principal id> --scope <storage account or container resource id>; with a connection string in EXPORT_STORAGE, check its key or SAS.`,
      { cause: e },
    );
  }
  return describeAzureError(e, `${doing} in Blob Storage`, 'StorageFailed');
}
