/**
 * The change report of one export run (README "The change report"): the export hands it every page of users as
 * they are streamed to the blob; it indexes them (snapshot-index.ts), keeps aside those that differ from the
 * previous snapshot's index, and once the users file is staged whole stages `users.index` and `changes.ndjson`
 * (+ `.gz`) in the run's folder, for the export to commit with the users file — before the manifest, which
 * records the report's `changes`.
 *
 * The previous snapshot is the one latest.json names when the run starts. Whatever is wrong with it (none,
 * another tenant, no `id`, deleted, cut short, damaged, replaced) the export goes on and the manifest says
 * `{ "skipped": "<why>" }`; no report is written then (an empty one would claim "no changes"). Only a failure
 * to write this run's own blobs fails the run, as any Storage failure does.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { comparedProperties, differsFrom, spillDifferences, usersToKeep, writeReportLines, type UsersToKeep } from './change-report.js';
import { describeError, statusOf } from './errors.js';
import type { PageElements } from './graph.js';
import { IndexBuilder, DuplicateIdError, type SnapshotIndex, type UserHasher, userHasher } from './snapshot-index.js';
import { SortedSpill } from './sorted-spill.js';
import { LATEST_BLOB, type StagedBlob } from './publish.js';
import { SnapshotBlobWriter, type CommittedBlob } from './storage.js';
import {
  indexBlobName,
  loadSnapshotIndex,
  parseManifest,
  selectsId,
  snapshotFolder,
  SnapshotUnreadable,
  type SnapshotManifest,
} from './stored-snapshot.js';
import { userIdBytes } from './user-json.js';

/** The manifest's `changes`. */
export type ManifestChanges =
  | {
      previousRunId: string;
      added: number;
      removed: number;
      changed: number;
      blobName: string;
      bytes: number;
      sha256: string;
      compared: string[];
    }
  | { skipped: string };

export interface RunChangesOptions {
  container: ContainerClient;
  tenantId: string;
  select: readonly string[];
  compression: 'none' | 'gzip';
  runId: string;
  warn: (message: string) => void;
}

/** What finish() made: the manifest's `changes`, and the blobs it staged (the index, the report), to commit in this order. */
export interface FinishedChanges {
  changes: ManifestChanges;
  blobs: StagedBlob[];
}

interface PreviousSnapshot {
  manifest: SnapshotManifest;
  index: SnapshotIndex;
}

export function changesBlobName(folder: string, compression: 'none' | 'gzip'): string {
  return `${folder}/changes.ndjson${compression === 'gzip' ? '.gz' : ''}`;
}

export class RunChanges {
  readonly #options: RunChangesOptions;
  readonly #hash: UserHasher;
  /** The previous snapshot and its index, while a report can still be made. */
  #previous: PreviousSnapshot | undefined;
  /** Why there is no report, once known. */
  #skipped: string | undefined;
  /** False when this snapshot can have no index either (no `id`). */
  #indexing: boolean;
  #builder: IndexBuilder;
  readonly #newer = new SortedSpill();
  readonly #older = new SortedSpill();

  private constructor(options: RunChangesOptions, hash: UserHasher, previous: PreviousSnapshot | { skipped: string; indexing: boolean }) {
    this.#options = options;
    this.#hash = hash;
    if (previous && 'skipped' in previous) {
      this.#skipped = previous.skipped;
      this.#indexing = previous.indexing;
    } else {
      this.#previous = previous;
      this.#indexing = true;
    }
    // About as many users as last time: the index's arrays are reserved for them once.
    this.#builder = new IndexBuilder({ expectedCount: this.#previous?.manifest.userCount });
  }

  /** Reads the previous snapshot named by latest.json now. Never fails: a problem becomes the skipped reason. */
  static async start(options: RunChangesOptions): Promise<RunChanges> {
    let hash: UserHasher;
    try {
      hash = await userHasher();
    } catch (e) {
      const why = `its hash function could not be loaded: ${describeError(e)}`;
      options.warn(`The change report is skipped: ${why}.`);
      return new RunChanges(options, () => 0n, { skipped: why, indexing: false });
    }
    let previous: PreviousSnapshot | { skipped: string; indexing: boolean };
    if (!selectsId(options.select)) {
      previous = { skipped: 'USERS_SELECT does not include id, so users cannot be matched between snapshots', indexing: false };
    } else {
      try {
        previous = await previousSnapshot(options);
      } catch (e) {
        previous = {
          skipped: e instanceof SnapshotUnreadable ? e.message : `the previous snapshot could not be read: ${describeError(e)}`,
          indexing: true,
        };
      }
    }
    if ('skipped' in previous) options.warn(`The change report is skipped: ${previous.skipped}.`);
    return new RunChanges(options, hash, previous);
  }

