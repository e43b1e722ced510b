/**
 * Blob Storage: the container, and the snapshot's users file streamed into staged blocks and committed once
 * (so it becomes visible only when complete), optionally through gzip, with its SHA-256 and size computed
 * on the way. What is committed after it, and in which order, is publish.ts's.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createGzip, type Gzip } from 'node:zlib';
import type { Pipeline, PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, type BlockBlobClient, type ContainerClient } from '@azure/storage-blob';
import { ExportError, exportError, statusOf } from './errors.js';
import { describeAzureError } from './azure-errors.js';
import type { ExportCompression, ExportFormat, StorageSetting } from './settings.js';
import type { Transport } from './transport.js';

const BLOCK_SIZE = 4 * 1024 * 1024;
const STAGE_CONCURRENCY = 4;

export function openContainer(
  storage: StorageSetting,
  container: string,
  credential: TokenCredential,
  transport: Transport['storage'],
): ContainerClient {
  const service =
    storage.kind === 'connectionString'
      ? BlobServiceClient.fromConnectionString(storage.connectionString, transport.pipelineOptions)
      : new BlobServiceClient(storage.blobServiceUri, credential, transport.pipelineOptions);
  addPerTryPolicies(service, transport);
  return service.getContainerClient(container);
}

/**
 * The Storage SDK sets no client-side timeout (a hung connection hangs the run) and retries 500/503 but
 * not 429. Its pipeline takes no per-retry policies through its options, so they are added to the core
 * pipeline of the service client, which every container and blob client made from it shares. That pipeline
 * is not public API: without it every run fails here at once (every integration test would).
 */
