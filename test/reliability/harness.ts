/**
 * The reliability suite's world: one Azurite behind the fault proxy (stand-ins/fault-proxy), and "lanes" — each
 * its own simulated tenant, Graph app, credential in Key Vault and export container, seeded with one
 * successful snapshot — that scenarios borrow one at a time, so that the sim's fault rules (global to a
 * tenant) and a container's state belong to one scenario at a time while many scenarios run at once.
 *
 * Every export runs as `npm run export` does (dist/bin/cli.js, a child process), with the suite's egress
 * recorder preloaded, TMPDIR/HOME/cwd pointed at directories the suite scans afterwards, and all its output
 * kept for the secret scan. Every secret the suite creates (client secrets, private keys, PFX values, the
 * identity header) and every bearer token the recorder saw is collected for that scan.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import { startExportProcess, type ExportProcessResult } from '../../stand-ins/export-process.js';
import { startFaultProxy, type FaultProxy } from '../../stand-ins/fault-proxy/index.js';
import { createAppCertificate, toPemBundle, toPfxBase64 } from '../../stand-ins/sim-tenant/certs.js';
import { startSimTenant, type SimTenant } from '../../stand-ins/sim-tenant/index.js';
import { expectedUsers } from '../../stand-ins/sim-tenant/users.js';
import { DEFAULTS } from '../../src/settings.js';
import { assertSnapshot, blobNames, containerState, type World } from '../helpers/environment.js';
// Never egress-recorder.ts: loading it patches node:http and node:https in this process.
import { readEgress, type EgressRecord } from './egress-record.js';

/**
 * The request timeout a scenario runs with (EXPORT_REQUEST_TIMEOUT_SECONDS) unless it injects a hang. Long,
 * because every legitimate request of the run must finish within it: up to eight exports run at once beside
 * Azurite and the sims, and on a busy 2-core machine an answered request can take seconds to be read. With one
 * second, requests nobody faulted timed out seven times in a row (the retries adding to the load) and cells
 * failed at random with ETIMEDOUT on Key Vault, the token endpoint or a block upload.
 */
export const REQUEST_TIMEOUT_SECONDS = '30';
/**
 * The request timeout of a scenario that injects a hang or a fault on every attempt: a hang costs this much per
 * attempt, and each pause between attempts at most this much (src/http.ts retryBounds), so it is kept short,
 * yet well above what an unfaulted request of a loaded machine takes (see REQUEST_TIMEOUT_SECONDS).
 */
export const SHORT_REQUEST_TIMEOUT_SECONDS = '3';

export type CredentialKind = 'secret' | 'certificate-pfx' | 'certificate-pem';

export interface LaneSpec {
  userCount: number;
  seed: number;
  credential: CredentialKind;
  format: 'json' | 'ndjson';
  compression: 'none' | 'gzip';
}

export interface Lane {
  readonly id: string;
  readonly spec: LaneSpec;
  readonly sim: SimTenant;
  readonly world: World;
  readonly containerName: string;
  readonly container: ContainerClient;
  /** A working environment for this lane (through the fault proxy, REQUEST_TIMEOUT_SECONDS). */
  readonly env: Record<string, string | undefined>;
  readonly clientId: string;
}

export interface RunResult extends ExportProcessResult {
  label: string;
  egress: EgressRecord[];
}

export interface Figures {
  /** Scenario name → faults injected into it (sim + proxy). */
  faultsByScenario: Map<string, number>;
  killPoints: string[];
  badInputs: string[];
  usersLost: number;
  partialSnapshotsVisible: number;
  orphanUsersFiles: number;
  uncommittedAfterKill: number;
  secretsInLogs: number;
  secretsOnDisk: number;
  bearerRequests: number;
  bearerMisdirected: number;
  runs: number;
  /** Extra per-scenario facts for the report (wall time, retries…). */
  notes: Map<string, Record<string, unknown>>;
}

class Pool {
  readonly #free: Lane[] = [];
  readonly #waiting: Array<(lane: Lane) => void> = [];
  readonly all: Lane[] = [];

  add(lane: Lane): void {
    this.all.push(lane);
    this.release(lane);
  }

