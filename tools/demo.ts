/**
 * `npm run demo`: the whole export on this machine, no Azure account.
 *
 * Starts Azurite (in memory) and the local simulated tenant (Entra token endpoint, managed-identity
 * endpoint, Key Vault behind an HTTPS proxy, Graph), registers a demo app whose certificate sits in the
 * simulated Key Vault, runs `npm run export`'s entry point against them — the same runExport() the timer
 * function calls — then prints the summary, saves a local copy of the snapshot under .demo/ and checks its
 * SHA-256. Then the tenant changes (joiners, leavers, edited attributes, renames, values become null and nulls
 * values), the export runs again, and the demo prints that run's change report (counts and example lines),
 * checked against the changes the tenant made. Then it shuts everything down.
 *
 * Options: --users N (default 5000), --latency MS per Graph page (default 20), --format json|ndjson,
 * --gzip, --change-seed S (default 1: which values the tenant's changes set), --credential
 * certificate|secret|federated (default certificate: a PFX in Key Vault; federated is secretless — the app trusts
 * the function's user-assigned identity, and nothing is read from Key Vault).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../stand-ins/azurite/index.js';
import { runExportProcess } from '../stand-ins/export-process.js';
import { setupDemoApp, type DemoApp } from '../stand-ins/sim-tenant/demo-app.js';
import {
  startSimTenant,
  type AppliedChanges,
  type ExpectedChange,
  type SimTenant,
  type TenantChangeSpec,
} from '../stand-ins/sim-tenant/index.js';
import { runMain } from './run-main.js';

/** The demo's options, one entry each: add an option here and read it from `values` below. */
const OPTIONS = {
  users: { type: 'string', default: '5000' },
  latency: { type: 'string', default: '20' },
  format: { type: 'string', default: 'json' },
  gzip: { type: 'boolean', default: false },
  'change-seed': { type: 'string', default: '1' },
  credential: { type: 'string', default: 'certificate' },
} as const;

const CONTAINER = 'user-exports';
const say = (line = ''): void => void process.stdout.write(`${line}\n`);

interface DemoRun {
  summary: { runId: string; userCount: number; blobName: string; sha256: string; bytes: number };
  manifest: Record<string, unknown>;
  /** The manifest as stored. */
  manifestBytes: Buffer;
  manifestName: string;
}

/** One `npm run export` against the demo tenant; undefined when it failed (its error is already printed). */
async function exportOnce(env: Record<string, string>, container: ContainerClient): Promise<DemoRun | undefined> {
  const result = await runExportProcess(env, { onStderr: (chunk) => process.stdout.write(chunk.replace(/^(?=.)/gm, '  | ')) });
  if (result.code !== 0 || !result.summary) {
    say();
    say(`The export failed (exit code ${result.code}). Its error is above.`);
    return undefined;
  }
  const summary = result.summary as DemoRun['summary'];
  const manifestName = summary.blobName.replace(/users\.[a-z.]+$/, 'manifest.json');
  const manifestBytes = await container.getBlobClient(manifestName).downloadToBuffer();
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as Record<string, unknown>;
  return { summary, manifest, manifestBytes, manifestName };
}

/**
 * A change of about 1 % of the tenant, each kind at least once: joiners 0.5 %, leavers 0.4 %, edits 1 %,
 * renames 0.3 %, nulls 0.4 % (as many as there are users, at most).
 */
function demoChanges(userCount: number, seed: number): TenantChangeSpec {
  const some = (share: number): number => Math.max(1, Math.round(userCount * share));
  const spec = { seed, joiners: some(0.005), leavers: some(0.004), edits: some(0.01), renames: some(0.003), nulls: some(0.004) };
  // A tiny tenant: no more users picked than there are, taken off the largest kind first.
  const kinds = ['edits', 'nulls', 'leavers', 'renames'] as const;
  while (spec.leavers + spec.edits + spec.renames + spec.nulls > userCount) {
    spec[kinds.reduce((a, b) => (spec[a] >= spec[b] ? a : b))] -= 1;
  }
  return spec;
}

/** The report's lines (gunzipped when stored gzip), parsed. */
async function reportLines(
  container: ContainerClient,
  blobName: string,
): Promise<{ stored: Buffer; raw: Buffer; lines: ExpectedChange[] }> {
  const stored = await container.getBlobClient(blobName).downloadToBuffer();
  const raw = blobName.endsWith('.gz') ? gunzipSync(stored) : stored;
  const lines = raw
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ExpectedChange);
  return { stored, raw, lines };
}

