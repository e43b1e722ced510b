/**
 * The change report between two snapshots (README "The change report"): one JSON line per joiner, leaver or
 * changed user, sorted by id —
 *
 *   {"change":"added","id":"…","user":{…as in the newer snapshot…}}
 *   {"change":"removed","id":"…","user":{…as in the older snapshot…}}
 *   {"change":"changed","id":"…","changes":{"department":{"old":"Sales","new":"Finance"}}}
 *
 * How, in flat memory: each snapshot has an index (id → hash of the user's stored bytes, sorted; see
 * snapshot-index.ts). A user whose hash is the same on both sides is the same bytes, so unchanged. Each side's
 * users file is streamed once and only the users that differ from the other side's index — joiners or leavers,
 * or either side of a possibly changed user — are kept aside (sorted-spill.ts). The two sets, read back sorted by
 * id, are merged into the report: an id on one side only is added or removed; on both, the user is changed when
 * a compared property differs as a JSON value (absent counts as null), printed with its old and new values as
 * stored.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { userHasher, type SnapshotIndex } from './snapshot-index.js';
import { SortedSpill, type SpilledUser } from './sorted-spill.js';
import { forEachStoredUser, SnapshotUnreadable, type SnapshotManifest } from './stored-snapshot.js';
import { jsonValuesEqual, membersOf, userIdBytes } from './user-json.js';

export interface ChangeCounts {
  added: number;
  removed: number;
  changed: number;
}

/**
 * The properties compared: those in both snapshots' `select` (Graph's names are case-insensitive), in the newer
 * snapshot's order and spelling.
 */
