/**
 * Reliability and security, proven by a suite and reported as figures (docs/reliability.md):
 * the fault matrix (fault-matrix.ts), crash safety (crash.ts), concurrent runs (concurrency.ts), the
 * bad-input catalogue (bad-input.ts), token and secret hygiene over all of it (hygiene.ts), and the supply
 * chain (supply-chain.ts). One Azurite behind the fault proxy and a few simulated tenants ("lanes") serve
 * every scenario; scenarios run concurrently, one per lane at a time.
 *
 * The last test prints the figures and asserts the thresholds; they are also written to
 * dist/reliability-figures.json for docs/reliability.md (node dist/test/reliability/report.js).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BAD_INPUTS, runBadInput } from './bad-input.js';
import { RACES, runRace } from './concurrency.js';
import { CRASH_POOL, CRASH_USERS, KILL_POINTS, runKillPoint } from './crash.js';
import { CALLS, MATRIX_POOL, MATRIX_USERS, matrixCells, runCell, runSpecial, SPECIAL_CASES } from './fault-matrix.js';
import { readSettings, SETTING_NAMES, TUNING_SETTING_NAMES } from '../../src/settings.js';
import { ReliabilitySuite, type LaneSpec } from './harness.js';
import { DOC, sections } from './report.js';
import { misdirectedTokens, scanBlobs, scanOutputs, scanProductDirs, type Finding } from './hygiene.js';
import { isCommitted, lockFile, packageJson, productionPackages, readmeDependencies, REPO, workflowText } from './supply-chain.js';

const MATRIX_LANES: LaneSpec[] = [
  { userCount: MATRIX_USERS, seed: 11, credential: 'secret', format: 'json', compression: 'none' },
  { userCount: MATRIX_USERS, seed: 12, credential: 'certificate-pfx', format: 'ndjson', compression: 'gzip' },
  { userCount: MATRIX_USERS, seed: 13, credential: 'certificate-pem', format: 'json', compression: 'gzip' },
  { userCount: MATRIX_USERS, seed: 14, credential: 'certificate-pfx', format: 'json', compression: 'none' },
  { userCount: MATRIX_USERS, seed: 15, credential: 'secret', format: 'ndjson', compression: 'none' },
  { userCount: MATRIX_USERS, seed: 16, credential: 'certificate-pem', format: 'ndjson', compression: 'none' },
];
// Uncompressed, so that 11,000 users make two blocks.
const CRASH_LANES: LaneSpec[] = [
  { userCount: CRASH_USERS, seed: 21, credential: 'certificate-pfx', format: 'json', compression: 'none' },
  { userCount: CRASH_USERS, seed: 22, credential: 'secret', format: 'ndjson', compression: 'none' },
];

export const THRESHOLDS = { faultsInjected: 100, killPoints: 20, badInputs: 30 } as const;

let suite: ReliabilitySuite;
const started = Date.now();
const hygiene: { outputs: Finding[]; tokens: Finding[]; disk: Finding[]; blobs: Finding[]; files: number; blobCount: number } = {
  outputs: [],
  tokens: [],
  disk: [],
  blobs: [],
  files: 0,
  blobCount: 0,
};

before(async () => {
  suite = await ReliabilitySuite.start();
  await Promise.all([suite.addPool(MATRIX_POOL, MATRIX_LANES), suite.addPool(CRASH_POOL, CRASH_LANES)]);
});

after(async () => {
  await suite?.close();
});

test('reliability scenarios', { concurrency: true, timeout: 900_000 }, async (t) => {
  const cells = matrixCells();
  await Promise.all([
    t.test('fault matrix: every call × 429 / 503 / reset / hang, transient and persistent', { concurrency: true }, async (m) => {
      await Promise.all([
        ...cells.map((cell) => m.test(cell.name, () => runCell(suite, cell))),
        ...SPECIAL_CASES.map((special) => m.test(special.name, () => runSpecial(suite, special))),
      ]);
    }),
    t.test('crash safety: SIGKILL at every kill point', { concurrency: true }, async (c) => {
      await Promise.all(KILL_POINTS.map((point) => c.test(`kill at: ${point.label}`, () => runKillPoint(suite, point))));
    }),
    t.test('concurrent runs never move latest.json back', { concurrency: true }, async (c) => {
      await Promise.all(RACES.map((race) => c.test(race.name, () => runRace(suite, race))));
    }),
    t.test('bad input: each with its message and exit code, nothing written', { concurrency: true }, async (b) => {
      await Promise.all(BAD_INPUTS.map((entry) => b.test(`${entry.id} ${entry.group}: ${entry.input}`, () => runBadInput(suite, entry))));
    }),
  ]);
});

test('token hygiene: every bearer token went only to its audience; the foreign nextLink host got nothing', () => {
  const graphEndpoints = [...suite.pools.values()].flatMap((p) => p.all.map((lane) => lane.sim.graphEndpoint));
  const { bearer, findings } = misdirectedTokens(suite, graphEndpoints);
  suite.figures.bearerRequests = bearer;
  suite.figures.bearerMisdirected = findings.length;
  hygiene.tokens = findings;
  assert.ok(bearer > 100, `bearer requests were recorded (${bearer})`);
  assert.deepEqual(findings, []);
});

test('no secret, private key, client assertion or token in any output of any run', () => {
  assert.ok(suite.outputs.length >= 100, `outputs captured (${suite.outputs.length})`);
  assert.ok(
    [...suite.secrets.keys()].some((k) => k.startsWith('bearer token')),
    'issued tokens were collected',
  );
  hygiene.outputs = scanOutputs(suite);
  suite.figures.secretsInLogs = hygiene.outputs.length;
  assert.deepEqual(hygiene.outputs, []);
});

test('nothing credential-like written to disk or to the container', async () => {
  const disk = scanProductDirs(suite);
  const blobs = await scanBlobs(suite);
  hygiene.disk = disk.findings;
  hygiene.blobs = blobs.findings;
  hygiene.files = disk.files.length;
  hygiene.blobCount = blobs.blobs;
  suite.figures.secretsOnDisk = disk.findings.length + blobs.findings.length;
  assert.deepEqual(disk.findings, []);
  assert.deepEqual(blobs.findings, []);
  assert.deepEqual(disk.files, [], 'the export writes no file at all outside Blob Storage');
});

test('EXPORT_REQUEST_TIMEOUT_SECONDS: optional tuning, outside the settings contract, validated with the others', () => {
  const base = {
    GRAPH_TENANT_ID: 'contoso.onmicrosoft.com',
    GRAPH_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
    KEY_VAULT_URL: 'https://kv.vault.azure.net/',
    GRAPH_CLIENT_SECRET_NAME: 's',
    EXPORT_STORAGE: 'UseDevelopmentStorage=true',
  };
  assert.equal(readSettings(base).requestTimeoutMs, 100_000);
  assert.equal(readSettings({ ...base, EXPORT_REQUEST_TIMEOUT_SECONDS: '2.5' }).requestTimeoutMs, 2_500);
  assert.equal(readSettings({ ...base, EXPORT_REQUEST_TIMEOUT_SECONDS: '3600' }).requestTimeoutMs, 3_600_000);
  assert.throws(
    () => readSettings({ ...base, EXPORT_REQUEST_TIMEOUT_SECONDS: '3601', EXPORT_FORMAT: 'xml' }),
    /Invalid settings \(2 problems\):.*EXPORT_FORMAT.*EXPORT_REQUEST_TIMEOUT_SECONDS is '3601'/,
  );
  assert.deepEqual([...TUNING_SETTING_NAMES], ['EXPORT_REQUEST_TIMEOUT_SECONDS']);
  assert.ok(!(SETTING_NAMES as readonly string[]).includes('EXPORT_REQUEST_TIMEOUT_SECONDS'));
  assert.match(fs.readFileSync(path.join(REPO, 'README.md'), 'utf8'), /\| `EXPORT_REQUEST_TIMEOUT_SECONDS` \| `100` \|/);
});

test('supply chain: the README names exactly the production dependencies, each with why', () => {
  const readme = readmeDependencies();
  const deps = Object.keys(packageJson().dependencies).sort();
  assert.deepEqual([...readme.keys()].sort(), deps);
  for (const [name, why] of readme) assert.ok(why.length >= 10, `${name}: why is it there?`);
  assert.ok(deps.length <= 10, `few production dependencies (${deps.length})`);
});

test('supply chain: package-lock.json is committed', (t) => {
  const committed = isCommitted('package-lock.json');
  // CI runs on a git clone; only a copy without .git (an unpacked archive) cannot tell.
  if (committed === undefined) {
    t.skip('no .git here: whether package-lock.json is committed cannot be checked');
    return;
  }
  assert.equal(committed, true, 'package-lock.json is committed');
});

test('supply chain: the lock file is in sync, from the registry with integrity, no install scripts in production', () => {
  const lock = lockFile();
  assert.ok(lock.lockfileVersion >= 2);
  assert.deepEqual(lock.packages['']?.dependencies, packageJson().dependencies, 'package-lock.json is in sync with package.json');
  const production = productionPackages();
  assert.ok(production.length > 0);
  const scripts = production.filter(([, p]) => p.hasInstallScript).map(([name]) => name);
  assert.deepEqual(scripts, [], 'no production package runs an install script');
  // No git, file or tarball-URL sources: `resolved` is a registry URL, or absent (omit-lockfile-registry-resolved:
  // then npm ci takes it from the configured registry), and every package is pinned by a sha512 integrity.
  const foreign = production
    .filter(
      ([, p]) => (p.resolved !== undefined && !p.resolved.startsWith('https://registry.npmjs.org/')) || !p.integrity?.startsWith('sha512-'),
    )
    .map(([name]) => name);
  assert.deepEqual(foreign, [], 'every production package comes from the npm registry, pinned by a sha512 integrity');
});

test('supply chain: the GitHub workflow audits the production dependencies', () => {
  assert.match(workflowText(), /npm audit --omit=dev --audit-level=high/);
});

test('docs/reliability.md shows every matrix call, kill point, race and bad input of the suite', () => {
  const doc = fs.readFileSync(DOC, 'utf8');
  const generated = sections(undefined);
  for (const name of Object.keys(generated)) assert.ok(doc.includes(`<!-- generated:${name} -->`), `section ${name}`);
  for (const call of CALLS) assert.ok(doc.includes(`| ${call.label} |`), call.label);
  for (const point of KILL_POINTS) assert.ok(doc.includes(`| ${point.label} |`), point.label);
  for (const race of RACES) assert.ok(doc.includes(race.name), race.name);
  for (const entry of BAD_INPUTS)
    assert.ok(
      doc.includes(`| ${entry.id} | ${entry.input.replace(/\|/g, '\\|')} | ${entry.expect.exitCode} |`),
      `${entry.id} with its exit code (node dist/test/reliability/report.js --write)`,
    );
});

test('figures', () => {
  const f = suite.figures;
  const faults = suite.totalFaultsInjected;
  const line = `faults injected: ${faults}, kill points: ${f.killPoints.length}, bad inputs: ${f.badInputs.length}, users lost: ${f.usersLost}, partial snapshots visible: ${f.partialSnapshotsVisible}, secrets in logs: ${f.secretsInLogs}`;
  const detail = `runs: ${f.runs}, bearer requests: ${f.bearerRequests} (misdirected ${f.bearerMisdirected}), secrets on disk or in blobs: ${f.secretsOnDisk}, orphan users files (complete, unpublished): ${f.orphanUsersFiles}, kills leaving staged blocks: ${f.uncommittedAfterKill}, suite ${((Date.now() - started) / 1000).toFixed(0)} s`;
  console.log(`reliability: ${line}`);
  console.log(`reliability: ${detail}`);
  const out = path.join(REPO, 'dist', 'reliability-figures.json');
  fs.writeFileSync(
    out,
    `${JSON.stringify(
      {
        faultsInjected: faults,
        simFaults: faults - suite.proxy.stats.faultsInjected,
        proxyFaults: suite.proxy.stats.faultsInjected,
        killPoints: f.killPoints,
        badInputs: f.badInputs,
        usersLost: f.usersLost,
        partialSnapshotsVisible: f.partialSnapshotsVisible,
        secretsInLogs: f.secretsInLogs,
        secretsOnDisk: f.secretsOnDisk,
        bearerRequests: f.bearerRequests,
        bearerMisdirected: f.bearerMisdirected,
        orphanUsersFiles: f.orphanUsersFiles,
        uncommittedAfterKill: f.uncommittedAfterKill,
        runs: f.runs,
        outputsScanned: suite.outputs.length,
        secretsCollected: suite.secrets.size,
        blobsScanned: hygiene.blobCount,
        suiteSeconds: Math.round((Date.now() - started) / 1000),
        faultsByScenario: Object.fromEntries(suite.figures.faultsByScenario),
        notes: Object.fromEntries(suite.figures.notes),
      },
      null,
      2,
    )}\n`,
  );
  assert.ok(faults >= THRESHOLDS.faultsInjected, `faults injected ${faults} >= ${THRESHOLDS.faultsInjected}`);
  assert.ok(f.killPoints.length >= THRESHOLDS.killPoints, `kill points ${f.killPoints.length} >= ${THRESHOLDS.killPoints}`);
  assert.ok(f.badInputs.length >= THRESHOLDS.badInputs, `bad inputs ${f.badInputs.length} >= ${THRESHOLDS.badInputs}`);
  assert.equal(f.usersLost, 0);
  assert.equal(f.partialSnapshotsVisible, 0);
  assert.equal(f.secretsInLogs, 0);
  assert.equal(f.secretsOnDisk, 0);
  assert.equal(f.bearerMisdirected, 0);
});
