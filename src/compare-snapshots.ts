/**
 * `npm run changes -- <olderRunId> <newerRunId>`: the change report between any two stored snapshots, the same
 * lines a run writes (change-report.ts), found by their runIds in the export's container.
 */
import { DefaultAzureCredential } from '@azure/identity';
import type { ContainerClient } from '@azure/storage-blob';
import {
  comparedProperties,
  spillDifferences,
  usersToKeep,
  writeReportLines,
  type ChangeCounts,
  type UsersToKeep,
} from './change-report.js';
import { exportError, statusOf } from './errors.js';
import type { StorageSettings } from './settings.js';
import { SortedSpill } from './sorted-spill.js';
import { openContainer, storageError } from './storage.js';
import { createTransport } from './transport.js';
import { loadSnapshotIndex, parseManifest, selectsId, SnapshotUnreadable, type SnapshotManifest } from './stored-snapshot.js';

/** A runId as the export makes them (src/export.ts newRunId): the UTC start, then random hex. */
const RUN_ID = /^(\d{4})(\d{2})(\d{2})T\d{6}Z-[0-9a-f]+$/;

/** Where a run's manifest is: `snapshots/<yyyy>/<MM>/<dd>/<runId>/manifest.json`, the date being the runId's. */
export function manifestBlobOf(runId: string): string | undefined {
  const m = RUN_ID.exec(runId);
  return m ? `snapshots/${m[1]}/${m[2]}/${m[3]}/${runId}/manifest.json` : undefined;
}

export function openSnapshots(settings: StorageSettings): ContainerClient {
  const transport = createTransport(settings);
  const credential = new DefaultAzureCredential({
    ...(settings.managedIdentityClientId ? { managedIdentityClientId: settings.managedIdentityClientId } : {}),
    ...transport.identity,
  });
  return openContainer(settings.storage, settings.container, credential, transport.storage);
}

/** The manifest of the run `runId` (`which`: "older" or "newer", for the messages). */
export async function findSnapshot(container: ContainerClient, runId: string, which: string): Promise<SnapshotManifest> {
  const name = manifestBlobOf(runId);
  if (name === undefined) {
    throw exportError('InvalidArguments', { kind: 'notRunId', which, runId });
  }
  let text: string;
  try {
    text = (await container.getBlobClient(name).downloadToBuffer()).toString('utf8');
  } catch (e) {
    if (statusOf(e) === 404) {
      throw exportError('SnapshotNotFound', { which, runId, blob: name, container: container.containerName, url: container.url });
    }
    throw storageError(e, `reading ${name}`, container);
  }
  let manifest: SnapshotManifest;
  try {
    manifest = parseManifest(text, name);
  } catch (e) {
    throw exportError('SnapshotUnreadable', { which, why: (e as Error).message });
  }
  if (manifest.runId !== runId) throw exportError('SnapshotUnreadable', { which, why: `${name} names another run (${manifest.runId})` });
  if (!selectsId(manifest.select)) {
    throw exportError('InvalidArguments', { kind: 'noId', which, runId, select: manifest.select.join(',') });
  }
  return manifest;
}

/**
 * Writes the report from `older` to `newer` through `write` (lines sorted by id, in batches), as a run does.
 * Two snapshots of different tenants are not compared.
 */
export async function compareSnapshots(
  container: ContainerClient,
  older: SnapshotManifest,
  newer: SnapshotManifest,
  write: (lines: Buffer) => Promise<void>,
  warn: (message: string) => void,
): Promise<ChangeCounts & { compared: string[] }> {
  if (older.tenantId.toLowerCase() !== newer.tenantId.toLowerCase()) {
    throw exportError('InvalidArguments', {
      kind: 'otherTenants',
      older: older.runId,
      newer: newer.runId,
      olderTenant: older.tenantId,
      newerTenant: newer.tenantId,
    });
  }
  const olderSpill = new SortedSpill();
  const newerSpill = new SortedSpill();
  try {
    const keep = await differingUsers(container, { older, newer }, warn);
    await spillDifferences(container, newer, keep.newer, newerSpill);
    await spillDifferences(container, older, keep.older, olderSpill);
    const compared = comparedProperties(older.select, newer.select);
    const counts = await writeReportLines(olderSpill, newerSpill, compared, write);
    return { ...counts, compared };
  } catch (e) {
    if (e instanceof SnapshotUnreadable)
      throw exportError('SnapshotUnreadable', { which: `${older.runId} or ${newer.runId}`, why: e.message }, { cause: e });
    throw e;
  } finally {
    olderSpill.close();
    newerSpill.close();
  }
}

/** Each side's users that differ from the other's; the indexes are let go when it returns, before the files are read. */
async function differingUsers(
  container: ContainerClient,
  manifests: { older: SnapshotManifest; newer: SnapshotManifest },
  warn: (message: string) => void,
): Promise<{ older: UsersToKeep; newer: UsersToKeep }> {
  const [olderIndex, newerIndex] = await Promise.all([
    loadSnapshotIndex(container, manifests.older, warn),
    loadSnapshotIndex(container, manifests.newer, warn),
  ]);
  return { older: usersToKeep(olderIndex, newerIndex), newer: usersToKeep(newerIndex, olderIndex) };
}