export function comparedProperties(older: readonly string[], newer: readonly string[]): string[] {
  const inOlder = new Set(older.map((p) => p.toLowerCase()));
  const seen = new Set<string>();
  return newer.filter((p) => {
    const key = p.toLowerCase();
    if (!inOlder.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Whether the user `(id, hash)` of one side differs from the other side's index: absent there, or other bytes. */
export function differsFrom(other: SnapshotIndex, id: Uint8Array, hash: bigint): boolean {
  const at = other.find(id);
  return at < 0 || other.hashes[at] !== hash;
}

/**
 * The users of one snapshot that differ from another's (not there, or there with other bytes), by their place in
 * the first one's users file — what {@link spillDifferences} needs to find them there, without either index.
 */
export interface UsersToKeep {
  /** 1 at the place of each user that differs, else 0. */
  differs: Uint8Array;
  /** At those places, the hash of the user's stored bytes (as its own index has it), to check the user read. */
  hashes: BigUint64Array;
  count: number;
}

/** The users of `own` that differ from `other`. Holds neither index: 9 bytes per user of `own`. */
export function usersToKeep(own: SnapshotIndex, other: SnapshotIndex): UsersToKeep {
  const differs = new Uint8Array(own.count);
  const hashes = new BigUint64Array(own.count);
  let count = 0;
  let j = 0;
  for (let i = 0; i < own.count; i += 1) {
    while (j < other.count && other.compare(j, own, i) < 0) j += 1;
    if (j >= other.count || other.compare(j, own, i) !== 0 || other.hashes[j] !== own.hashes[i]) {
      const place = own.places[i]!;
      differs[place] = 1;
      hashes[place] = own.hashes[i]!;
      count += 1;
    }
  }
  return { differs, hashes, count };
}

/**
 * Streams a stored snapshot and keeps aside (in `spill`) its users that `keep` names, by their place in the file:
 * the others are skipped without being read further than their line's end. Each user kept is checked against its
 * hash; that the file as a whole is the one its index described is checked by its size, SHA-256 and user count
 * against the manifest, which the index names too. With none to keep, the file is not read.
 */
export async function spillDifferences(
  container: ContainerClient,
  manifest: SnapshotManifest,
  keep: UsersToKeep,
  spill: SortedSpill,
): Promise<void> {
  if (keep.count === 0) return;
  const { differs, hashes } = keep;
  const hash = await userHasher();
  await forEachStoredUser(container, manifest, (bytes, start, end, place) => {
    if (place >= differs.length) throw new SnapshotUnreadable(`${manifest.blobName} holds more users than its index`);
    if (differs[place] === 0) return;
    const user = bytes.subarray(start, end);
    if (hash(user) !== hashes[place]) throw new SnapshotUnreadable(`${manifest.blobName} does not match its index (user ${place + 1})`);
    const id = userIdBytes(bytes, start, end);
    if (id === undefined) throw new SnapshotUnreadable(`a user of ${manifest.blobName} has no id`);
    spill.add(id, user);
  });
}

const LINE_BATCH = 256 * 1024;

/**
 * Merges the users kept aside from the older and the newer snapshot into the report's lines (sorted by id),
 * handed to `write` in batches; returns the counts. The batch's buffer is reused once `write`'s promise settles.
 */
export async function writeReportLines(
  older: SortedSpill,
  newer: SortedSpill,
  compared: readonly string[],
  write: (lines: Buffer) => Promise<void>,
): Promise<ChangeCounts> {
  const counts: ChangeCounts = { added: 0, removed: 0, changed: 0 };
  const properties = compared.filter((p) => p.toLowerCase() !== 'id').map((p) => ({ name: p, key: p.toLowerCase() }));
  // One batch buffer, reused: the writer copies what it keeps before write() returns. A buffer per batch (or per
  // line) would be garbage that the collector lets pile up by tens of MiB while a million lines go by.
  let batch = Buffer.allocUnsafeSlow(LINE_BATCH);
  let batched = 0;
  const append = (part: string | Buffer): void => {
    const size = typeof part === 'string' ? Buffer.byteLength(part, 'utf8') : part.length;
    if (batched + size > batch.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(batch.length * 2, batched + size));
      batch.copy(bigger, 0, 0, batched);
      batch = bigger;
    }
    batched += typeof part === 'string' ? batch.write(part, batched, 'utf8') : part.copy(batch, batched);
  };
  const emit = async (...parts: (string | Buffer)[]): Promise<void> => {
    for (const part of parts) append(part);
    if (batched >= LINE_BATCH) await flush();
  };
  const flush = async (): Promise<void> => {
    if (batched === 0) return;
    const lines = batch.subarray(0, batched);
    batched = 0;
    await write(lines);
  };
  for (;;) {
    const o = older.peek();
    const n = newer.peek();
    if (o === undefined && n === undefined) break;
    const order = o === undefined ? 1 : n === undefined ? -1 : Buffer.compare(o.id, n.id);
    if (order < 0) {
      older.take();
      counts.removed += 1;
      await emit(`{"change":"removed","id":${JSON.stringify(o!.id.toString('utf8'))},"user":`, o!.bytes, '}\n');
    } else if (order > 0) {
      newer.take();
      counts.added += 1;
      await emit(`{"change":"added","id":${JSON.stringify(n!.id.toString('utf8'))},"user":`, n!.bytes, '}\n');
    } else {
      const differences = changedProperties(older.take()!, newer.take()!, properties);
      if (differences !== undefined) {
        counts.changed += 1;
        await emit(`{"change":"changed","id":${JSON.stringify(n!.id.toString('utf8'))},"changes":{${differences}}}\n`);
      }
    }
  }
  await flush();
  return counts;
}

/** `"name":{"old":…,"new":…}` for each compared property whose values differ, joined by commas; undefined when none does. */
function changedProperties(
  older: SpilledUser,
  newer: SpilledUser,
  properties: readonly { name: string; key: string }[],
): string | undefined {
  const before = membersOf(older.bytes, 0, older.bytes.length);
  const after = membersOf(newer.bytes, 0, newer.bytes.length);
  const differences: string[] = [];
  for (const { name: property, key } of properties) {
    const o = before.get(key);
    const n = after.get(key);
    // The same text is the same value: most properties of a changed user are, and need no string.
    if (o && n && newer.bytes.compare(older.bytes, o.start, o.end, n.start, n.end) === 0) continue;
    const oldValue = o ? older.bytes.toString('utf8', o.start, o.end) : 'null';
    const newValue = n ? newer.bytes.toString('utf8', n.start, n.end) : 'null';
    if (!jsonValuesEqual(oldValue, newValue))
      differences.push(`${JSON.stringify(n?.name ?? o?.name ?? property)}:{"old":${oldValue},"new":${newValue}}`);
  }
  return differences.length > 0 ? differences.join(',') : undefined;
}
