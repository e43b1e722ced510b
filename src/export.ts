/**
 * One export run, shared by the timer function and `npm run export`:
 * settings → container → credential (from Key Vault, or the function's identity when federated) → Graph token →
 * every page of users streamed into the snapshot blob → manifest → latest.json. Nothing becomes visible unless the whole run succeeds.
 */
import { randomBytes } from 'node:crypto';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { ContainerClient } from '@azure/storage-blob';
import { loadGraphCredential } from './credential.js';
import { federatedCredential } from './federated-credential.js';
import { describeError, exportError, isExportError, type ExportError } from './errors.js';
import { GraphAccessRefused, listUserPages, type ConsistencyLevel, type PageUsers } from './graph.js';
import { HttpClientWithRetries } from './http.js';
import { publishSnapshot } from './publish.js';
import { RunChanges, type ManifestChanges } from './run-changes.js';
import { readSettings, type ExportSettings } from './settings.js';
import { ensureContainer, openContainer, snapshotPaths, SnapshotBlobWriter, type CommittedBlob } from './storage.js';
import { graphTokenProvider, type TokenProvider } from './token.js';
import { createTransport, type Transport } from './transport.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The manifest (README "Output"), also the content of latest.json and the CLI's summary. */
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
  /** "eventual" when the listing ran as an advanced query (its results may lag behind the directory), else null. */
  consistencyLevel: ConsistencyLevel | null;
  pages: number;
  retries: number;
  tokenRefreshes: number;
  listingRestarts: number;
  durationMs: number;
  graphEndpoint: string;
  manifestVersion: 1;
  /** The change report against the previous snapshot (README "The change report"), or why there is none. */
  changes: ManifestChanges;
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
  const transport = createTransport(settings);
  const azureCredential = options.azureCredential ?? azureIdentity(settings, transport);
  const using =
    settings.credential.kind === 'federated'
      ? `federated credential: managed identity ${settings.credential.managedIdentityClientId}`
      : `${settings.credential.kind} '${settings.credential.name}' from ${settings.keyVaultUrl}`;
  log.info(
    `Export ${runId} started: tenant ${settings.tenantId}, app ${settings.clientId}, ${using}, to container '${settings.container}' as ${settings.format}${settings.compression === 'gzip' ? '+gzip' : ''}.`,
  );

  const container = openContainer(settings.storage, settings.container, azureCredential, transport.storage);
  // The previous snapshot is the one latest.json names now, at the start (never fails: a problem skips the report).
  const changesReady = RunChanges.start({
    container,
    tenantId: settings.tenantId,
    select: settings.select,
    compression: settings.compression,
    runId,
    warn: (m) => log.warn(m),
  });
  const tokens = await preflight(settings, container, azureCredential, transport, log, started);
  const changes = await changesReady;
  try {
    if (changes.previousRunId !== undefined) log.info(`Changes are reported against the previous snapshot ${changes.previousRunId}.`);
    return await exportSnapshot(
      settings,
      { runId, started, container, tokens, transport, changes },
      log,
      options.progressIntervalMs ?? 10_000,
    );
  } finally {
    // Its temporary files, whatever happened.
    changes.close();
  }
}

