/**
 * `npm run bundle` (part of `npm run build`): each function of src/functions/ as one file,
 * dist/bundle/functions/<name>.js (+ .map, + .LEGAL.txt with the dependencies' licence comments) — what
 * package.json's "main" names, so `func start` and the deployed app load the bundle. And the command line,
 * src/cli.ts, as dist/bin/cli.js (`npm run export`), and src/changes-cli.ts as dist/bin/changes.js (`npm run
 * changes`): the same code, loaded as fast (outside dist/bundle, so never deployed).
 *
 * Why: the Functions worker loads the entry at every cold start. Unbundled it resolves and compiles ~500
 * modules from node_modules; bundled it reads one file. esbuild starts from the TypeScript sources so that
 * it resolves the Azure SDKs' ES module builds, which it can tree-shake (bundling tsc's CommonJS output
 * would pull in their CommonJS builds whole). The package then needs no node_modules (scripts/azd-hooks/stage-package.sh stages the bundle alone).
 *
 * - `@azure/functions-core` stays external: it is not on npm, the Functions worker injects it at run time
 *   (Azure/azure-functions-nodejs-library#201). `@azure/functions` itself is bundled, as its own
 *   webpack build is.
 * - CommonJS output (package.json has "type": "commonjs"); the few ESM dependencies that read
 *   `import.meta.url` (@azure/storage-common's CRC64 module) get the bundle's own file URL, set once by the
 *   banner (an `inject`ed module would instead be initialised lazily from every module of the bundle).
 * - Strict mode: the banner begins with the "use strict" directive, so the whole bundle — our modules and
 *   the ES modules of the dependencies, strict by definition — runs as strict code. (A directive only counts
 *   as the file's first statement: the one esbuild emits after the banner is a no-op.)
 * - Minified with names kept (error classes and `constructor.name` checks keep working); the source map
 *   maps stack traces back to src/ when the worker runs with --enable-source-maps.
 *
 * Type checking is tsc's job (`npm run build` runs it first); esbuild only transpiles.
 */
import { build } from 'esbuild';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// One bundle per function file (package.json "main" is dist/bundle/functions/*.js), each self-contained.
const entryPoints = Object.fromEntries(
  readdirSync(path.join(root, 'src', 'functions'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => [`functions/${f.slice(0, -3)}`, `src/functions/${f}`]),
);
// Stale bundles of renamed or removed functions would still be registered by the host.
rmSync(path.join(root, 'dist', 'bundle'), { recursive: true, force: true });
rmSync(path.join(root, 'dist', 'bin'), { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  // Production runs Node 22 (infra/); Node 20 is the oldest this package supports (engines).
  target: 'node20',
  format: 'cjs',
  external: ['@azure/functions-core'],
  define: { 'import.meta.url': '__bundleImportMetaUrl' },
  banner: { js: `"use strict";var __bundleImportMetaUrl=require("node:url").pathToFileURL(__filename).href;` },
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  // Positions are enough to map stack traces; the sources themselves would triple the map's size.
  sourcesContent: false,
  legalComments: 'linked',
  logLevel: 'warning',
};
const [result, cli] = await Promise.all([
  build({ ...common, entryPoints, outdir: 'dist/bundle', metafile: true }),
  build({ ...common, entryPoints: { cli: 'src/cli.ts', changes: 'src/changes-cli.ts' }, outdir: 'dist/bin' }),
]);

// Outside dist/bundle, so it is never deployed: `npx esbuild --analyze` style input sizes, for the curious.
writeFileSync(path.join(root, 'dist', 'bundle-meta.json'), JSON.stringify(result.metafile));
if ([result, cli].some((r) => r.errors.length > 0 || r.warnings.length > 0)) {
  process.exitCode = 1;
}
