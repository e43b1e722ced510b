/**
 * The deployed function is the esbuild bundle (tools/build/bundle.mjs), not tsc's dist/src: package.json's
 * "main" must name it, `npm run build` must have made it, and it must load and register `exportUsers`
 * on its own — copied away from node_modules, with only the `@azure/functions-core` module that the
 * Functions worker injects (faked here as in test/unit/functions/exportUsers.test.ts).
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import vm from 'node:vm';
import { DEFAULTS } from '../../src/settings.js';
import { installFunctionsCore } from '../helpers/functions-core.js';

const registered = installFunctionsCore();

const root = path.resolve(__dirname, '..', '..', '..');
const main = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string }).main;
const bundleDir = path.join(root, 'dist', 'bundle', 'functions');
const away = mkdtempSync(path.join(os.tmpdir(), 'bundle-test-'));
after(() => rmSync(away, { recursive: true, force: true }));

test('package.json "main" names the bundle, and the build made it', () => {
  assert.equal(main, 'dist/bundle/functions/*.js');
  assert.ok(existsSync(path.join(bundleDir, 'exportUsers.js')), 'dist/bundle/functions/exportUsers.js exists (npm run build bundles)');
  assert.ok(existsSync(path.join(bundleDir, 'exportUsers.js.map')), 'with its source map');
  assert.deepEqual(
    readdirSync(bundleDir).filter((f) => f.endsWith('.js')),
    readdirSync(path.join(root, 'src', 'functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, '.js')),
    'one bundle per function, no stale ones',
  );
});

test('the bundle alone, away from node_modules, registers exportUsers like the tsc build does', () => {
  // Outside the repository no node_modules can be found: whatever the bundle needs is inside it.
  const copy = path.join(away, 'exportUsers.js');
  copyFileSync(path.join(bundleDir, 'exportUsers.js'), copy);
  const schedule = process.env['EXPORT_SCHEDULE'];
  delete process.env['EXPORT_SCHEDULE'];
  let loaded: { handler?: unknown };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS bundle, loaded by path the way the Functions worker loads it
    loaded = require(copy) as { handler?: unknown };
  } finally {
    if (schedule !== undefined) process.env['EXPORT_SCHEDULE'] = schedule;
  }
  assert.equal(typeof loaded.handler, 'function');
  assert.equal(registered.length, 1);
  const { metadata, callback } = registered[0]!;
  assert.equal(metadata.name, 'exportUsers');
  assert.equal(typeof callback, 'function');
  const triggers = Object.values(metadata.bindings).filter((b) => b.type === 'timerTrigger');
  assert.equal(triggers.length, 1);
  assert.equal(triggers[0]!.direction, 'in');
  assert.equal(
    triggers[0]!.schedule,
    DEFAULTS.EXPORT_SCHEDULE,
    'EXPORT_SCHEDULE unset: the default (test/unit/functions/exportUsers.test.ts has the cases)',
  );
  assert.notEqual(triggers[0]!.runOnStartup, true);
  assert.equal(metadata.retryOptions?.['strategy'], 'exponentialBackoff');
});

/**
 * Whether code appended to `source` compiles as strict mode code, without running anything: a `with`
 * statement is a SyntaxError in strict code only (ECMA-262 "Strict Mode of ECMAScript", annex C). The
 * probe is compiled as the body of a function, as Node compiles a CommonJS module (its wrapper function),
 * so it is strict exactly when the file's directive prologue makes the module's code strict.
 */
function compilesStrict(source: string): boolean {
  try {
    vm.compileFunction(`${source}\n;with ({}) {}\n`, ['exports', 'require', 'module', '__filename', '__dirname']);
    return false;
  } catch (e) {
    if (e instanceof SyntaxError && /strict mode/i.test(e.message)) return true;
    throw e;
  }
}

test('the strict-mode probe tells strict code from sloppy code', () => {
  assert.equal(compilesStrict('"use strict";var a = 1;'), true);
  assert.equal(compilesStrict('var a = 1;\n"use strict";var b = 2;'), false, 'a "use strict" after another statement is no directive');
});

for (const file of ['dist/bundle/functions/exportUsers.js', 'dist/bin/cli.js']) {
  test(`${file} is strict mode code: its first statement is the "use strict" directive`, () => {
    const source = readFileSync(path.join(root, file), 'utf8');
    // tsconfig "strict" (alwaysStrict): every module of src/ is strict code, and the ES modules of the
    // dependencies are strict by definition; bundled into one CommonJS file they stay so only under the
    // file's own directive.
    assert.match(source, /^"use strict";/, `${file} begins with ${JSON.stringify(source.slice(0, 80))}`);
    assert.equal(compilesStrict(source), true, `code in ${file} compiles as strict mode code`);
  });
}
