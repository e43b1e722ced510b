/**
 * The integration tests' world: Azurite + the simulated tenant, and the product run as `npm run export`
 * (dist/bin/cli.js, the bundled CLI) in a child process, driven only through the settings of README "Settings".
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import { runExportProcess, type ExportProcessResult } from '../../stand-ins/export-process.js';
import { setupDemoApp } from '../../stand-ins/sim-tenant/demo-app.js';
import { startSimTenant, type SimTenant, type SimTenantOptions } from '../../stand-ins/sim-tenant/index.js';
import { expectedUsers } from '../../stand-ins/sim-tenant/users.js';
import { DEFAULTS } from '../../src/settings.js';

export interface World {
  sim: SimTenant;
  azurite: Azurite;
  seed: number;
  userCount: number;
  container(name: string): ContainerClient;
  close(): Promise<void>;
}

export interface WorldOptions extends SimTenantOptions {
  /**
   * Default true, like the Bicep: the function's system-assigned identity holds Key Vault Secrets User on the
   * whole vault. false: it holds only what each test grants (workingEnv grants it its app's secret), so that
   * a secret granted to another identity alone is out of its reach.
   */
  systemIdentityOnVault?: boolean;
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const { systemIdentityOnVault = true, ...simOptions } = options;
  const seed = simOptions.seed ?? 7;
  const userCount = simOptions.userCount ?? 2500;
  const [azurite, sim] = await Promise.all([startAzurite(), startSimTenant({ ...simOptions, seed, userCount })]);
  if (systemIdentityOnVault) sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId);
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  return {
    sim,
    azurite,
    seed,
    userCount,
    container: (name) => service.getContainerClient(name),
    close: async () => {
      await Promise.allSettled([sim.close(), azurite.stop()]);
    },
  };
}

let containerCounter = 0;
/** A fresh container name per scenario, so that scenarios in one file do not see each other's blobs. */
export function newContainerName(prefix = 'exp'): string {
  containerCounter += 1;
  return `${prefix}-${process.pid}-${containerCounter}`;
}

export type Credential = 'secret' | 'certificate-pfx' | 'certificate-pem' | 'federated';

/** The settings of a working export against the world, for one app; override any of them. */
export function workingEnv(
  world: World,
  credential: Credential = 'certificate-pfx',
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  const app = setupDemoApp(world.sim, { credential, secretName: `cred-${credential}-${++containerCounter}` });
  return {
    ...world.sim.env(),
    ...app.env,
    // Secretless needs no vault: run without one, as a federated deployment is configured.
    ...(credential === 'federated' ? { KEY_VAULT_URL: undefined } : {}),
    EXPORT_STORAGE: world.azurite.connectionString,
    EXPORT_CONTAINER: newContainerName(),
    ...overrides,
  };
}

export function runExport(env: Record<string, string | undefined>, timeoutMs = 120_000): Promise<ExportProcessResult> {
  return runExportProcess(env, { timeoutMs });
}

export async function blobNames(container: ContainerClient): Promise<string[]> {
  const names: string[] = [];
  if (!(await container.exists())) return names;
  for await (const blob of container.listBlobsFlat()) names.push(blob.name);
  return names.sort();
}

export async function download(container: ContainerClient, name: string): Promise<Buffer> {
  return container.getBlobClient(name).downloadToBuffer();
}