/** Lists the users into the snapshot blob and publishes it with its change report. */
async function exportSnapshot(
  settings: ExportSettings,
  run: { runId: string; started: Date; container: ContainerClient; tokens: TokenProvider; transport: Transport; changes: RunChanges },
  log: Logger,
  progressIntervalMs: number,
): Promise<Manifest> {
  const { runId, started, container, tokens, transport, changes } = run;

  const { usersBlob, manifestBlob } = snapshotPaths(runId, started, settings.format, settings.compression);
  const contentType = settings.format === 'json' ? 'application/json; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
  const writer = new SnapshotBlobWriter(container.getBlockBlobClient(usersBlob), { compression: settings.compression, contentType });
  const listing = await listInto(writer, settings, tokens, transport, log, progressIntervalMs, changes);

  // Everything of the snapshot is staged before anything of it is committed — the users file, then its index and
  // change report, made now (seconds, at a million users) — so that the commits, one after the other, and the
  // manifest are a few round trips apart: a run killed before them leaves only staged blocks.
  const users = await writer.seal();
  const report = await changes.finish(usersBlob, users);
  const { manifest, latestUpdated } = await publishSnapshot(container, {
    users: { blobName: usersBlob, commit: () => writer.commit({ runid: runId, usercount: String(listing.users) }) },
    others: report.blobs,
    manifestBlob,
    manifest: (committed) => ({
      ...manifestOf(settings, { runId, started, blobName: usersBlob, contentType: writer.contentType, users: committed, listing }),
      changes: report.changes,
    }),
  });
  if (!latestUpdated) log.warn(`latest.json already names a newer snapshot; it was left as is.`);
  logCompleted(log, manifest);
  return manifest;
}

/** The identity for Key Vault and identity-based Storage: the managed identity in Azure, a developer's login locally. */
function azureIdentity(settings: ExportSettings, transport: Transport): TokenCredential {
  return new DefaultAzureCredential({
    ...(settings.managedIdentityClientId ? { managedIdentityClientId: settings.managedIdentityClientId } : {}),
    ...transport.identity,
  });
}

/**
 * Storage on one side, Key Vault and the token on the other: neither needs the other, so both are checked at
 * once (each is a few round trips), and a bad credential fails the run before anything is staged. When
 * both fail, Storage's problem is the one reported, as if they had run one after the other.
 */
async function preflight(
  settings: ExportSettings,
  container: ContainerClient,
  azureCredential: TokenCredential,
  transport: Transport,
  log: Logger,
  now: Date,
): Promise<TokenProvider> {
  const [containerReady, graphAccess] = await Promise.allSettled([
    ensureContainer(container),
    (async () => {
      const { credential: setting, keyVaultUrl } = settings;
      const credential =
        setting.kind === 'federated'
          ? federatedCredential(
              { managedIdentityClientId: setting.managedIdentityClientId, authorityHost: settings.authorityHost },
              transport.identity,
            )
          : await loadGraphCredential({ ...settings, credential: setting, keyVaultUrl: keyVaultUrl! }, azureCredential, { transport });
      if (credential.kind === 'certificate') {
        const daysLeft = Math.floor((credential.notAfter.getTime() - now.getTime()) / 86_400_000);
        log.info(
          `Using certificate ${credential.subject} (SHA-256 ${credential.thumbprintSha256}), valid until ${credential.notAfter.toISOString()}.`,
        );
        if (daysLeft < 30)
          log.warn(
            `The Graph app's certificate expires in ${daysLeft} days (${credential.notAfter.toISOString()}): renew it in Key Vault and register the new one on the app.`,
          );
      }
      const provider = graphTokenProvider(settings, credential, { log: (m) => log.warn(m), transport });
      await provider.getToken();
      return provider;
    })(),
  ]);
  if (containerReady.status === 'rejected') throw containerReady.reason;
  if (graphAccess.status === 'rejected') throw graphAccess.reason;
  return graphAccess.value;
}

/** What the listing did, for the manifest. */
interface ListingStats {
  retries: number;
  tokenRefreshes: number;
  listingRestarts: number;
  pages: number;
  users: number;
  consistencyLevel: ConsistencyLevel | null;
}

