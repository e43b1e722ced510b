/**
 * `npm run bench`'s change-report section: what comparing a run with the previous snapshot costs — the whole
 * run's peak RSS and its wall time against the same export without a report — at ~1 % of the users changed
 * and in the worst cases (every user changed; every user replaced: all left and as many joined; every user
 * removed).
 *
 * "Without a report" is the same export into an empty container: a first run, whose report is skipped (it
 * still lists, stores and indexes every user; only the comparison with a previous snapshot and the report's
 * writing are missing). Both runs list the same tenant state, served from pages the tenant already rendered
 * (a warm-up listing of each new state comes first, from this process at zero latency, so that neither measured
 * run pays for rendering pages on this machine's cores). Each measured run is a fresh `npm run export` process.
 */
import https from 'node:https';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { firstPageUrl } from '../../src/graph.js';
import { readSettings } from '../../src/settings.js';
import type { ProcessUsage } from './usage-hook.js';
import type { SimTenant, TenantChangeSpec } from '../../stand-ins/sim-tenant/index.js';

/** What the bench measures of one run (tools/bench/bench.ts `measure`). */
export interface MeasuredRun {
  code: number | null;
  wallMs: number;
  usage: ProcessUsage | undefined;
  summary: Record<string, unknown> | undefined;
  stderrTail: string;
  /** When the tenant answered the run's last Graph page (epoch ms), if it did. */
  lastGraphResponseAt: number | undefined;
}

export interface ChangeBenchOptions {
  sim: SimTenant;
  /** The storage connection string (Azurite). */
  connectionString: string;
  /** The export's settings, for a container. */
  env: (container: string) => Record<string, string>;
  /** Measures one run of the product's CLI, or of `script` (another build's CLI). */
  measure: (label: string, env: Record<string, string>, script?: string) => Promise<MeasuredRun>;
  say: (line?: string) => void;
  /** The tenant's page latency for the measured runs (the warm-up runs at zero). */
  latencyMs: number;
  /**
   * Another build's CLI without the change report at all (e.g. the previous release's dist/bin/cli.js): measured
   * too at ~1 % changed, so that the index every run now builds is part of the comparison.
   */
  referenceScript?: string;
  /** Only these scenarios (default all): the worst cases take a few minutes each at 1,000,000 users. */
  only?: readonly ScenarioKey[];
}

export interface ScenarioResult {
  name: string;
  /** What the tenant did: the change set's counts per kind. */
  applied: Record<string, number>;
  withReport: RunFigures;
  /** Undefined where no comparable run exists (every user removed: nothing is listed). */
  withoutReport: RunFigures | undefined;
  /** The manifest's `changes` of the run with the report. */
  changes: Record<string, unknown> | undefined;
  /** The reference build (no change report, no index) on the same tenant state, when given. */
  reference?: RunFigures;
}

export interface RunFigures {
  wallMs: number;
  peakRssBytes: number;
  cpuMs: number;
  userCount: number;
  /** From the last Graph page to the run's completedAt: commit, index, comparison, report, manifest. */
  afterListingMs: number;
}

export interface ChangeBenchResult {
  users: number;
  scenarios: ScenarioResult[];
}

const CONTAINER = 'bench-changes';

/** The scenarios, by the key `npm run bench -- --scenarios` takes, and the name they are printed with. */
export const SCENARIOS = {
  one: '~1 % changed',
  changed: '100 % changed',
  replaced: '100 % replaced',
  removed: '100 % removed',
} as const;
export type ScenarioKey = keyof typeof SCENARIOS;

export function isScenarioKey(key: string): key is ScenarioKey {
  return Object.hasOwn(SCENARIOS, key);
}

/** ~1 % of the users: joiners, leavers, edits, renames and nulls (0.25 / 0.25 / 0.3 / 0.1 / 0.1 %). */
export function onePercent(users: number): TenantChangeSpec {
  const share = (p: number): number => Math.max(1, Math.round(users * p));
  return { seed: 1, joiners: share(0.0025), leavers: share(0.0025), edits: share(0.003), renames: share(0.001), nulls: share(0.001) };
}

function figures(run: MeasuredRun): RunFigures {
  const completed = Date.parse(String(run.summary?.['completedAt']));
  return {
    wallMs: run.wallMs,
    peakRssBytes: run.usage?.maxRssBytes ?? NaN,
    cpuMs: run.usage ? run.usage.userCpuMs + run.usage.systemCpuMs : NaN,
    userCount: Number(run.summary?.['userCount']),
    afterListingMs: run.lastGraphResponseAt === undefined ? NaN : completed - run.lastGraphResponseAt,
  };
}

function check(label: string, run: MeasuredRun): void {
  if (run.code !== 0) throw new Error(`${label} failed (exit code ${run.code}):\n${run.stderrTail}`);
}

