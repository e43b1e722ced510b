/**
 * One export run, shared by the timer function and `npm run export`:
 * settings → container → credential from Key Vault → Graph token → every page of users streamed into the
 * snapshot blob → manifest → latest.json. Nothing becomes visible unless the whole run succeeds.
 */
import { randomBytes } from 'node:crypto';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { loadGraphCredential } from './credential.js';
import { ExportError, describeError, isExportError } from './errors.js';
import { listUserPages, type GraphUser } from './graph.js';
import { HttpClientWithRetries } from './http.js';
import { readSettings, type ExportSettings } from './settings.js';
import { deleteIfExists, ensureContainer, openContainer, publishLatest, snapshotPaths, SnapshotBlobWriter, uploadNewJson } from './storage.js';
import { graphTokenProvider } from './token.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The manifest (DESIGN.md "Output"), also the content of latest.json and the CLI's summary. */
export interface Manifest {
  runId: string;
  tenantId: string;
  startedAt: string;
  completedAt: string;
  userCount: number;
  container: string;
  blobName: string;
  format: ExportSettings['format'];
  compression: ExportSettings['compression'];
  contentType: string;
  bytes: number;
  sha256: string;
  select: string;
  filter: string | null;
  pages: number;
  retries: number;
  tokenRefreshes: number;
  listingRestarts: number;
  durationMs: number;
  graphEndpoint: string;
  manifestVersion: 1;
}