/** Streams every page of users into the writer (not committed), logging progress on the way. */
async function listInto(
  writer: SnapshotBlobWriter,
  settings: ExportSettings,
  tokens: TokenProvider,
  transport: Transport,
  log: Logger,
  progressIntervalMs: number,
  changes: RunChanges,
): Promise<ListingStats> {
  const stats: ListingStats = { retries: 0, tokenRefreshes: 0, listingRestarts: 0, pages: 0, users: 0, consistencyLevel: null };
  const http = new HttpClientWithRetries({
    ...transport.graph,
    onRetry: (r) => {
      stats.retries += 1;
      log.warn(`Graph request retry ${r.attempt - 1} after ${r.status ? `HTTP ${r.status}` : (r.error ?? 'an error')}.`);
    },
  });
  const progress = new Progress(log, progressIntervalMs, stats, () => writer.bytes);
  const pages = listUserPages({
    graphEndpoint: settings.graphEndpoint,
    select: settings.select,
    filter: settings.filter,
    tokens,
    http,
    onTokenRefresh: () => (stats.tokenRefreshes += 1),
    onAdvancedQuery: (level) => (stats.consistencyLevel = level),
    log: (m) => log.warn(m),
  });
  const encoder = new PageEncoder();
  progress.start();
  try {
    if (settings.format === 'json') await writer.write('[');
    let next = pages.next();
    for (;;) {
      const item = await next;
      if (item.done) break;
      const page = item.value;
      if (page.restarted) {
        stats.listingRestarts += 1;
        stats.pages = 0;
        stats.users = 0;
        await writer.reset();
        changes.restart();
        if (settings.format === 'json') await writer.write('[');
      }
      // write() serialises, hashes and hands the bytes over synchronously; what it returns is the blob's
      // back-pressure (blocks in flight). Pull the next page before waiting for it, so that a slow block
      // upload never holds back the Graph request after the one already in flight: memory stays bounded
      // (this page's bytes, the next page, one request in flight) and Graph stays busy.
      const written = writer.write(encoder.page(page, settings.format, stats.users === 0));
      changes.addPage(page.elements, page.count);
      stats.pages += 1;
      stats.users += page.count;
      next = pages.next();
      // Handled here so that a failed write leaves no unhandled rejection behind; awaited above.
      next.catch(() => undefined);
      await written;
    }
    if (settings.format === 'json') await writer.write(stats.users === 0 ? ']\n' : '\n]\n');
  } catch (e) {
    // Stop the listing at its next page (not awaited: it may be in the middle of a request).
    pages.return(undefined).catch(() => undefined);
    throw e instanceof GraphAccessRefused ? graphAccessError(e, settings) : e;
  } finally {
    progress.stop();
  }
  return stats;
}

/** Graph's refusal of the token, completed with the app and the authority the settings name. */
function graphAccessError(e: GraphAccessRefused, settings: ExportSettings): ExportError {
  const { said, where } = e;
  return e.status === 403
    ? exportError(
        'GraphForbidden',
        { said, clientId: settings.clientId, authorityHost: settings.authorityHost, tenantId: settings.tenantId },
        { cause: e },
      )
    : exportError(
        'GraphUnauthorized',
        { said, where, graphEndpoint: settings.graphEndpoint, authorityHost: settings.authorityHost },
        { cause: e },
      );
}

function manifestOf(
  settings: ExportSettings,
  run: { runId: string; started: Date; blobName: string; contentType: string; users: CommittedBlob; listing: ListingStats },
): Omit<Manifest, 'changes'> {
  const completed = new Date();
  return {
    runId: run.runId,
    tenantId: settings.tenantId,
    startedAt: run.started.toISOString(),
    completedAt: completed.toISOString(),
    userCount: run.listing.users,
    container: settings.container,
    blobName: run.blobName,
    format: settings.format,
    compression: settings.compression,
    contentType: run.contentType,
    bytes: run.users.bytes,
    sha256: run.users.sha256,
    select: settings.select.join(','),
    filter: settings.filter ?? null,
    consistencyLevel: run.listing.consistencyLevel,
    pages: run.listing.pages,
    retries: run.listing.retries,
    tokenRefreshes: run.listing.tokenRefreshes,
    listingRestarts: run.listing.listingRestarts,
    durationMs: completed.getTime() - run.started.getTime(),
    graphEndpoint: settings.graphEndpoint,
    manifestVersion: 1,
  };
}