/** GET or POST (form) with the tenant's CA; the body parsed as JSON. */
function requestJson(
  url: string,
  agent: https.Agent,
  options: { headers?: Record<string, string>; form?: Record<string, string> } = {},
): Promise<Record<string, unknown>> {
  const body = options.form === undefined ? undefined : new URLSearchParams(options.form).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: body === undefined ? 'GET' : 'POST',
        agent,
        headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' }), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`warm-up: ${res.statusCode} from ${new URL(url).pathname}: ${text.slice(0, 300)}`));
          else resolve(JSON.parse(text) as Record<string, unknown>);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Lists the tenant's current state once, page by page as the export asks for it (same URL: its $select, $top
 * and filter from the settings), at zero latency, so that the tenant renders and keeps those pages.
 */
async function warmUp(o: ChangeBenchOptions): Promise<void> {
  const env = o.env(CONTAINER);
  const clientId = env['GRAPH_CLIENT_ID'] as string;
  const agent = new https.Agent({ keepAlive: true, ca: o.sim.caCertPem });
  try {
    const token = await requestJson(`${o.sim.authorityHost}/${o.sim.tenantId}/oauth2/v2.0/token`, agent, {
      form: {
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: o.sim.addClientSecret(clientId),
        scope: `${o.sim.graphEndpoint}/.default`,
      },
    });
    const settings = readSettings(env);
    o.sim.setPageLatency(0);
    let url: string | undefined = firstPageUrl(settings.graphEndpoint, settings.select, settings.filter);
    while (url !== undefined) {
      const page: Record<string, unknown> = await requestJson(url, agent, {
        headers: { Authorization: `Bearer ${String(token['access_token'])}` },
      });
      url = page['@odata.nextLink'] as string | undefined;
    }
  } finally {
    o.sim.setPageLatency(o.latencyMs);
    agent.destroy();
  }
}

/** Deletes every blob under the prefix (Azurite keeps them in memory). */
async function deletePrefix(container: ContainerClient, prefix: string): Promise<void> {
  for await (const blob of container.listBlobsFlat({ prefix })) await container.deleteBlob(blob.name);
}

/** The run folder of a snapshot's users blob: `snapshots/yyyy/MM/dd/<runId>/`. */
const runFolder = (blobName: unknown): string => String(blobName).replace(/[^/]+$/, '');

export async function benchChangeReport(o: ChangeBenchOptions): Promise<ChangeBenchResult> {
  const service = BlobServiceClient.fromConnectionString(o.connectionString);
  const container = service.getContainerClient(CONTAINER);
  await container.deleteIfExists();
  let fresh = 0;
  /** A first run (report skipped) into a new, empty container, which is then dropped. */
  const firstRun = async (label: string, script?: string): Promise<MeasuredRun> => {
    const name = `${CONTAINER}-first-${++fresh}`;
    const run = await o.measure(label, o.env(name), script);
    check(label, run);
    if (run.summary?.['changes'] !== undefined && !('skipped' in (run.summary['changes'] as object)))
      throw new Error(`${label}: a first run made a report`);
    await service.getContainerClient(name).deleteIfExists();
    return run;
  };
  let previousFolder: string | undefined;
  /** The next run in the bench's own container: compared with the run before it there. */
  const reportRun = async (label: string): Promise<MeasuredRun> => {
    const run = await o.measure(label, o.env(CONTAINER));
    check(label, run);
    // Only the latest snapshot is compared with next: drop the one before it.
    if (previousFolder !== undefined) await deletePrefix(container, previousFolder);
    previousFolder = runFolder(run.summary?.['blobName']);
    return run;
  };

  const users = o.sim.users.userCount;
  o.say(`    the first snapshot (${users.toLocaleString('en-US')} users), to compare with ...`);
  await reportRun('changes: first snapshot');

  const scenarios: ScenarioResult[] = [];
  const scenario = async (key: ScenarioKey, spec: TenantChangeSpec, comparable = true, reference?: string): Promise<void> => {
    if (o.only !== undefined && !o.only.includes(key)) return;
    const name = SCENARIOS[key];
    const applied = o.sim.applyChanges(spec).applied;
    o.say(`    ${name}: ${JSON.stringify(applied)}; warm-up listing ...`);
    await warmUp(o);
    o.say(`    ${name}: with the report, then without ...`);
    const withReport = await reportRun(`${name}: with report`);
    const withoutReport = comparable ? await firstRun(`${name}: without report`) : undefined;
    if (reference !== undefined) o.say(`    ${name}: the reference build ...`);
    const referenceRun = reference === undefined ? undefined : await firstRun(`${name}: reference build`, reference);
    scenarios.push({
      ...(referenceRun === undefined ? {} : { reference: figures(referenceRun) }),
      name,
      applied: { ...applied },
      withReport: figures(withReport),
      withoutReport: withoutReport === undefined ? undefined : figures(withoutReport),
      changes: withReport.summary?.['changes'] as Record<string, unknown> | undefined,
    });
  };

  await scenario('one', onePercent(users), true, o.referenceScript);
  await scenario('changed', { seed: 2, edits: o.sim.users.slotCount });
  await scenario('replaced', { seed: 3, leavers: o.sim.users.slotCount, joiners: users });
  await scenario('removed', { seed: 4, leavers: o.sim.users.slotCount }, false);
  await container.deleteIfExists();
  return { users, scenarios };
}