export interface RunExportOptions {
  /** Settings already read; otherwise read from `env` (default `process.env`). */
  settings?: ExportSettings;
  env?: Readonly<Record<string, string | undefined>>;
  log?: Logger;
  /** The identity for Key Vault and identity-based Storage; default DefaultAzureCredential. */
  azureCredential?: TokenCredential;
  /** How often progress is logged, ms. */
  progressIntervalMs?: number;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function runExport(options: RunExportOptions = {}): Promise<Manifest> {
  const log = options.log ?? silent;
  const settings = options.settings ?? readSettings(options.env);
  const started = new Date();
  const runId = newRunId(started);
  const { usersBlob, manifestBlob } = snapshotPaths(runId, started, settings.format, settings.compression);
  const azureCredential =
    options.azureCredential ?? new DefaultAzureCredential(settings.managedIdentityClientId ? { managedIdentityClientId: settings.managedIdentityClientId } : {});
  log.info(`Export ${runId} started: tenant ${settings.tenantId}, app ${settings.clientId}, ${settings.credential.kind} '${settings.credential.name}' from ${settings.keyVaultUrl}, to container '${settings.container}' as ${settings.format}${settings.compression === 'gzip' ? '+gzip' : ''}.`);

  const container = openContainer(settings.storage, settings.container, azureCredential);
  await ensureContainer(container);

  const credential = await loadGraphCredential(settings, azureCredential);
  if (credential.kind === 'certificate') {
    const daysLeft = Math.floor((credential.notAfter.getTime() - started.getTime()) / 86_400_000);
    log.info(`Using certificate ${credential.subject} (SHA-256 ${credential.thumbprintSha256}), valid until ${credential.notAfter.toISOString()}.`);
    if (daysLeft < 30) log.warn(`The Graph app's certificate expires in ${daysLeft} days (${credential.notAfter.toISOString()}): renew it in Key Vault and register the new one on the app.`);
  }
  const tokens = graphTokenProvider(settings, credential, (m) => log.warn(m));
  // Fail on a bad credential before anything is staged.
  await tokens.getToken();

  const stats = { retries: 0, tokenRefreshes: 0, listingRestarts: 0, pages: 0, users: 0 };
  const http = new HttpClientWithRetries({
    onRetry: (r) => {
      stats.retries += 1;
      log.warn(`Graph request retry ${r.attempt - 1} after ${r.status ? `HTTP ${r.status}` : r.error ?? 'an error'}.`);
    },
  });
  const contentType = settings.format === 'json' ? 'application/json; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(usersBlob), { compression: settings.compression, contentType });
  const progress = new Progress(log, options.progressIntervalMs ?? 10_000, stats);

  const pages = listUserPages({
    graphEndpoint: settings.graphEndpoint,
    select: settings.select,
    filter: settings.filter,
    tokens,
    http,
    authorityHost: settings.authorityHost,
    tenantId: settings.tenantId,
    clientId: settings.clientId,
    onTokenRefresh: () => (stats.tokenRefreshes += 1),
    log: (m) => log.warn(m),
  });
  if (settings.format === 'json') await writer.write('[');
  for await (const page of pages) {
    if (page.restarted) {
      stats.listingRestarts += 1;
      stats.pages = 0;
      stats.users = 0;
      await writer.reset();
      if (settings.format === 'json') await writer.write('[');
    }
    await writer.write(serialisePage(page.users, settings.format, stats.users === 0));
    stats.pages += 1;
    stats.users += page.users.length;
    progress.tick(writer.bytes);
  }
  if (settings.format === 'json') await writer.write(stats.users === 0 ? ']\n' : '\n]\n');

  const committed = await writer.commit({ runid: runId, usercount: String(stats.users) });
  const completed = new Date();
  const manifest: Manifest = {
    runId,
    tenantId: settings.tenantId,
    startedAt: started.toISOString(),
    completedAt: completed.toISOString(),
    userCount: stats.users,
    container: settings.container,
    blobName: usersBlob,
    format: settings.format,
    compression: settings.compression,
    contentType: settings.compression === 'gzip' ? 'application/gzip' : contentType,
    bytes: committed.bytes,
    sha256: committed.sha256,
    select: settings.select.join(','),
    filter: settings.filter ?? null,
    pages: stats.pages,
    retries: stats.retries,
    tokenRefreshes: stats.tokenRefreshes,
    listingRestarts: stats.listingRestarts,
    durationMs: completed.getTime() - started.getTime(),
    graphEndpoint: settings.graphEndpoint,
    manifestVersion: 1,
  };
  try {
    await uploadNewJson(container, manifestBlob, manifest);
    const published = await publishLatest(container, manifest);
    if (!published) log.warn(`latest.json already names a newer snapshot; it was left as is.`);
  } catch (e) {
    // A failed run leaves nothing: take back what this run committed (best effort).
    await deleteIfExists(container, [manifestBlob, usersBlob]);
    throw e;
  }
  progress.done(manifest);
  return manifest;
}

/**
 * One page as it is stored: each user exactly as Graph returned it (JSON.stringify of the parsed object
 * keeps property names, order and values), one array element or one line each.
 */
function serialisePage(users: readonly GraphUser[], format: ExportSettings['format'], first: boolean): string {
  if (users.length === 0) return '';
  if (format === 'ndjson') {
    let out = '';
    for (const user of users) out += `${JSON.stringify(user)}\n`;
    return out;
  }
  let out = first ? '\n' : ',\n';
  for (let i = 0; i < users.length; i += 1) out += (i === 0 ? '' : ',\n') + JSON.stringify(users[i]);
  return out;
}

/** Sortable and unique: the UTC start time, then random hex. */
export function newRunId(started: Date): string {
  return `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
}

class Progress {
  readonly #log: Logger;
  readonly #interval: number;
  readonly #stats: { retries: number; pages: number; users: number };
  readonly #start = Date.now();
  #last = Date.now();

  constructor(log: Logger, intervalMs: number, stats: { retries: number; pages: number; users: number }) {
    this.#log = log;
    this.#interval = intervalMs;
    this.#stats = stats;
  }

  tick(bytes: number): void {
    const now = Date.now();
    if (now - this.#last < this.#interval) return;
    this.#last = now;
    const seconds = (now - this.#start) / 1000;
    this.#log.info(`Progress: ${this.#stats.users} users, ${this.#stats.pages} pages, ${Math.round(this.#stats.users / seconds)} users/s, ${this.#stats.retries} retries, ${(bytes / 1048576).toFixed(1)} MiB stored, ${seconds.toFixed(0)} s.`);
  }

  done(manifest: Manifest): void {
    const seconds = manifest.durationMs / 1000;
    this.#log.info(
      `Export completed: run ${manifest.runId}, ${manifest.userCount} users in ${manifest.pages} pages, ${seconds.toFixed(1)} s (${Math.round(manifest.userCount / Math.max(seconds, 0.001))} users/s), ${manifest.retries} retries, ${manifest.bytes} bytes, sha256 ${manifest.sha256}, ${manifest.container}/${manifest.blobName}.`,
    );
  }
}

/** Normalises anything thrown by a run into an ExportError (unknown errors become 'Unexpected'). */
export function toExportError(e: unknown): ExportError {
  if (isExportError(e)) return e;
  return new ExportError('Unexpected', `The export failed unexpectedly: ${describeError(e)}. If it persists, report it with the log of this run.`, { cause: e });
}
