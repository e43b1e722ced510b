/**
 * src/changes-cli.ts end to end, as built (dist/bin/changes.js, once through npm), against the simulated tenant
 * and Azurite. `npm run changes -- <olderRunId> <newerRunId> [--out FILE]`: the report between two stored snapshots, found
 * by runId with the export's storage settings — the same bytes the newer run wrote as its own report, whatever
 * the two snapshots' formats — to stdout or a file; errors (unknown runId, no settings) with exit codes as
 * `npm run export`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { exportEnv } from '../../stand-ins/export-process.js';
import { download, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

const root = path.resolve(__dirname, '..', '..', '..');
const CHANGES = path.join(root, 'dist', 'bin', 'changes.js');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'npm-run-changes-'));

let world: World;
let env: Record<string, string | undefined>;
const runs: Record<string, unknown>[] = [];
before(async () => {
  world = await startWorld({ userCount: 2200, seed: 5 });
  env = workingEnv(world);
  // Three snapshots in one container: json, then ndjson + gzip after the tenant changed, then json again.
  for (const [k, settings] of [{}, { EXPORT_FORMAT: 'ndjson', EXPORT_COMPRESSION: 'gzip' }, {}].entries()) {
    if (k > 0) world.sim.applyChanges({ seed: 30 + k, joiners: 20, leavers: 15, edits: 30, renames: 10, nulls: 10 });
    const result = await runExport({ ...env, ...settings });
    assert.equal(result.code, 0, result.stderr);
    runs.push(result.summary!);
  }
});
after(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await world?.close();
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function changes(args: string[], settings: Record<string, string | undefined> = env, command: string[] = [CHANGES]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command, ...args], {
      cwd: root,
      env: exportEnv(settings),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/** The report a run wrote for itself, uncompressed. */
async function ownReport(run: Record<string, unknown>): Promise<Buffer> {
  const report = run['changes'] as Record<string, unknown>;
  const stored = await download(world.container(env['EXPORT_CONTAINER']!), String(report['blobName']));
  return run['compression'] === 'gzip' ? gunzipSync(stored) : stored;
}

test('npm run changes prints the same report the newer run wrote, for snapshots of other formats', async () => {
  const [first, second, third] = runs as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  // Under `npm test`, the npm that runs us; else the one installed with node.
  const npm =
    process.env['npm_execpath'] ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  // Once through npm itself (the package.json script and scripts/run-built.mjs), then the built entry directly.
  const viaNpm = await changes(['run', '--silent', 'changes', '--', String(first['runId']), String(second['runId'])], env, [npm]);
  assert.equal(viaNpm.code, 0, viaNpm.stderr);
  const expected = await ownReport(second);
  assert.ok(expected.length > 0);
  assert.ok(viaNpm.stdout.equals(expected), 'byte for byte the report of the second run');
  const summary = JSON.parse(viaNpm.stderr.trim().split('\n').pop()!) as Record<string, unknown>;
  const counts = second['changes'] as Record<string, unknown>;
  assert.deepEqual(summary, {
    older: first['runId'],
    newer: second['runId'],
    added: counts['added'],
    removed: counts['removed'],
    changed: counts['changed'],
    compared: counts['compared'],
  });

  const next = await changes([String(second['runId']), String(third['runId'])]);
  assert.equal(next.code, 0, next.stderr);
  assert.ok(next.stdout.equals(await ownReport(third)), 'ndjson+gzip → json');
});

test('the other way round: joiners and leavers swap, and old and new', async () => {
  const [first, second] = runs as [Record<string, unknown>, Record<string, unknown>];
  const forward = (await ownReport(second))
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const backward = await changes([String(second['runId']), String(first['runId'])]);
  assert.equal(backward.code, 0, backward.stderr);
  const lines = backward.stdout
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const swap: Record<string, string> = { added: 'removed', removed: 'added', changed: 'changed' };
  assert.deepEqual(
    lines,
    forward.map((l) =>
      l['change'] === 'changed'
        ? {
            ...l,
            changes: Object.fromEntries(
              Object.entries(l['changes'] as Record<string, { old: unknown; new: unknown }>).map(([k, v]) => [
                k,
                { old: v.new, new: v.old },
              ]),
            ),
          }
        : { ...l, change: swap[String(l['change'])] },
    ),
  );
});

test('--out FILE: the report in the file, a summary on stdout; a failure leaves no file', async () => {
  const [first, second] = runs as [Record<string, unknown>, Record<string, unknown>];
  const out = path.join(scratch, 'report.ndjson');
  const run = await changes([String(first['runId']), String(second['runId']), '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(readFileSync(out).equals(await ownReport(second)));
  assert.equal(JSON.parse(run.stdout.toString())['out'], out);
  const missing = path.join(scratch, 'no-such-dir', 'report.ndjson');
  const failed = await changes([String(first['runId']), String(second['runId']), '--out', missing]);
  assert.equal(failed.code, 2, failed.stderr);
  assert.match(failed.stderr, /Cannot write the report to --out .*no-such-dir/);
  assert.deepEqual(readdirSync(scratch), ['report.ndjson']);
});

test('an unknown runId says which and where it looked (exit 2); no settings, exit 2; a bad argument, exit 2', async () => {
  const [first] = runs as [Record<string, unknown>];
  const unknown = '20250101T000000Z-deadbeef';
  const run = await changes([String(first['runId']), unknown]);
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.stderr,
    new RegExp(
      `changes failed \\[SnapshotNotFound\\]: No snapshot with the newer runId '${unknown}': snapshots/2025/01/01/${unknown}/manifest\\.json does not exist in container '${env['EXPORT_CONTAINER']}'`,
    ),
  );
  assert.equal(run.stdout.length, 0);

  const unset = await changes([String(first['runId']), unknown], {});
  assert.equal(unset.code, 2);
  assert.match(unset.stderr, /\[InvalidSettings\]: .*EXPORT_STORAGE__blobServiceUri or EXPORT_STORAGE is missing/);

  const runId = String(first['runId']);
  for (const [args, problem] of [
    [[runId], /Expected two runIds, .*; got 1\./],
    [[runId, unknown, unknown], /Expected two runIds, .*; got 3\./],
    [[runId, 'yesterday'], /\[InvalidArguments\]/],
    [[runId, unknown, '--fast'], /Unknown option '--fast'/],
    [[runId, unknown, '--out'], /--out needs a file name/],
  ] as const) {
    const bad = await changes([...args]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /\[InvalidArguments\]/);
    assert.match(bad.stderr, problem);
  }
});