const MiB = 1024 * 1024;
const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const secs = (ms: number): string => `${fmt(ms / 1000, 2)} s`;
const mb = (bytes: number): string => `${fmt(bytes / MiB, 1)} MiB`;

/** Prints the section's figures and its targets (judged at 1,000,000 users, where they are stated). */
export function printChangeReport(result: ChangeBenchResult, say: (line?: string) => void): void {
  say(`Change report: ${fmt(result.users)} users; each run with the report vs the same tenant state exported without one (a first run)`);
  const pad = (s: string, n: number): string => s.padEnd(n);
  say(
    `  ${pad('', 18)}${pad('wall with', 12)}${pad('without', 12)}${pad('ratio', 8)}${pad('peak RSS', 12)}${pad('without', 12)}${pad('after listing', 22)}report`,
  );
  for (const s of result.scenarios) {
    const w = s.withReport;
    const b = s.withoutReport;
    const c = s.changes ?? {};
    const report =
      'skipped' in c
        ? `skipped: ${String(c['skipped'])}`
        : `+${fmt(Number(c['added']))} −${fmt(Number(c['removed']))} ~${fmt(Number(c['changed']))}, ${mb(Number(c['bytes']))}`;
    say(
      `  ${pad(s.name, 18)}${pad(secs(w.wallMs), 12)}${pad(b ? secs(b.wallMs) : 'n/a', 12)}${pad(b ? fmt(w.wallMs / b.wallMs, 3) : '', 8)}` +
        `${pad(mb(w.peakRssBytes), 12)}${pad(b ? mb(b.peakRssBytes) : 'n/a', 12)}${pad(`${secs(w.afterListingMs)} / ${b ? secs(b.afterListingMs) : 'n/a'}`, 22)}${report}`,
    );
  }
  for (const s of result.scenarios) {
    if (s.reference === undefined) continue;
    const r = s.reference;
    say(
      `  ${s.name}, the reference build (no report, no index): wall ${secs(r.wallMs)}, peak RSS ${mb(r.peakRssBytes)}, after listing ${secs(r.afterListingMs)}; ` +
        `with the report / the reference: wall ${fmt(s.withReport.wallMs / r.wallMs, 3)}, peak RSS ${fmt(s.withReport.peakRssBytes / r.peakRssBytes, 3)}`,
    );
  }
  say(
    `  (after listing: from the tenant's last page to completedAt — commit, index, comparison, report, manifest — with / without the report; CPU with / without: ${result.scenarios.map((s) => `${secs(s.withReport.cpuMs)} / ${s.withoutReport ? secs(s.withoutReport.cpuMs) : 'n/a'}`).join(', ')})`,
  );
  say();
  const stated = result.users >= 1_000_000;
  const target = (ok: boolean, text: string): void => say(`  [${!stated ? 'n/a ' : ok ? 'met ' : 'MISS'}] ${text}`);
  say('Change report targets (stated at 1,000,000 users)');
  const one = result.scenarios.find((s) => s.name === SCENARIOS.one);
  if (one?.withoutReport) {
    target(
      one.withReport.peakRssBytes <= 256 * MiB,
      `~1 % changed: peak RSS of the run ≤ 256 MiB: ${mb(one.withReport.peakRssBytes)} at ${fmt(result.users)} users`,
    );
    const ratio = one.withReport.wallMs / one.withoutReport.wallMs;
    target(
      ratio <= 1.1,
      `~1 % changed: wall ≤ 1.10 × without the report: ${fmt(ratio, 3)} (${secs(one.withReport.wallMs)} vs ${secs(one.withoutReport.wallMs)})`,
    );
  }
  for (const s of result.scenarios.filter((x) => x !== one)) {
    target(
      s.withReport.peakRssBytes <= 256 * MiB,
      `${s.name}: peak RSS ≤ 256 MiB (the same bound): ${mb(s.withReport.peakRssBytes)}${s.withoutReport ? `; wall ${fmt(s.withReport.wallMs / s.withoutReport.wallMs, 3)} × without` : ''}`,
    );
  }
}