  /** The previous snapshot's runId, when there is one to compare with. */
  get previousRunId(): string | undefined {
    return this.#previous?.manifest.runId;
  }

  /** One page of this snapshot's users, as they are stored. Never throws: a problem disables the report. */
  addPage(elements: PageElements, count: number): void {
    if (!this.#indexing) return;
    try {
      const { bytes, ranges } = elements;
      const previous = this.#previous?.index;
      for (let i = 0; i < count; i += 1) {
        const start = ranges[2 * i]!;
        const end = ranges[2 * i + 1]!;
        const id = userIdBytes(bytes, start, end);
        if (id === undefined) {
          this.#stop('a user of this snapshot has no id', false);
          return;
        }
        const user = bytes.subarray(start, end);
        const hash = this.#hash(user);
        this.#builder.push(id, hash);
        if (previous && differsFrom(previous, id, hash)) this.#newer.add(id, user);
      }
    } catch (e) {
      this.#stop(`the comparison failed: ${describeError(e)}`, false);
    }
  }

  /** The listing started again from its first page: forget what was added. */
  restart(): void {
    this.#builder = new IndexBuilder({ expectedCount: this.#previous?.manifest.userCount });
    this.#newer.clear();
  }

  /**
   * Once the users file is staged whole (its size and SHA-256 known): stages `users.index` and the report, and
   * returns the manifest's `changes` with those blobs, to commit after the users file. Nothing is visible until
   * then. Throws only when staging them fails.
   */
  async finish(usersBlob: string, users: CommittedBlob): Promise<FinishedChanges> {
    if (!this.#indexing) return { changes: { skipped: this.#skipped ?? 'no index' }, blobs: [] };
    const { container, compression, runId } = this.#options;
    const reportBlob = changesBlobName(snapshotFolder(usersBlob), compression);
    try {
      const { index, previous } = await this.#indexAndKeepAside(users, indexBlobName(usersBlob));
      if (!index) return { changes: { skipped: this.#skipped! }, blobs: [] };
      if (!previous) return { changes: { skipped: this.#skipped ?? 'no previous snapshot' }, blobs: [index] };

      const compared = comparedProperties(previous.select, this.#options.select);
      const writer = new SnapshotBlobWriter(container.getBlockBlobClient(reportBlob), {
        compression,
        contentType: 'application/x-ndjson; charset=utf-8',
      });
      const counts = await writeReportLines(this.#older, this.#newer, compared, (lines) => writer.write(lines));
      const report = await writer.seal();
      return {
        changes: {
          previousRunId: previous.runId,
          ...counts,
          blobName: reportBlob,
          bytes: report.bytes,
          sha256: report.sha256,
          compared,
        },
        blobs: [index, { blobName: reportBlob, commit: () => writer.commit({ runid: runId }) }],
      };
    } finally {
      this.close();
    }
  }

  /**
   * Stages this snapshot's index while the previous users file is read for its users that differ (kept aside in
   * #older). Returns the staged index (none when it could not be made), and the previous snapshot's manifest while
   * there is still a report to write.
   */
  async #indexAndKeepAside(
    users: CommittedBlob,
    indexBlob: string,
  ): Promise<{ index: StagedBlob | undefined; previous: SnapshotManifest | undefined }> {
    const made = this.#indexAndCompare(users, indexBlob);
    if (!made) return { index: undefined, previous: undefined };
    const { staging, keep, previous } = made;
    let spilled: Promise<unknown> = Promise.resolve();
    if (keep && previous) {
      spilled = spillDifferences(this.#options.container, previous, keep, this.#older).catch((e: unknown) => {
        this.#stop(
          e instanceof SnapshotUnreadable
            ? `the previous snapshot ${previous.runId} cannot be read: ${e.message}`
            : `the comparison failed: ${describeError(e)}`,
          true,
        );
      });
    }
    // Both settle before going on (a failed upload must not leave the reading of the previous file running).
    const [upload] = await Promise.allSettled([staging, spilled]);
    if (upload.status === 'rejected') throw upload.reason;
    const writer = upload.value;
    return {
      index: { blobName: indexBlob, commit: () => writer.commit({ runid: this.#options.runId }) },
      previous: this.#skipped === undefined ? previous : undefined,
    };
  }

  /**
   * Sorts this snapshot's index, starts staging it, and finds which of the previous snapshot's users the report
   * needs. Synchronous on purpose: neither index outlives it (the previous one is let go here, this one once its
   * upload is done), so that the previous users file is read, and the report merged, without them — at a million
   * users they take ~56 MiB, what is kept of them ~9.
   */
  #indexAndCompare(
    users: CommittedBlob,
    indexBlob: string,
  ): { staging: Promise<SnapshotBlobWriter>; keep: UsersToKeep | undefined; previous: SnapshotManifest | undefined } | undefined {
    let index: SnapshotIndex;
    try {
      index = this.#builder.finish(users);
    } catch (e) {
      this.#stop(
        e instanceof DuplicateIdError
          ? `this snapshot holds two users with the id '${e.id}'`
          : `the comparison failed: ${describeError(e)}`,
        false,
      );
      return undefined;
    }
    const staging = stageIndex(this.#options.container, indexBlob, index.serialize());
    const previous = this.#previous;
    this.#previous = undefined;
    if (this.#skipped !== undefined || !previous) return { staging, keep: undefined, previous: undefined };
    return { staging, keep: usersToKeep(previous.index, index), previous: previous.manifest };
  }

  /** Removes the temporary files; always called by the run. */
  close(): void {
    this.#newer.close();
    this.#older.close();
  }

  #stop(why: string, indexing: boolean): void {
    if (this.#skipped === undefined) this.#options.warn(`The change report is skipped: ${why}.`);
    this.#skipped ??= why;
    this.#previous = undefined;
    this.#indexing &&= indexing;
    this.#newer.clear();
    this.#older.clear();
  }
}

/**
 * Stages `users.index` with the writer of the users file (staged blocks; its commit fails over another blob, and a
 * commit whose answer was lost is recognised as applied). The writer copies the index's parts block by block, so a
 * few blocks are in flight at a time.
 */
async function stageIndex(container: ContainerClient, name: string, parts: Buffer[]): Promise<SnapshotBlobWriter> {
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(name), {
    compression: 'none',
    contentType: 'application/octet-stream',
  });
  for (const part of parts) await writer.write(part);
  await writer.seal();
  return writer;
}

/** The snapshot latest.json names, with its index; {@link SnapshotUnreadable} says why there is none to compare with. */
async function previousSnapshot(options: RunChangesOptions): Promise<PreviousSnapshot> {
  const { container } = options;
  let text: string;
  try {
    // One GET (downloadToBuffer would ask for the size first): latest.json is a small JSON blob.
    text = await readText((await container.getBlobClient(LATEST_BLOB).download()).readableStreamBody);
  } catch (e) {
    if (statusOf(e) === 404) throw new SnapshotUnreadable(`there is no previous snapshot (no ${LATEST_BLOB}: the first run)`);
    throw new SnapshotUnreadable(`${LATEST_BLOB} could not be read: ${describeError(e)}`);
  }
  const manifest = parseManifest(text, LATEST_BLOB);
  const about = `the previous snapshot ${manifest.runId}`;
  if (manifest.tenantId.toLowerCase() !== options.tenantId.toLowerCase())
    throw new SnapshotUnreadable(`${about} is of another tenant (${manifest.tenantId})`);
  if (!selectsId(manifest.select))
    throw new SnapshotUnreadable(`${about} does not include id (its select is ${manifest.select.join(',')})`);
  try {
    const properties = await container.getBlobClient(manifest.blobName).getProperties();
    if (properties.contentLength !== manifest.bytes)
      throw new SnapshotUnreadable(
        `its users file has ${properties.contentLength} bytes, its manifest says ${manifest.bytes} (cut short or replaced)`,
      );
    return { manifest, index: await loadSnapshotIndex(container, manifest, options.warn) };
  } catch (e) {
    if (e instanceof SnapshotUnreadable) throw new SnapshotUnreadable(`${about} cannot be read: ${e.message}`);
    if (statusOf(e) === 404)
      throw new SnapshotUnreadable(`${about} cannot be read: its users file ${manifest.blobName} does not exist (deleted?)`);
    throw new SnapshotUnreadable(`${about} cannot be read: ${describeError(e)}`);
  }
}

async function readText(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  if (stream) for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