function addPerTryPolicies(service: BlobServiceClient, transport: Transport['storage']): void {
  const pipeline = (service as unknown as { storageClientContext?: { pipeline?: Pipeline } }).storageClientContext?.pipeline;
  if (typeof pipeline?.addPolicy !== 'function') {
    throw exportError('Unexpected', { kind: 'storagePipeline' });
  }
  pipeline.addPolicy(throttlingAsServerBusy(transport.pipelineOptions.retryOptions.maxTries), { afterPhase: 'Retry' });
  pipeline.addPolicy(transport.perRetryPolicy, { afterPhase: 'Retry' });
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
export function snapshotPaths(
  runId: string,
  startedAt: Date,
  format: ExportFormat,
  compression: ExportCompression,
): { folder: string; usersBlob: string; manifestBlob: string } {
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
  #sealed: Promise<CommittedBlob> | undefined;

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
    this.#stager.discard();
    this.#zip?.destroy();
    this.#zipped = [];
    this.#stager = new BlockStager(this.#blob);
    this.#zip = this.#newZip();
  }

  /**
   * Flushes and stages what is left, and waits for every block: the content is then final, its size and SHA-256
   * known, and nothing of it visible yet. Nothing can be written after it. Idempotent.
   */
  seal(): Promise<CommittedBlob> {
    this.#sealed ??= (async () => {
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
      return this.#stager.seal();
    })();
    return this.#sealed;
  }

  /** Seals (if not yet) and commits the block list; fails if the blob already exists. */
  async commit(metadata: Record<string, string>): Promise<CommittedBlob> {
    const content = await this.seal();
    await this.#stager.commit(this.#contentType, metadata);
    return content;
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

/**
 * Free 4 MiB blocks, shared by every writer of the process: the users file's writer, then `users.index`'s and the
 * change report's, each staging up to {@link STAGE_CONCURRENCY} blocks while filling one more. A deliberate
 * module-level cache: a writer's blocks would otherwise stay allocated, unused, while the next writer allocates
 * its own (~20 MiB each), and a run's peak memory is what sizes it. A block is given back only once its upload
 * is over (the SDK holds it no more); the pool never keeps more blocks than one writer uses at a time.
 */
const freeBlocks: Buffer[] = [];

function takeBlock(): Buffer {
  return freeBlocks.pop() ?? Buffer.allocUnsafeSlow(BLOCK_SIZE);
}

function giveBlock(block: Buffer): void {
  if (freeBlocks.length < STAGE_CONCURRENCY + 1) freeBlocks.push(block);
}

class BlockStager {
  readonly #blob: BlockBlobClient;
  readonly #hash: Hash = createHash('sha256');
  // Unique per writer so that blocks of an abandoned attempt never mix with a later one.
  readonly #prefix = randomBytes(6).toString('hex');
  readonly #ids: string[] = [];
  readonly #inflight = new Set<Promise<void>>();
  // Blocks are filled in place and given back to the pool once staged: the bytes held never exceed
  // (STAGE_CONCURRENCY + 1) × BLOCK_SIZE, whenever the garbage collector runs.
  /** The block being filled, taken from the pool when there is something to put in it. */
  #block: Buffer | undefined;
  #used = 0;
  #error: ExportError | undefined;
  /** The content's SHA-256 once sealed. */
  #sha256: string | undefined;
  bytes = 0;

  constructor(blob: BlockBlobClient) {
    this.#blob = blob;
  }

  /** Hashes, counts and copies `chunk` into the current block; full blocks are staged. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    for (let offset = 0; offset < chunk.length;) {
      this.#block ??= takeBlock();
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

  /** Gives the block being filled back to the pool, with what it holds (a writer that starts over). */
  discard(): void {
    if (this.#block) giveBlock(this.#block);
    this.#block = undefined;
    this.#used = 0;
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  /** Stages what is left and waits for every block: the blob's size and SHA-256. */
  async seal(): Promise<CommittedBlob> {
    // Empty content stages no block: Azure Storage refuses a Put Block with an empty body (400
    // InvalidHeaderValue, Content-Length 0 — fsspec/adlfs#71; Azurite accepts it). Committing an empty
    // block list creates the 0-byte blob, in the same single commit, as the Storage SDK itself does for an
    // empty stream (azure-sdk-for-js sdk/storage/storage-blob/src/Clients.ts BlockBlobClient.uploadStream:
    // commitBlockList(blockList) after storage-common's BufferScheduler staged nothing).
    if (this.#used > 0) this.#stageBuffered();
    await this.settle();
    this.#throwIfFailed();
    this.#sha256 = this.#hash.digest('hex');
    return { bytes: this.bytes, sha256: this.#sha256 };
  }

  /** Commits the block list of a sealed stager. */
  async commit(contentType: string, metadata: Record<string, string>): Promise<void> {
    const sha256 = this.#sha256!;
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
  }

  async #isOurs(metadata: Record<string, string>, sha256: string): Promise<boolean> {
    const properties = await this.#blob.getProperties().catch(() => undefined);
    const stored = properties?.metadata ?? {};
    return (
      properties?.contentLength === this.bytes &&
      stored['sha256'] === sha256 &&
      Object.entries(metadata).every(([k, v]) => stored[k.toLowerCase()] === v)
    );
  }

  #stageBuffered(): void {
    const buffer = this.#block!;
    const block = buffer.subarray(0, this.#used);
    this.#block = undefined;
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
        giveBlock(buffer);
      });
    this.#inflight.add(staged);
  }

  #throwIfFailed(): void {
    if (this.#error !== undefined) throw this.#error;
  }
}

/** A Storage failure as the user reads it: a 403 names the role to assign. */
export function storageError(e: unknown, doing: string, container?: ContainerClient): ExportError {
  if (e instanceof ExportError) return e;
  if (statusOf(e) === 403) {
    const account = container ? new URL(container.url).host : 'the storage account';
    return exportError(
      'StorageForbidden',
      { doing, errorCode: (e as { code?: string }).code ?? 'AuthorizationFailure', account },
      { cause: e },
    );
  }
  return describeAzureError(e, `${doing} in Blob Storage`, 'StorageFailed');
}