/**
 * One page as it is stored: each user exactly as Graph returned it — the element's own bytes from the
 * response, as graph.ts cut them out — one array element or one line each, straight into a reused buffer:
 * no page-sized string is built, so there is nothing to flatten and less garbage per page.
 */
class PageEncoder {
  #scratch = Buffer.allocUnsafeSlow(1024 * 1024);
  #length = 0;

  page(page: PageUsers, format: ExportSettings['format'], first: boolean): Buffer {
    this.#length = 0;
    if (page.count === 0) return this.#scratch.subarray(0, 0);
    const separator = format === 'ndjson' ? '' : ',\n';
    if (format === 'json') this.#append(first ? '\n' : ',\n');
    for (let i = 0; i < page.count; i += 1) {
      if (i > 0) this.#append(separator);
      this.#copy(page.elements.bytes, page.elements.ranges[2 * i]!, page.elements.ranges[2 * i + 1]!);
      if (format === 'ndjson') this.#append('\n');
    }
    // A view of the scratch, valid until the next page(): the writer copies what it keeps.
    return this.#scratch.subarray(0, this.#length);
  }

  #append(text: string): void {
    // A UTF-16 code unit never takes more than 3 bytes in UTF-8.
    this.#reserve(text.length * 3);
    this.#length += this.#scratch.write(text, this.#length, 'utf8');
  }

  #copy(source: Buffer, start: number, end: number): void {
    this.#reserve(end - start);
    this.#length += source.copy(this.#scratch, this.#length, start, end);
  }

  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#scratch.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(needed, this.#scratch.length * 2));
    this.#scratch.copy(bigger, 0, 0, this.#length);
    this.#scratch = bigger;
  }
}

/** Sortable and unique: the UTC start time, then random hex. */
export function newRunId(started: Date): string {
  return `${started
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
}

/**
 * Progress of a long run, on a steady cadence whatever the pages do (a page stuck in retries still gets
 * its lines): a timer, unref'd so that it never keeps a process alive, and always stopped by the run.
 */
class Progress {
  readonly #log: Logger;
  readonly #interval: number;
  readonly #stats: { retries: number; pages: number; users: number };
  readonly #bytes: () => number;
  #start = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, intervalMs: number, stats: { retries: number; pages: number; users: number }, bytes: () => number) {
    this.#log = log;
    this.#interval = intervalMs;
    this.#stats = stats;
    this.#bytes = bytes;
  }

  start(): void {
    this.#start = Date.now();
    this.#timer = setInterval(() => this.#report(), this.#interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #report(): void {
    const seconds = (Date.now() - this.#start) / 1000;
    this.#log.info(
      `Progress: ${this.#stats.users} users, ${this.#stats.pages} pages, ${Math.round(this.#stats.users / seconds)} users/s, ${this.#stats.retries} retries, ${(this.#bytes() / 1048576).toFixed(1)} MiB stored, ${seconds.toFixed(0)} s.`,
    );
  }
}

function logCompleted(log: Logger, manifest: Manifest): void {
  const seconds = manifest.durationMs / 1000;
  log.info(
    `Export completed: run ${manifest.runId}, ${manifest.userCount} users in ${manifest.pages} pages, ${seconds.toFixed(1)} s (${Math.round(manifest.userCount / Math.max(seconds, 0.001))} users/s), ${manifest.retries} retries, ${manifest.bytes} bytes, sha256 ${manifest.sha256}, ${manifest.container}/${manifest.blobName}${manifest.consistencyLevel === null ? '' : `, listed as an advanced query (ConsistencyLevel: ${manifest.consistencyLevel})`}.`,
  );
}

/** Normalises anything thrown by a run into an ExportError (unknown errors become 'Unexpected'). */
export function toExportError(e: unknown): ExportError {
  if (isExportError(e)) return e;
  return exportError('Unexpected', { kind: 'thrown', description: describeError(e) }, { cause: e });
}