/** One line of each kind: a joiner, a leaver, a rename, a value become null, a null become a value, an edit. */
function examples(lines: ExpectedChange[]): ExpectedChange[] {
  const changed = lines.flatMap((l) => (l.change === 'changed' ? [l] : []));
  const values = (l: (typeof changed)[number]): { old: unknown; new: unknown }[] => Object.values(l.changes);
  const picks = [
    lines.find((l) => l.change === 'added'),
    lines.find((l) => l.change === 'removed'),
    changed.find((l) => 'userPrincipalName' in l.changes),
    changed.find((l) => values(l).some((v) => v.new === null)),
    changed.find((l) => values(l).some((v) => v.old === null)),
    changed.find((l) => values(l).every((v) => v.old !== null && v.new !== null) && !('userPrincipalName' in l.changes)),
  ];
  return [...new Set(picks.filter((l): l is ExpectedChange => l !== undefined))];
}

const clip = (text: string, max = 220): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Counts, a few example lines of each kind, and whether the report is exactly what the tenant changed. */
async function showChanges(
  run: DemoRun,
  container: ContainerClient,
  applied: AppliedChanges,
): Promise<{ ok: boolean; localName?: string; raw?: Buffer }> {
  const changes = run.manifest['changes'] as Record<string, unknown> | undefined;
  say();
  if (changes === undefined || 'skipped' in changes) {
    say(`No change report: ${changes === undefined ? 'the manifest has no "changes"' : `skipped (${String(changes['skipped'])})`}.`);
    return { ok: false };
  }
  say(`Change report against run ${String(changes['previousRunId'])} (the manifest's "changes"):`);
  say(`  added ${String(changes['added'])}   removed ${String(changes['removed'])}   changed ${String(changes['changed'])}`);
  say(`  compared: ${(changes['compared'] as string[]).join(', ')}`);
  const blobName = String(changes['blobName']);
  say(`  ${CONTAINER}/${blobName}  (${String(changes['bytes'])} bytes)`);
  const { stored, raw, lines } = await reportLines(container, blobName);
  const shaOk = createHash('sha256').update(stored).digest('hex') === changes['sha256'] && stored.length === changes['bytes'];
  say();
  say('A few lines of it (one JSON object per line, sorted by id):');
  for (const line of examples(lines)) say(`  ${clip(JSON.stringify(line))}`);
  const expected = applied.expected();
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const line of expected) counts[line.change]++;
  const exact = isDeepStrictEqual(lines, expected);
  const countsMatch = changes['added'] === counts.added && changes['removed'] === counts.removed && changes['changed'] === counts.changed;
  say();
  say(
    `Checked: the tenant changed ${JSON.stringify(applied.applied)}; the report ${exact && countsMatch ? 'lists exactly those' : 'DOES NOT list exactly those'} ` +
      `(${counts.added} added, ${counts.removed} removed, ${counts.changed} changed), sha256 ${shaOk ? 'matches' : 'DOES NOT match'} the manifest.`,
  );
  return {
    ok: exact && countsMatch && shaOk && counts.added > 0 && counts.removed > 0 && counts.changed > 0,
    localName: path.basename(blobName),
    raw,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: OPTIONS });
  const userCount = Number(values.users);
  const changeSeed = Number(values['change-seed']);
  const credentials = { certificate: 'certificate-pfx', secret: 'secret', federated: 'federated' } as const;
  if (!(values.credential in credentials)) throw new Error(`--credential must be one of ${Object.keys(credentials).join(', ')}`);
  const credential = credentials[values.credential as keyof typeof credentials];
  let azurite: Azurite | undefined;
  let sim: SimTenant | undefined;
  try {
    say('entra-users-export demo — everything runs locally; nothing reaches Azure.');
    say();
    const started = await Promise.allSettled([
      startAzurite(),
      startSimTenant({ userCount, pageLatencyMs: Number(values.latency), seed: 1 }),
    ]);
    azurite = started[0].status === 'fulfilled' ? started[0].value : undefined;
    sim = started[1].status === 'fulfilled' ? started[1].value : undefined;
    if (!azurite || !sim) {
      throw new Error(
        started
          .map((s) => (s.status === 'rejected' ? String(s.reason) : ''))
          .filter(Boolean)
          .join('; '),
      );
    }
    const storage = azurite;
    const tenant = sim;
    const app: DemoApp = setupDemoApp(sim, { credential });
    say(`  Azurite (Blob Storage, in memory)   ${azurite.blobEndpoint}`);
    say(`  Simulated Entra ID authority        ${sim.authorityHost}  (tenant ${sim.tenantId})`);
    say(`  Simulated Microsoft Graph           ${sim.graphEndpoint}  (${userCount} users)`);
    say(`  Simulated Key Vault                 ${sim.vaultUrl}  (via HTTPS proxy ${sim.proxyUrl})`);
    say(`  Simulated managed identity          ${sim.identityEndpoint}`);
    say(`  Demo app                            ${app.clientId}, ${demoCredential(app)}`);
    say();

    const env: Record<string, string> = {
      ...tenant.env(),
      ...app.env,
      EXPORT_STORAGE: storage.connectionString,
      EXPORT_CONTAINER: CONTAINER,
      EXPORT_FORMAT: values.format,
      EXPORT_COMPRESSION: values.gzip ? 'gzip' : 'none',
    };
    // Secretless runs without a vault, as such a deployment is configured.
    if (credential === 'federated') delete env['KEY_VAULT_URL'];
    const container = BlobServiceClient.fromConnectionString(storage.connectionString).getContainerClient(CONTAINER);

    say("Running the export (npm run export, the timer function's code path):");
    const first = await exportOnce(env, container);
    if (!first) return 1;
    say();
    say('Summary (the line `npm run export` prints):');
    say(`  ${JSON.stringify(first.summary)}`);

    // A local copy of the snapshot, checked against its manifest.
    const { summary, manifestName } = first;
    const users = await container.getBlobClient(summary.blobName).downloadToBuffer();
    const latest = await container.getBlobClient('latest.json').downloadToBuffer();
    const sha256 = createHash('sha256').update(users).digest('hex');
    const localDir = path.resolve('.demo', summary.runId);
    mkdirSync(localDir, { recursive: true });
    writeFileSync(path.join(localDir, path.basename(summary.blobName)), users);
    writeFileSync(path.join(localDir, 'manifest.json'), first.manifestBytes);
    writeFileSync(path.join(localDir, 'latest.json'), latest);

    say();
    say('Where to look:');
    say(`  in Blob Storage  ${CONTAINER}/${summary.blobName}`);
    say(`                   ${CONTAINER}/${manifestName}`);
    say(`                   ${CONTAINER}/latest.json  (names run ${(JSON.parse(latest.toString()) as { runId: string }).runId})`);
    say(`  local copy       ${path.relative(process.cwd(), localDir)}/`);
    say();
    const firstOk = sha256 === summary.sha256 && summary.userCount === userCount && users.length === summary.bytes;
    say(
      `Checked: ${summary.userCount} of the demo tenant's ${userCount} users, ${users.length} bytes, sha256 ${sha256 === summary.sha256 ? 'matches' : 'DOES NOT match'} the manifest.`,
    );

    // The tenant changes; the next run reports what changed since the first.
    const applied = tenant.applyChanges(demoChanges(userCount, changeSeed));
    const { joiners, leavers, edits, renames, nulls } = applied.applied;
    say();
    say(
      `Meanwhile in the tenant: ${joiners} joiners, ${leavers} leavers, ${edits} users with edited attributes, ${renames} renamed, ${nulls} with values become null or nulls become values (${applied.userCount} users now).`,
    );
    say();
    say('Running the export again:');
    const second = await exportOnce(env, container);
    if (!second) return 1;
    say();
    say(`  ${JSON.stringify(second.summary)}`);
    const shown = await showChanges(second, container, applied);
    const secondDir = path.resolve('.demo', second.summary.runId);
    mkdirSync(secondDir, { recursive: true });
    writeFileSync(path.join(secondDir, 'manifest.json'), second.manifestBytes);
    if (shown.localName !== undefined && shown.raw !== undefined)
      writeFileSync(path.join(secondDir, shown.localName.replace(/\.gz$/, '')), shown.raw);
    say(
      `  local copy       ${path.relative(process.cwd(), secondDir)}/  (manifest.json${shown.localName !== undefined ? ', changes.ndjson' : ''})`,
    );
    return firstOk && shown.ok ? 0 : 1;
  } finally {
    await Promise.allSettled([azurite?.stop(), sim?.close()]);
  }
}

/** How the demo app holds its credential, for the banner. */
function demoCredential(app: DemoApp): string {
  if (app.env['GRAPH_FEDERATED_IDENTITY_CLIENT_ID']) {
    return `secretless: trusts managed identity ${app.env['GRAPH_FEDERATED_IDENTITY_CLIENT_ID']} (federated identity credential), no Key Vault`;
  }
  if (app.env['GRAPH_CLIENT_SECRET_NAME']) return `client secret '${app.env['GRAPH_CLIENT_SECRET_NAME']}' in Key Vault`;
  return `certificate '${app.env['GRAPH_CLIENT_CERTIFICATE_NAME']}' in Key Vault (PFX)`;
}

runMain('demo', main);
