/**
 * Publishing a snapshot, all or nothing: its blobs, staged beforehand (the users file, then the index and the
 * change report), are committed one after the other, then `manifest.json` beside them, then `latest.json` is
 * pointed at it — with a conditional write, so that concurrent runs never move it back to an older snapshot.
 * Nothing slow happens between the first commit and the manifest (a few round trips), so a run killed before
 * then leaves only staged blocks, which Storage discards a week after the last one was staged ("Put Block",
 * Remarks: https://learn.microsoft.com/rest/api/storageservices/put-block#remarks). A run that fails on the way takes back what it
 * committed, but never a snapshot that `latest.json` names (or may name): latest.json must never name a snapshot
 * that is gone.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { exportError, statusOf } from './errors.js';
import { storageError, type CommittedBlob } from './storage.js';

export const LATEST_BLOB = 'latest.json';

/** What latest.json is compared by (the manifest has more). */
export interface LatestCandidate {
  completedAt: string;
  runId: string;
}

/** A blob whose blocks are all staged: `commit` makes it visible (and fails if it exists). */
export interface StagedBlob<T = unknown> {
  blobName: string;
  commit: () => Promise<T>;
}

export interface SnapshotToPublish<M extends LatestCandidate> {
  /** The users blob, staged. */
  users: StagedBlob<CommittedBlob>;
  /** The snapshot's other blobs (the index, the change report), staged: committed after the users blob, in order. */
  others?: readonly StagedBlob[];
  manifestBlob: string;
  /** The manifest, once the users blob is committed (it records its size and hash, and the completion time). */
  manifest: (users: CommittedBlob) => M;
}

export interface PublishedSnapshot<M> {
  manifest: M;
  /** False when latest.json already named a newer snapshot and was left as is. */
  latestUpdated: boolean;
}

/**
 * Commits the users blob → the other staged blobs → manifest.json → latest.json. Every blob this run committed is
 * listed in `committed`, in order, and taken back (best effort) if a later step fails — unless latest.json may
 * name this run.
 */
export async function publishSnapshot<M extends LatestCandidate>(
  container: ContainerClient,
  snapshot: SnapshotToPublish<M>,
): Promise<PublishedSnapshot<M>> {
  const committed: string[] = [];
  const latest = { written: false };
  let manifest: M | undefined;
  try {
    const users = await commitStaged(snapshot.users, committed);
    for (const blob of snapshot.others ?? []) await commitStaged(blob, committed);
    manifest = snapshot.manifest(users);
    committed.push(snapshot.manifestBlob);
    await uploadNewJson(container, snapshot.manifestBlob, manifest);
    const latestUpdated = await pointLatestAt(container, manifest, latest);
    return { manifest, latestUpdated };
  } catch (e) {
    // Kept only when this run tried to write latest.json and latest.json names it (a write applied whose
    // answer was lost) or cannot be read.
    if (!latest.written || manifest === undefined || !(await latestMayName(container, manifest.runId)))
      await deleteIfExists(container, committed);
    throw e;
  }
}

/**
 * Commits a staged blob, listed in `committed` first: a commit that failed may have been applied after all (its
 * answer lost), and is taken back like a committed one.
 */
function commitStaged<T>(blob: StagedBlob<T>, committed: string[]): Promise<T> {
  committed.push(blob.blobName);
  return blob.commit();
}

/** Uploads a small JSON blob that must not exist yet (or already holds exactly this JSON). */
async function uploadNewJson(container: ContainerClient, name: string, value: unknown): Promise<void> {
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
    if (
      statusOf(e) !== 403 &&
      (await blob.downloadToBuffer().then(
        (b) => b.toString('utf8') === body,
        () => false,
      ))
    )
      return;
    throw storageError(e, `writing ${name}`, container);
  }
}

/** Whether latest.json names this run (or could not be read, so it might): such a snapshot must stay. */
async function latestMayName(container: ContainerClient, runId: string): Promise<boolean> {
  try {
    const text = (await container.getBlockBlobClient(LATEST_BLOB).downloadToBuffer()).toString('utf8');
    return parseJson(text)?.runId === runId;
  } catch (e) {
    return statusOf(e) !== 404;
  }
}

/**
 * Points `latest.json` at this run unless a newer snapshot is already there. Read, compare, then write
 * with If-Match on the ETag read (If-None-Match: * when absent); a concurrent writer makes the condition
 * fail and we read again. Returns false when a newer snapshot won. `latest.written` is set before the first
 * write: from then on, a failure may hide a write that was applied.
 */
async function pointLatestAt(container: ContainerClient, manifest: LatestCandidate, latest: { written: boolean }): Promise<boolean> {
  const blob = container.getBlockBlobClient(LATEST_BLOB);
  const body = jsonBlobText(manifest);
  for (let attempt = 1; attempt <= 20; attempt += 1) {
    let etag: string | undefined;
    let current: Partial<LatestCandidate> | undefined;
    try {
      const download = await blob.download();
      etag = download.etag;
      current = parseJson(await readAll(download.readableStreamBody));
    } catch (e) {
      if (statusOf(e) !== 404) throw storageError(e, `reading ${LATEST_BLOB}`, container);
    }
    if (current && isNewer(current, manifest)) return false;
    try {
      latest.written = true;
      await blob.upload(body, Buffer.byteLength(body), {
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
  throw exportError('StorageFailed', { kind: 'latestConflicts', blob: LATEST_BLOB });
}

/** Best-effort removal of what a failed run committed, so that a failed run leaves nothing behind. */
async function deleteIfExists(container: ContainerClient, names: readonly string[]): Promise<void> {
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
