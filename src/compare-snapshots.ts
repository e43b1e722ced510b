/**
 * `npm run changes -- <olderRunId> <newerRunId>`: the change report between any two stored snapshots, the same
 * lines a run writes (change-report.ts), found by their runIds in the export's container.
 */
import { createDefaultHttpClient } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential } from '@azure/identity';
import type { ContainerClient } from '@azure/storage-blob';
import { comparedProperties, countDifferences, spillDifferences, writeReportLines, type ChangeCounts } from './change-report.js';
import { describeAzureError } from './azure-errors.js';
import { ExportError, statusOf } from './errors.js';
import { retryBounds, withAttemptPolicy } from './http.js';
import type { StorageSettings } from './settings.js';
import { SortedSpill } from './sorted-spill.js';
import { openContainer } from './storage.js';
import { loadSnapshotIndex, parseManifest, selectsId, SnapshotUnreadable, type SnapshotManifest } from './stored-snapshot.js';

/** A runId as the export makes them (src/export.ts newRunId): the UTC start, then random hex. */
const RUN_ID = /^(\d{4})(\d{2})(\d{2})T\d{6}Z-[0-9a-f]+$/;

/** Where a run's manifest is: `snapshots/<yyyy>/<MM>/<dd>/<runId>/manifest.json`, the date being the runId's. */
export function manifestBlobOf(runId: string): string | undefined {
  const m = RUN_ID.exec(runId);
  return m ? `snapshots/${m[1]}/${m[2]}/${m[3]}/${runId}/manifest.json` : undefined;
}

export function openSnapshots(settings: StorageSettings): ContainerClient {
  const bounds = retryBounds(settings.requestTimeoutMs);
  const credential = new DefaultAzureCredential({
    ...(settings.managedIdentityClientId ? { managedIdentityClientId: settings.managedIdentityClientId } : {}),
    httpClient: withAttemptPolicy(createDefaultHttpClient(), { timeoutInMs: bounds.attemptTimeoutInMs, maxRetryAfterInMs: bounds.maxRetryDelayInMs }),
  });
  return openContainer(settings.storage, settings.container, credential, { requestTimeoutMs: settings.requestTimeoutMs });
}

/** The manifest of the run `runId` (`which`: "older" or "newer", for the messages). */
export async function findSnapshot(container: ContainerClient, runId: string, which: string): Promise<SnapshotManifest> {
  const name = manifestBlobOf(runId);
  if (name === undefined) {
    throw new ExportError('InvalidArguments', `The ${which} runId '${runId}' is not a runId: a runId looks like 20261202T020000Z-1a2b3c4d (the runId field of a manifest, or a folder name under snapshots/<yyyy>/<MM>/<dd>/).`);
  }
  let text: string;
  try {
    text = (await container.getBlobClient(name).downloadToBuffer()).toString('utf8');
  } catch (e) {
    if (statusOf(e) === 404) {
      throw new ExportError('SnapshotNotFound', `No snapshot with the ${which} runId '${runId}': ${name} does not exist in container '${container.containerName}' (${container.url}). Check the runId and EXPORT_CONTAINER / EXPORT_STORAGE.`);
    }
    throw readError(e, `reading ${name}`, container);
  }
  let manifest: SnapshotManifest;
  try {
    manifest = parseManifest(text, name);
  } catch (e) {
    throw new ExportError('SnapshotUnreadable', `The ${which} snapshot cannot be read: ${(e as Error).message}.`);
  }
  if (manifest.runId !== runId) throw new ExportError('SnapshotUnreadable', `The ${which} snapshot cannot be read: ${name} names another run (${manifest.runId}).`);
  if (!selectsId(manifest.select)) {
    throw new ExportError('InvalidArguments', `The ${which} snapshot ${runId} was exported without id (its select is ${manifest.select.join(',')}), so its users cannot be matched with another snapshot's.`);
  }
  return manifest;
}

/**
 * Writes the report from `older` to `newer` through `write` (lines sorted by id, in batches), as a run does.
 * Two snapshots of different tenants are not compared.
 */
export async function compareSnapshots(container: ContainerClient, older: SnapshotManifest, newer: SnapshotManifest, write: (lines: Buffer) => Promise<void>, warn: (message: string) => void): Promise<ChangeCounts & { compared: string[] }> {
  if (older.tenantId.toLowerCase() !== newer.tenantId.toLowerCase()) {
    throw new ExportError('InvalidArguments', `The snapshots ${older.runId} and ${newer.runId} are of different tenants (${older.tenantId}, ${newer.tenantId}): there is nothing to compare.`);
  }
  const olderSpill = new SortedSpill();
  const newerSpill = new SortedSpill();
  try {
    const [olderIndex, newerIndex] = await Promise.all([loadSnapshotIndex(container, older, warn), loadSnapshotIndex(container, newer, warn)]);
    if (countDifferences(newerIndex, olderIndex) > 0) await spillDifferences(container, newer, newerIndex, olderIndex, newerSpill);
    if (countDifferences(olderIndex, newerIndex) > 0) await spillDifferences(container, older, olderIndex, newerIndex, olderSpill);
    const compared = comparedProperties(older.select, newer.select);
    const counts = await writeReportLines(olderSpill, newerSpill, compared, write);
    return { ...counts, compared };
  } catch (e) {
    if (e instanceof SnapshotUnreadable) throw new ExportError('SnapshotUnreadable', `A snapshot cannot be read: ${e.message}.`, { cause: e });
    throw e;
  } finally {
    olderSpill.close();
    newerSpill.close();
  }
}

function readError(e: unknown, doing: string, container: ContainerClient): ExportError {
  if (statusOf(e) === 403) {
    return new ExportError(
      'StorageForbidden',
      `Blob Storage refused ${doing} (HTTP 403): the identity lacks a role that reads blobs ('Storage Blob Data Reader' or 'Storage Blob Data Contributor') on ${new URL(container.url).host} (or on container '${container.containerName}'); with a connection string in EXPORT_STORAGE, check its key or SAS.`,
      { cause: e },
    );
  }
  return describeAzureError(e, `${doing} in Blob Storage`, 'StorageFailed');
}