/** Asserts a successful run's snapshot: layout, manifest fields, sha256/bytes, latest.json, and the users. */
export async function assertSnapshot(
  world: World,
  env: Record<string, string | undefined>,
  result: ExportProcessResult,
  expected: { select?: string; filter?: string; userCount?: number } = {},
): Promise<{ users: Record<string, unknown>[]; manifest: Record<string, unknown> }> {
  assert.equal(result.code, 0, `export exits 0; stderr:\n${result.stderr}`);
  assert.ok(result.summary, 'a one-line JSON summary is printed');
  const summary = result.summary;
  const format = env['EXPORT_FORMAT'] ?? 'json';
  const gzip = env['EXPORT_COMPRESSION'] === 'gzip';
  const container = world.container(env['EXPORT_CONTAINER']!);
  const runId = String(summary['runId']);
  const blobName = String(summary['blobName']);
  assert.match(blobName, new RegExp(`^snapshots/\\d{4}/\\d{2}/\\d{2}/${runId}/users\\.${format}${gzip ? '\\.gz' : ''}$`));
  const names = await blobNames(container);
  const manifestName = blobName.replace(/users\.[a-z.]+$/, 'manifest.json');
  assert.ok(names.includes(blobName) && names.includes(manifestName) && names.includes('latest.json'), names.join(', '));

  const manifest = JSON.parse((await download(container, manifestName)).toString()) as Record<string, unknown>;
  const latest = JSON.parse((await download(container, 'latest.json')).toString()) as Record<string, unknown>;
  assert.deepEqual(latest, manifest, 'latest.json is a copy of the newest manifest');
  for (const field of [
    'runId',
    'tenantId',
    'startedAt',
    'completedAt',
    'userCount',
    'blobName',
    'format',
    'compression',
    'bytes',
    'sha256',
    'select',
    'filter',
    'pages',
    'retries',
  ]) {
    assert.ok(field in manifest, `manifest has ${field}`);
  }
  assert.equal(manifest['runId'], runId);
  assert.equal(manifest['blobName'], blobName);
  assert.equal(manifest['format'], format);
  assert.equal(manifest['compression'], gzip ? 'gzip' : 'none');
  assert.equal(manifest['tenantId'], env['GRAPH_TENANT_ID']);
  assert.ok(!Number.isNaN(Date.parse(String(manifest['startedAt']))) && String(manifest['completedAt']) >= String(manifest['startedAt']));

  const stored = await download(container, blobName);
  assert.equal(manifest['bytes'], stored.length, 'bytes is the stored size');
  assert.equal(manifest['sha256'], createHash('sha256').update(stored).digest('hex'), 'sha256 is of the stored bytes');
  const text = (gzip ? gunzipSync(stored) : stored).toString('utf8');
  const users: Record<string, unknown>[] =
    format === 'json'
      ? (JSON.parse(text) as Record<string, unknown>[])
      : text
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
  // One user per line, each ending in a newline; no users is an empty file.
  if (format === 'ndjson' && text !== '') assert.ok(text.endsWith('\n'));

  const select = (expected.select ?? env['USERS_SELECT'] ?? DEFAULTS.USERS_SELECT).split(',').map((s) => s.trim());
  const want = [
    ...expectedUsers({
      seed: world.seed,
      userCount: expected.userCount ?? world.userCount,
      select,
      filter: expected.filter ?? env['USERS_FILTER'],
    }),
  ];
  assert.equal(manifest['userCount'], want.length);
  assert.equal(users.length, want.length);
  assert.deepEqual(users, want, 'every user exactly as Graph returned it, in order');
  assert.equal(manifest['select'], select.join(','));
  assert.equal(manifest['filter'], expected.filter ?? env['USERS_FILTER'] ?? null);
  assert.equal(manifest['pages'], Math.max(1, Math.ceil(want.length / 999)));
  return { users, manifest };
}

/** Snapshot of a container's state, to prove a failed run wrote nothing and left latest.json as it was. */
export async function containerState(container: ContainerClient): Promise<{ names: string[]; latest: string | undefined }> {
  const names = await blobNames(container);
  const latest = names.includes('latest.json') ? (await download(container, 'latest.json')).toString() : undefined;
  return { names, latest };
}

/**
 * Seeds a successful snapshot, arms the fault (or breaks the settings), runs again and checks the failure:
 * exit code, the message (no stack trace, no summary), nothing written and latest.json untouched.
 */
export async function assertFailsCleanly(
  world: World,
  env: Record<string, string | undefined>,
  arm: () => Record<string, string | undefined> | void,
  expected: RegExp,
  exitCode = 1,
): Promise<ExportProcessResult> {
  const container = world.container(env['EXPORT_CONTAINER']!);
  const seeded = await runExport(env);
  assert.equal(seeded.code, 0, seeded.stderr);
  const before = await containerState(container);
  const failingEnv = { ...env, ...(arm() ?? {}) };
  const result = await runExport(failingEnv);
  assert.equal(result.code, exitCode, `exit code ${exitCode} expected; stderr:\n${result.stderr}`);
  assert.match(result.stderr, expected);
  assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
  assert.equal(result.stdout, '', 'no summary on failure');
  assert.deepEqual(await containerState(container), before, 'nothing written, latest.json untouched');
  return result;
}
