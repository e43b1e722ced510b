/**
 * `npm run export` builds first only if needed (DESIGN.md "Entry points"): on a built tree it starts the
 * CLI at once — no tsc, no esbuild — and after a source changed it rebuilds. Run in a scratch copy of the
 * project (sources, scripts, configuration; node_modules linked), so that rebuilding never touches the
 * dist/ that the other tests use. The settings are missing, so each run ends at once with exit code 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { exportEnv } from '../../stand-ins/export-process.js';

const root = path.resolve(__dirname, '..', '..', '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'npm-run-export-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'stand-ins', 'tools']) {
  cpSync(path.join(root, entry), path.join(scratch, entry), { recursive: true });
}
symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'), 'dir');
const cli = path.join(scratch, 'dist', 'bin', 'cli.js');

/** `npm run --silent export` in the scratch copy, with none of the export's settings. */
function npmRunExport(): { status: number | null; stderr: string } {
  // Under `npm test`, the npm that runs us; else the one on PATH.
  const npm = process.env['npm_execpath'];
  const [command, args] = npm ? [process.execPath, [npm, 'run', '--silent', 'export']] : ['npm', ['run', '--silent', 'export']];
  const result = spawnSync(command, args, { cwd: scratch, env: exportEnv({}), encoding: 'utf8', timeout: 240_000 });
  assert.equal(result.error, undefined, String(result.error));
  return { status: result.status, stderr: result.stderr };
}

function ranTheCli(run: { status: number | null; stderr: string }): void {
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /export failed \[InvalidSettings\]: Invalid settings .*GRAPH_TENANT_ID is missing/, run.stderr);
}

test('npm run export builds the CLI once, runs the built one while no source changed, and rebuilds after a change', () => {
  const first = npmRunExport();
  ranTheCli(first);
  assert.ok(existsSync(cli), 'the first run built dist/bin/cli.js');
  const built = statSync(cli).mtimeMs;
  // The CLI needs only esbuild's bundle of src/cli.ts; type checking (tsc → dist/src) is npm run build's job.
  assert.equal(existsSync(path.join(scratch, 'dist', 'src')), false, 'npm run export ran tsc');

  const second = npmRunExport();
  ranTheCli(second);
  assert.equal(statSync(cli).mtimeMs, built, 'a run with no source changed rebuilt dist/bin/cli.js');
  assert.doesNotMatch(second.stderr, /building/, second.stderr);

  // An edit: newer than the build (an explicit time, so that a coarse file-system clock cannot hide it).
  const source = path.join(scratch, 'src', 'cli.ts');
  appendFileSync(source, '\n// edited\n');
  utimesSync(source, new Date(), new Date(built + 1));
  const third = npmRunExport();
  ranTheCli(third);
  assert.match(third.stderr, /building dist\/bin\/cli\.js \(src\/cli\.ts changed since the last build\)/, third.stderr);
  const rebuilt = statSync(cli).mtimeMs;
  assert.ok(rebuilt > built, 'the run after an edit rebuilt dist/bin/cli.js');

  const fourth = npmRunExport();
  ranTheCli(fourth);
  assert.equal(statSync(cli).mtimeMs, rebuilt, 'the rebuilt CLI is used as it is');
});
