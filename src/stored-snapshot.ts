/**
 * A stored snapshot, read back for the change report: its manifest (latest.json is a copy of the newest one),
 * its users file streamed user by user (gunzipped when stored with gzip, checked against the manifest's size,
 * SHA-256 and user count), and its index (`users.index` beside it; for a snapshot stored without one — written
 * before the change report existed — built by streaming its users file).
 *
 * Anything that makes a previous snapshot unusable — gone, cut short, damaged, not a manifest — is a
 * {@link SnapshotUnreadable} saying why, which the export turns into a skipped report, never a failed run.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import { describeError, statusOf } from './errors.js';
import { IndexBuilder, IndexFormatError, SnapshotIndex, DuplicateIdError, userHasher } from './snapshot-index.js';
import { userIdBytes, UserJsonError } from './user-json.js';

export class SnapshotUnreadable extends Error {
  override readonly name = 'SnapshotUnreadable';
}

/** What the change report needs of a snapshot's manifest. */
export interface SnapshotManifest {
  runId: string;
  tenantId: string;
  blobName: string;
  format: 'json' | 'ndjson';
  compression: 'none' | 'gzip';
  bytes: number;
  sha256: string;
  userCount: number;
  select: string[];
}

/** The manifest's fields the report relies on, checked; `where` names the blob in the reason. */
export function parseManifest(text: string, where: string): SnapshotManifest {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new SnapshotUnreadable(`${where} is not JSON`);
  }
  const str = (name: string): string => {
    const v = value?.[name];
    if (typeof v !== 'string' || v === '') throw new SnapshotUnreadable(`${where} has no '${name}'`);
    return v;
  };
  const num = (name: string): number => {
    const v = value?.[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new SnapshotUnreadable(`${where} has no '${name}'`);
    return v;
  };
  if (value === null || typeof value !== 'object') throw new SnapshotUnreadable(`${where} is not a JSON object`);
  const format = str('format');
  const compression = str('compression');
  if (format !== 'json' && format !== 'ndjson') throw new SnapshotUnreadable(`${where} names an unknown format '${format}'`);
  if (compression !== 'none' && compression !== 'gzip')
    throw new SnapshotUnreadable(`${where} names an unknown compression '${compression}'`);
  return {
    runId: str('runId'),
    tenantId: str('tenantId'),
    blobName: str('blobName'),
    format,
    compression,
    bytes: num('bytes'),
    sha256: str('sha256'),
    userCount: num('userCount'),
    select: str('select')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  };
}

/** The folder of a snapshot: its users file's directory. */
export function snapshotFolder(usersBlob: string): string {
  return usersBlob.slice(0, usersBlob.lastIndexOf('/'));
}

/** `users.index` beside the users file. */
export function indexBlobName(usersBlob: string): string {
  return `${snapshotFolder(usersBlob)}/users.index`;
}

/** Whether `select` names `id` (Graph's property names are case-insensitive). */
export function selectsId(select: readonly string[]): boolean {
  return select.some((p) => p.toLowerCase() === 'id');
}

/**
 * Streams the snapshot's users file and calls `onUser` with each user's stored bytes (`bytes[start, end)`, valid
 * during the call) and its place in the file (0 for the first user). Throws {@link SnapshotUnreadable} when the
 * file is gone, is not what the manifest says (size, SHA-256, number of users), or is not a users file of this
 * product.
 */
export async function forEachStoredUser(
  container: ContainerClient,
  manifest: SnapshotManifest,
  onUser: (bytes: Buffer, start: number, end: number, place: number) => void,
): Promise<void> {
  const blob = container.getBlobClient(manifest.blobName);
  let body: NodeJS.ReadableStream | undefined;
  try {
    // maxRetryRequests: the SDK resumes a download that breaks off from where it stopped.
    body = (await blob.download(0, undefined, { maxRetryRequests: 5 })).readableStreamBody;
  } catch (e) {
    if (statusOf(e) === 404) throw new SnapshotUnreadable(`its users file ${manifest.blobName} does not exist (deleted?)`);
    throw new SnapshotUnreadable(`its users file ${manifest.blobName} could not be read: ${describeError(e)}`);
  }
  if (!body) throw new SnapshotUnreadable(`its users file ${manifest.blobName} could not be read (no body)`);
  const sha256 = createHash('sha256');
  let stored = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sha256.update(chunk);
      stored += chunk.length;
      done(null, chunk);
    },
  });
  const lines = new UserLines(onUser);
  try {
    const split = async (input: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of input) lines.push(chunk);
      lines.end();
    };
    if (manifest.compression === 'gzip') await pipeline(body, hashing, createGunzip(), split);
    else await pipeline(body, hashing, split);
  } catch (e) {
    if (e instanceof SnapshotUnreadable) throw e;
    if (e instanceof UserJsonError || e instanceof SyntaxError)
      throw new SnapshotUnreadable(`its users file ${manifest.blobName} is damaged (${e.message})`);
    throw new SnapshotUnreadable(`its users file ${manifest.blobName} could not be read: ${describeError(e)}`);
  }
  if (stored !== manifest.bytes || sha256.digest('hex') !== manifest.sha256) {
    throw new SnapshotUnreadable(
      `its users file ${manifest.blobName} is not the one its manifest describes (${stored} bytes stored, ${manifest.bytes} in the manifest, or another SHA-256): cut short, damaged or replaced`,
    );
  }
  if (lines.count !== manifest.userCount)
    throw new SnapshotUnreadable(`its users file ${manifest.blobName} holds ${lines.count} users, its manifest says ${manifest.userCount}`);
}

