/**
 * `npm run export` / `npm run changes` / `npm run demo` / `npm run bench`: run the built entry point, building it first only
 * when it is missing or a source it is built from is newer (README "Run it locally under Functions Core
 * Tools": "builds only what it runs"), the way make decides — by modification times, so a checkout, an edit
 * or `npm ci` (which rewrites node_modules/.package-lock.json) all count. Directories count too: adding,
 * removing or renaming a file changes its directory's time.
 *
 * - `export` needs only the CLI bundle, dist/bin/cli.js: esbuild from src/ (tools/build/bundle.mjs), well under
 *   a second; `changes` likewise dist/bin/changes.js. Type checking stays `npm run build`'s job (npm test runs it).
 * - `demo` and `bench` are tsc's output (dist/tools/demo.js, dist/tools/bench/bench.js; with stand-ins/ and
 *   src/) and drive the CLI bundle (bench also the function bundle): the full build, tsc then esbuild, as
 *   `npm run build`.
 *
 * The entry point then runs in this process (no second Node.js start), with process.argv as if it had been
 * started itself. Build output goes to stderr: stdout is the CLI's one-line JSON summary.
 *
 * Usage: node tools/build/run-built.mjs <export|changes|demo|bench> [arguments for the entry point...]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

/**
 * The `tsc` command of TypeScript 7 (its package "bin"; "exports" does not list it), installed as
 * @typescript/native: "typescript" is TypeScript 6 for ESLint (see eslint.config.mjs).
 */
function tscPath() {
  const manifest = require.resolve('@typescript/native/package.json');
  return path.join(path.dirname(manifest), require(manifest).bin.tsc);
}

/** What any build reads besides the sources: the compiler settings and the installed dependencies. */
const CONFIG = ['tsconfig.json', 'package.json', 'package-lock.json', 'node_modules/.package-lock.json'];
const BUNDLE = {
  inputs: ['src', 'tools/build/bundle.mjs', ...CONFIG],
  steps: [['tools/build/bundle.mjs']],
};
const FULL = {
  // tsconfig "include" minus test/, which no entry point here imports.
  inputs: ['src', 'stand-ins', 'tools', ...CONFIG],
  steps: [[tscPath, '-p', 'tsconfig.json'], ...BUNDLE.steps],
};
const TARGETS = {
  export: { entry: 'dist/bin/cli.js', outputs: ['dist/bin/cli.js'], build: BUNDLE },
  changes: { entry: 'dist/bin/changes.js', outputs: ['dist/bin/changes.js'], build: BUNDLE },
  demo: { entry: 'dist/tools/demo.js', outputs: ['dist/tools/demo.js', 'dist/bin/cli.js'], build: FULL },
  bench: {
    entry: 'dist/tools/bench/bench.js',
    outputs: ['dist/tools/bench/bench.js', 'dist/bin/cli.js', 'dist/bundle/functions/exportUsers.js'],
    build: FULL,
  },
};

/** In a source directory, the files a build reads (not the shell scripts and docs beside them). */
const SOURCE_FILE = /\.(?:[cm]?[jt]s|json)$/;

/**
 * The newest modification time under `relative` — a file, or a directory with its subdirectories and
 * source files — with its path; -Infinity when it does not exist.
 */
function newest(relative) {
  const full = path.join(root, relative);
  const stat = statSync(full, { throwIfNoEntry: false });
  if (!stat) return { mtimeMs: -Infinity, file: relative };
  let found = { mtimeMs: stat.mtimeMs, file: relative };
  if (stat.isDirectory()) {
    for (const entry of readdirSync(full, { withFileTypes: true })) {
      if (!entry.isDirectory() && !SOURCE_FILE.test(entry.name)) continue;
      const inner = newest(path.join(relative, entry.name));
      if (inner.mtimeMs > found.mtimeMs) found = inner;
    }
  }
  return found;
}

/** Why the target must be built, or undefined when every output is newer than every input. */
function staleness(target) {
  let oldestOutput = Infinity;
  for (const output of target.outputs) {
    const stat = statSync(path.join(root, output), { throwIfNoEntry: false });
    if (!stat) return `${output} is missing`;
    oldestOutput = Math.min(oldestOutput, stat.mtimeMs);
  }
  const input = target.build.inputs.map(newest).reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a));
  return input.mtimeMs > oldestOutput ? `${input.file} changed since the last build` : undefined;
}

const [name, ...args] = process.argv.slice(2);
const target = Object.hasOwn(TARGETS, name ?? '') ? TARGETS[name] : undefined;
if (!target) {
  process.stderr.write(`usage: node tools/build/run-built.mjs <${Object.keys(TARGETS).join('|')}> [arguments...]\n`);
  process.exit(1);
}

const reason = staleness(target);
if (reason !== undefined) {
  process.stderr.write(`entra-users-export: building ${target.outputs.join(', ')} (${reason}) ...\n`);
  for (const step of target.build.steps) {
    // tsc reports on stdout; keep stdout for the entry point's own output.
    const argv = step.map((arg) => (typeof arg === 'function' ? arg() : arg));
    const result = spawnSync(process.execPath, argv, { cwd: root, stdio: ['ignore', 2, 2] });
    if (result.status !== 0) {
      process.stderr.write(
        `entra-users-export: the build failed (node ${argv.map((arg) => (path.isAbsolute(arg) ? path.relative(root, arg) : arg)).join(' ')}): fix the errors above, then run npm run ${name} again.\n`,
      );
      process.exit(1);
    }
  }
}

const entry = path.join(root, target.entry);
process.argv = [process.argv[0], entry, ...args];
require(entry);