  acquire(): Promise<Lane> {
    const lane = this.#free.shift();
    if (lane) return Promise.resolve(lane);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(lane: Lane): void {
    const next = this.#waiting.shift();
    if (next) next(lane);
    else this.#free.push(lane);
  }
}

export class ReliabilitySuite {
  readonly azurite: Azurite;
  readonly proxy: FaultProxy;
  readonly service: BlobServiceClient;
  readonly root: string;
  /** Where the export processes may write (TMPDIR, HOME, cwd): scanned at the end. */
  readonly productDirs: { tmp: string; home: string; cwd: string };
  readonly pools = new Map<string, Pool>();
  readonly outputs: Array<{ label: string; stdout: string; stderr: string }> = [];
  readonly egress: Array<EgressRecord & { label: string }> = [];
  /** label → secret value. */
  readonly secrets = new Map<string, string>();
  readonly figures: Figures = {
    faultsByScenario: new Map(),
    killPoints: [],
    badInputs: [],
    usersLost: 0,
    partialSnapshotsVisible: 0,
    orphanUsersFiles: 0,
    uncommittedAfterKill: 0,
    secretsInLogs: 0,
    secretsOnDisk: 0,
    bearerRequests: 0,
    bearerMisdirected: 0,
    runs: 0,
    notes: new Map(),
  };
  readonly #sims: SimTenant[] = [];
  #runCounter = 0;
  #laneCounter = 0;

  private constructor(azurite: Azurite, proxy: FaultProxy, root: string) {
    this.azurite = azurite;
    this.proxy = proxy;
    this.root = root;
    this.service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    this.productDirs = { tmp: path.join(root, 'product-tmp'), home: path.join(root, 'product-home'), cwd: path.join(root, 'product-cwd') };
    for (const dir of [...Object.values(this.productDirs), path.join(root, 'egress')]) fs.mkdirSync(dir, { recursive: true });
  }

  static async start(): Promise<ReliabilitySuite> {
    // A long keep-alive on Azurite's side too, so that only injected faults break connections.
    const azurite = await startAzurite({ args: ['--blobKeepAliveTimeout', '600'] });
    const proxy = await startFaultProxy({ blobEndpoint: azurite.blobEndpoint });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-'));
    return new ReliabilitySuite(azurite, proxy, root);
  }

  /** Starts `specs.length` lanes for the pool `name` (in parallel), each seeded with one good snapshot. */
  async addPool(name: string, specs: LaneSpec[]): Promise<void> {
    const pool = new Pool();
    this.pools.set(name, pool);
    const lanes = await Promise.all(specs.map((spec) => this.#startLane(name, spec)));
    for (const lane of lanes) pool.add(lane);
  }

  async #startLane(pool: string, spec: LaneSpec): Promise<Lane> {
    const index = ++this.#laneCounter;
    const sim = await startSimTenant({ userCount: spec.userCount, seed: spec.seed });
    this.#sims.push(sim);
    this.secrets.set(`lane ${index} identity header`, sim.identityHeader);
    sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId);
    const app = this.createApp(sim, spec.credential, `lane ${index}`);
    const containerName = `rel-${pool}-${index}`;
    const world: World = {
      sim,
      azurite: this.azurite,
      seed: spec.seed,
      userCount: spec.userCount,
      container: (name) => this.service.getContainerClient(name),
      close: async () => undefined,
    };
    const env: Record<string, string | undefined> = {
      ...sim.env(),
      ...app.env,
      EXPORT_STORAGE: this.proxy.connectionString(this.azurite.connectionString),
      EXPORT_CONTAINER: containerName,
      EXPORT_FORMAT: spec.format,
      EXPORT_COMPRESSION: spec.compression,
      EXPORT_REQUEST_TIMEOUT_SECONDS: REQUEST_TIMEOUT_SECONDS,
    };
    const lane: Lane = {
      id: `${pool}-${index}`,
      spec,
      sim,
      world,
      containerName,
      container: this.service.getContainerClient(containerName),
      env,
      clientId: app.clientId,
    };
    const seeded = await this.run(env, `seed ${lane.id}`);
    await assertSnapshot(world, env, seeded);
    return lane;
  }