/**
 * Splits a users file into users. Both formats store one user per line (a stored user never contains a line
 * break: page-scan.ts removes the whitespace between tokens, and JSON strings escape control characters):
 * `ndjson` is those lines; `json` is `[`, the users each followed by `,` but the last, and `]`.
 */
class UserLines {
  readonly #onUser: (bytes: Buffer, start: number, end: number, place: number) => void;
  #carry: Buffer | undefined;
  count = 0;

  constructor(onUser: (bytes: Buffer, start: number, end: number, place: number) => void) {
    this.#onUser = onUser;
  }

  push(chunk: Buffer): void {
    const data = chunk;
    let start = 0;
    if (this.#carry) {
      // Only the line that the chunk completes is joined; the rest is read where it is.
      const newline = data.indexOf(0x0a);
      if (newline < 0) {
        this.#carry = Buffer.concat([this.#carry, data]);
        return;
      }
      const line = Buffer.concat([this.#carry, data.subarray(0, newline)]);
      this.#carry = undefined;
      this.#line(line, 0, line.length);
      start = newline + 1;
    }
    for (;;) {
      const newline = data.indexOf(0x0a, start);
      if (newline < 0) break;
      this.#line(data, start, newline);
      start = newline + 1;
    }
    // The rest of a line: kept (copied: the stream may reuse its chunk) until its end arrives.
    if (start < data.length) this.#carry = Buffer.from(data.subarray(start));
  }

  end(): void {
    if (this.#carry) this.#line(this.#carry, 0, this.#carry.length);
    this.#carry = undefined;
  }

  #line(data: Buffer, start: number, end: number): void {
    if (end > start && data[end - 1] === 0x0d) end -= 1;
    if (end > start && data[end - 1] === 0x2c /* , */) end -= 1;
    if (end === start) return;
    const first = data[start];
    if (first === 0x5b /* [ */ || first === 0x5d /* ] */) {
      const text = data.toString('latin1', start, end);
      if (text === '[' || text === ']' || text === '[]') return;
    }
    if (first !== 0x7b /* { */) throw new UserJsonError(`line ${this.count + 1} is not a user`);
    this.count += 1;
    this.#onUser(data, start, end, this.count - 1);
  }
}

/**
 * The snapshot's index: `users.index` when it is there, intact and of this users file; otherwise built by
 * streaming the users file (a snapshot stored before the change report existed). `log` hears why a stored index
 * was not used.
 */
export async function loadSnapshotIndex(
  container: ContainerClient,
  manifest: SnapshotManifest,
  log: (message: string) => void,
): Promise<SnapshotIndex> {
  const name = indexBlobName(manifest.blobName);
  try {
    const index = SnapshotIndex.parse(await downloadWhole(container, name));
    if (index.header.usersSha256 === manifest.sha256 && index.header.usersBytes === manifest.bytes && index.count === manifest.userCount)
      return index;
    log(`${name} does not describe ${manifest.blobName} (another size, SHA-256 or count); the index is rebuilt from the users file.`);
  } catch (e) {
    if (e instanceof IndexFormatError) log(`${name} cannot be used (${e.message}); the index is rebuilt from the users file.`);
    else if (statusOf(e) !== 404) log(`${name} could not be read (${describeError(e)}); the index is rebuilt from the users file.`);
  }
  return buildSnapshotIndex(container, manifest);
}

/** Builds a snapshot's index by streaming its users file. */
export async function buildSnapshotIndex(container: ContainerClient, manifest: SnapshotManifest): Promise<SnapshotIndex> {
  const hash = await userHasher();
  const builder = new IndexBuilder();
  await forEachStoredUser(container, manifest, (bytes, start, end) => {
    const id = userIdBytes(bytes, start, end);
    if (id === undefined) throw new SnapshotUnreadable(`a user of ${manifest.blobName} has no id`);
    builder.push(id, hash(bytes.subarray(start, end)));
  });
  try {
    return builder.finish({ bytes: manifest.bytes, sha256: manifest.sha256 });
  } catch (e) {
    if (e instanceof DuplicateIdError) throw new SnapshotUnreadable(`${manifest.blobName} holds two users with the id '${e.id}'`);
    throw e;
  }
}

/**
 * A blob's bytes in one buffer of its exact size, from one GET (downloadToBuffer would ask for the size first and
 * then fetch ranges in parallel, holding their chunks too): the index is read back as views of this buffer.
 */
async function downloadWhole(container: ContainerClient, name: string): Promise<Buffer> {
  const response = await container.getBlobClient(name).download(0, undefined, { maxRetryRequests: 5 });
  const size = response.contentLength ?? 0;
  const bytes = Buffer.alloc(size);
  let at = 0;
  for await (const chunk of response.readableStreamBody ?? []) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (at + data.length > size) throw new IndexFormatError('it is longer than its Content-Length');
    data.copy(bytes, at);
    at += data.length;
  }
  if (at !== size) throw new IndexFormatError('it is shorter than its Content-Length');
  return bytes;
}