  /**
   * An app registration holding User.Read.All with a credential stored in the lane's Key Vault, like
   * stand-ins/sim-tenant/demo-app.ts — but keeping the secret values, for the secret scan.
   */
  createApp(sim: SimTenant, credential: CredentialKind, label: string): { clientId: string; env: Record<string, string> } {
    const app = sim.addApp({ displayName: 'entra-users-export' });
    const name = `cred-${randomUUID().slice(0, 8)}`;
    if (credential === 'secret') {
      const value = sim.addClientSecret(app.clientId);
      this.secrets.set(`${label} client secret`, value);
      sim.setSecret(name, value, { contentType: 'text/plain' });
    } else {
      const cert = createAppCertificate({ commonName: 'entra-users-export' });
      sim.addCertificate(app.clientId, cert.certPem);
      this.addPrivateKey(`${label} private key`, cert.keyPem);
      if (credential === 'certificate-pfx') {
        const pfx = toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() });
        this.addPfx(`${label} PFX`, pfx);
        sim.setSecret(name, pfx, { contentType: 'application/x-pkcs12' });
      } else {
        sim.setSecret(name, toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), { contentType: 'application/x-pem-file' });
      }
    }
    sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId, { secret: name });
    return {
      clientId: app.clientId,
      env: {
        GRAPH_CLIENT_ID: app.clientId,
        [credential === 'secret' ? 'GRAPH_CLIENT_SECRET_NAME' : 'GRAPH_CLIENT_CERTIFICATE_NAME']: name,
      },
    };
  }

  /** A PEM private key: the whole PEM and a slice of its base64 body are searched for. */
  addPrivateKey(label: string, keyPem: string): void {
    this.secrets.set(label, keyPem.trim());
    const body = keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    this.secrets.set(`${label} (base64 slice)`, body.slice(100, 160));
  }

  addPfx(label: string, pfxBase64: string): void {
    this.secrets.set(label, pfxBase64);
    this.secrets.set(`${label} (slice)`, pfxBase64.slice(pfxBase64.length / 2, pfxBase64.length / 2 + 60));
  }

  /** Borrows a lane of `pool` for `fn`; its sim's faults and the proxy's rules for its container are cleared around it. */
  async withLane<T>(pool: string, fn: (lane: Lane) => Promise<T>): Promise<T> {
    const p = this.pools.get(pool);
    if (!p) throw new Error(`no pool ${pool}`);
    const lane = await p.acquire();
    lane.sim.clearFaults();
    lane.sim.setPageLatency(0);
    this.proxy.clearRules(lane.containerName);
    try {
      return await fn(lane);
    } finally {
      lane.sim.clearFaults();
      lane.sim.setPageLatency(0);
      this.proxy.clearRules(lane.containerName);
      p.release(lane);
    }
  }

  /** Faults injected so far into a lane (its sim + the proxy for its container). */
  faultsIn(lane: Lane): number {
    return lane.sim.stats.faultsInjected + (this.proxy.stats.faultsByContainer[lane.containerName] ?? 0);
  }

  get totalFaultsInjected(): number {
    return this.#sims.reduce((n, s) => n + s.stats.faultsInjected, 0) + this.proxy.stats.faultsInjected;
  }

  /**
   * Starts one export; `done` resolves when the process is gone (exit, failure or SIGKILL). `timeoutMs` SIGKILLs
   * a run that hangs; it is no speed limit, and a persistent hang alone costs 7 attempts of 3 s plus backoffs,
   * which a machine running eight exports at once stretches.
   */
  start(env: Record<string, string | undefined>, label: string, timeoutMs = 240_000): { child: ChildProcess; done: Promise<RunResult> } {
    const n = ++this.#runCounter;
    const egressFile = path.join(this.root, 'egress', `${n}.jsonl`);
    const childEnv = {
      ...env,
      TMPDIR: this.productDirs.tmp,
      TMP: this.productDirs.tmp,
      TEMP: this.productDirs.tmp,
      HOME: this.productDirs.home,
      RELIABILITY_EGRESS_LOG: egressFile,
    };
    const { child, done: exited } = startExportProcess(childEnv, {
      execArgv: ['--require', path.join(__dirname, 'egress-recorder.js')],
      cwd: this.productDirs.cwd,
      timeoutMs,
    });
    const done = exited.then((result): RunResult => {
      const egress = readEgress(egressFile);
      this.figures.runs += 1;
      this.outputs.push({ label, stdout: result.stdout, stderr: result.stderr });
      for (const record of egress) {
        this.egress.push({ ...record, label });
        if (record.token) this.secrets.set(`bearer token ${record.token.slice(-12)}`, record.token);
      }
      return { ...result, label, egress };
    });
    return { child, done };
  }

  run(env: Record<string, string | undefined>, label: string, timeoutMs?: number): Promise<RunResult> {
    return this.start(env, label, timeoutMs).done;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.proxy.close(), ...this.#sims.map((s) => s.close())]);
    await this.azurite.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * The users a run that should have succeeded lost or duplicated, found by comparing the ids in the snapshot
 * its summary names with the lane's tenant: ids missing plus extra copies of ids. Counted before any assertion
 * (assertSnapshot throws on the first difference), so that the "users lost" figure is a count, not 0 by
 * construction. A run without a summary, or whose users file is missing or unreadable, lost all its users.
 */
export async function countUsersLost(lane: Lane, result: RunResult): Promise<number> {
  const blobName = result.summary?.['blobName'];
  if (result.code !== 0 || typeof blobName !== 'string') return lane.spec.userCount;
  let users: unknown[];
  try {
    users = parseUsers(blobName, await lane.container.getBlobClient(blobName).downloadToBuffer());
  } catch {
    return lane.spec.userCount;
  }
  const seen = new Map<string, number>();
  for (const user of users) {
    const id = String((user as { id?: unknown } | null)?.id);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  let lost = 0;
  for (const user of expectedUsers({ seed: lane.spec.seed, userCount: lane.spec.userCount, select: ['id'] })) {
    const copies = seen.get(String(user['id'])) ?? 0;
    lost += copies === 0 ? 1 : copies - 1;
  }
  return lost;
}

/** A failed run: its exit code and message, no stack trace, no summary. */
export function assertFailure(result: RunResult, expected: { exitCode: number; message: RegExp }): void {
  assert.notEqual(result.signal, 'SIGKILL', `the run was killed (timeout?); stderr:\n${result.stderr}`);
  assert.equal(result.code, expected.exitCode, `exit code ${expected.exitCode} expected; stderr:\n${result.stderr}`);
  assert.match(result.stderr, expected.message);
  assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
  assert.equal(result.stdout, '', 'no summary on failure');
}

export { assertSnapshot, blobNames, containerState };

// ------------------------------------------------------------------------------------------ the invariant

export interface InvariantReport {
  latestRunId: string | undefined;
  manifests: number;
  usersFiles: number;
  /** Complete users files that no manifest names (a run killed between its commit and its manifest). */
  orphans: string[];
  /** Blobs that have staged blocks but were never committed (invisible to readers). */
  uncommitted: string[];
  violations: string[];
}

const SNAPSHOT_BLOB =
  /^snapshots\/\d{4}\/\d{2}\/\d{2}\/([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})\/(users\.(json|ndjson)(\.gz)?|manifest\.json|users\.index|changes\.ndjson(\.gz)?)$/;

const verifiedUsersFiles = new Map<string, { sha256: string; bytes: number; problems: string[] }>();
const expectedCache = new Map<string, string>();
function expectedCanonical(lane: Lane): string {
  const key = `${lane.spec.seed}/${lane.spec.userCount}`;
  let text = expectedCache.get(key);
  if (text === undefined) {
    text = JSON.stringify([
      ...expectedUsers({ seed: lane.spec.seed, userCount: lane.spec.userCount, select: DEFAULTS.USERS_SELECT.split(',') }),
    ]);
    expectedCache.set(key, text);
  }
  return text;
}

function parseUsers(name: string, stored: Buffer): unknown[] {
  const text = (name.endsWith('.gz') ? gunzipSync(stored) : stored).toString('utf8');
  if (/\.ndjson(\.gz)?$/.test(name)) {
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown);
  }
  return JSON.parse(text) as unknown[];
}

/**
 * The crash-safety invariant of a container, checked blob by blob (README "Output", made precise):
 *  1. only snapshot files (users, manifest, index, change report) and latest.json are visible;
 *  2. every visible users file is complete: its bytes hash to the sha256 it was committed with, and it holds
 *     exactly the tenant's users — there is no partial users file, ever (staged blocks stay invisible);
 *  3. every manifest names a users file that exists, with its bytes, sha256 and user count;
 *  4. latest.json is a copy of a manifest (so it names a complete, verified snapshot);
 *  5. latest.json is the one from `before`, or (only when `allowNewLatest`) a newer one — never older.
 * A complete users file that no manifest names is an orphan: allowed (and counted) — readers reach snapshots
 * through manifests and latest.json, and a run killed between its commit and its manifest leaves one.
 */
export async function checkInvariant(
  lane: Lane,
  before: { latest: string | undefined },
  options: { allowNewLatest: boolean },
): Promise<InvariantReport> {
  const container = lane.container;
  const violations: string[] = [];
  const visible: Array<{ name: string; metadata: Record<string, string>; bytes: number; etag: string }> = [];
  for await (const blob of container.listBlobsFlat({ includeMetadata: true })) {
    visible.push({
      name: blob.name,
      metadata: blob.metadata ?? {},
      bytes: blob.properties.contentLength ?? -1,
      etag: blob.properties.etag ?? '',
    });
  }
  const uncommitted: string[] = [];
  for await (const blob of container.listBlobsFlat({ includeUncommitedBlobs: true })) {
    if (!visible.some((v) => v.name === blob.name)) uncommitted.push(blob.name);
  }
  const users = new Map<string, { sha256: string; bytes: number }>();
  const manifests = new Map<string, Record<string, unknown>>();
  for (const blob of visible) {
    if (blob.name === 'latest.json') continue;
    const m = SNAPSHOT_BLOB.exec(blob.name);
    if (!m) {
      violations.push(`unexpected blob ${blob.name}`);
      continue;
    }
    if (m[2] === 'manifest.json') {
      const stored = await container.getBlobClient(blob.name).downloadToBuffer();
      manifests.set(blob.name, JSON.parse(stored.toString('utf8')) as Record<string, unknown>);
      continue;
    }
    // The index and the change report: committed whole before the manifest (checked against it below).
    if (m[2] === 'users.index' || m[2]!.startsWith('changes.ndjson')) continue;
    // A committed users file never changes (If-None-Match: * on commit): verify each version once.
    const key = `${container.containerName}/${blob.name}@${blob.etag}`;
    let verified = verifiedUsersFiles.get(key);
    if (!verified) {
      const stored = await container.getBlobClient(blob.name).downloadToBuffer();
      const problems: string[] = [];
      const sha256 = createHash('sha256').update(stored).digest('hex');
      if (blob.metadata['sha256'] !== sha256) problems.push(`${blob.name}: stored bytes do not hash to the sha256 it was committed with`);
      try {
        if (JSON.stringify(parseUsers(blob.name, stored)) !== expectedCanonical(lane))
          problems.push(`${blob.name}: not exactly the tenant's users (partial, duplicated or altered)`);
      } catch (e) {
        problems.push(`${blob.name}: unreadable (${e instanceof Error ? e.message : String(e)})`);
      }
      verified = { sha256, bytes: stored.length, problems };
      verifiedUsersFiles.set(key, verified);
    }
    users.set(blob.name, { sha256: verified.sha256, bytes: verified.bytes });
    violations.push(...verified.problems);
  }
  const named = new Set<string>();
  for (const [name, manifest] of manifests) {
    const blobName = String(manifest['blobName']);
    named.add(blobName);
    const file = users.get(blobName);
    if (!file) violations.push(`${name} names ${blobName}, which is not there`);
    else if (file.sha256 !== manifest['sha256'] || file.bytes !== manifest['bytes'])
      violations.push(`${name}: sha256/bytes do not match ${blobName}`);
    if (!blobName.startsWith(name.replace(/manifest\.json$/, ''))) violations.push(`${name} names a users file outside its folder`);
    if (manifest['userCount'] !== lane.spec.userCount) violations.push(`${name}: userCount ${String(manifest['userCount'])}`);
    const changes = manifest['changes'] as { blobName?: unknown; bytes?: unknown } | undefined;
    if (changes !== undefined && typeof changes.blobName === 'string') {
      const report = visible.find((b) => b.name === changes.blobName);
      if (!report) violations.push(`${name} names the change report ${changes.blobName}, which is not there`);
      else if (report.bytes !== changes.bytes) violations.push(`${name}: bytes do not match ${changes.blobName}`);
    }
  }
  const orphans = [...users.keys()].filter((n) => !named.has(n));
  let latestRunId: string | undefined;
  const latestBlob = visible.find((b) => b.name === 'latest.json');
  if (!latestBlob) {
    violations.push('latest.json is gone');
  } else {
    const text = (await container.getBlobClient('latest.json').downloadToBuffer()).toString('utf8');
    const latest = JSON.parse(text) as Record<string, unknown>;
    latestRunId = String(latest['runId']);
    const manifestName = String(latest['blobName']).replace(/users\.[a-z.]+$/, 'manifest.json');
    const manifest = manifests.get(manifestName);
    if (!manifest) violations.push(`latest.json names ${String(latest['blobName'])}, whose manifest is not there`);
    else if (JSON.stringify(manifest) !== JSON.stringify(latest)) violations.push('latest.json is not a copy of its manifest');
    if (before.latest !== undefined && text !== before.latest) {
      const previous = JSON.parse(before.latest) as Record<string, unknown>;
      if (!options.allowNewLatest) violations.push(`latest.json changed (from ${String(previous['runId'])} to ${latestRunId})`);
      if (String(latest['completedAt']) < String(previous['completedAt'])) violations.push('latest.json moved back to an older snapshot');
    }
  }
  return { latestRunId, manifests: manifests.size, usersFiles: users.size, orphans, uncommitted, violations };
}

/** Waits (polling) until `predicate` holds; rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
