/**
 * The deployment package, as each documented way of deploying builds it from a fresh clone (after `npm ci`
 * and `npm run build`): azd (azure.yaml + .funcignore, checked with azd's own rules, see deploy-model.ts),
 * `scripts/azd-hooks/stage-package.sh --zip` for `az functionapp deployment source config-zip`, and Core Tools'
 * `func azure functionapp publish` exactly as README.md and docs/deploy.md write it. Each must deploy exactly
 * host.json, package.json and the bundle (dist/bundle/**): no node_modules, sources, tests, tools or azd state.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  azdResolveRemoteBuild,
  azdZipEntries,
  funcPublishFiles,
  ignoreMatcher,
  readAzdService,
  readYamlSubset,
  walk,
  zipEntryNames,
  type AzdService,
} from './deploy-model.js';
import { ROOT } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** What the app needs, and all it needs: host.json, package.json and every file of the built bundle. */
function expectedPackage(): string[] {
  const bundle = walk(path.join(ROOT, 'dist', 'bundle'), () => true).map((f) => `dist/bundle/${f}`);
  assert.ok(
    bundle.some((f) => f.endsWith('.js')),
    'npm run build made dist/bundle (tests run after the build)',
  );
  return ['host.json', 'package.json', ...bundle].sort();
}

function write(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/**
 * A checkout as a fresh clone has it after `npm ci && npm run build`: the repository's own azure.yaml,
 * .funcignore, host.json, package.json, stage script and built bundle, plus stand-ins for what must never be
 * deployed (node_modules, sources, tests, the tsc output, the CLI bundle, azd's environment folder).
 */
function freshCheckout(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-package-'));
  dirs.push(dir);
  for (const f of ['azure.yaml', '.funcignore', 'host.json', 'package.json', 'scripts/azd-hooks/stage-package.sh']) {
    if (fs.existsSync(path.join(ROOT, f))) write(path.join(dir, f), fs.readFileSync(path.join(ROOT, f), 'utf8'));
  }
  fs.cpSync(path.join(ROOT, 'dist', 'bundle'), path.join(dir, 'dist', 'bundle'), { recursive: true });
  write(path.join(dir, 'node_modules', '@azure', 'functions', 'package.json'), '{"name":"@azure/functions"}');
  write(path.join(dir, 'src', 'functions', 'exportUsers.ts'), 'export {};');
  write(path.join(dir, 'test', 'x.test.ts'), 'export {};');
  write(path.join(dir, 'dist', 'src', 'functions', 'exportUsers.js'), '');
  write(path.join(dir, 'dist', 'bin', 'cli.js'), '');
  write(path.join(dir, 'dist', 'test', 'x.test.js'), '');
  write(path.join(dir, '.azure', 'prod', '.env'), 'AZURE_ENV_NAME="prod"\n');
  return dir;
}

function stage(dir: string, args: string[] = []): void {
  const r = spawnSync('sh', [path.join(dir, 'scripts', 'azd-hooks', 'stage-package.sh'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `stage-package.sh ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

function exportService(): AzdService {
  return readAzdService(fs.readFileSync(path.join(ROOT, 'azure.yaml'), 'utf8'), 'export');
}

test("the azd model reproduces azd's own cases for the remoteBuild / .funcignore rule (service_target_functionapp_test.go)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azd-rule-'));
  dirs.push(dir);
  const svc = (remoteBuild: boolean | undefined): AzdService => ({ project: '.', language: 'ts', host: 'function', dist: '', remoteBuild });
  const cases: [string, boolean | undefined, boolean | string][] = [
    ['node_modules\n', undefined, true],
    ['dist\n', undefined, false],
    ['node_modules\n', false, "'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules"],
    ['dist\n', false, false],
    ['node_modules\n', true, true],
    ['dist\n', true, "'remoteBuild: true' requires '.funcignore' to exclude node_modules"],
    ['\uFEFFnode_modules\n', false, "'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules"],
    ['\uFEFFdist\nnode_modules\n.env\n', undefined, true],
    ['\n', undefined, false],
    ['\n', true, "'remoteBuild: true' requires '.funcignore' to exclude node_modules"],
    ['node_modules/\n', undefined, true],
    ['# node_modules\n', undefined, false],
    ['dist\r\nnode_modules\r\n.env\r\n', undefined, true],
    ['node_modules/**\n', undefined, true],
    ['/node_modules\n', undefined, true],
    ['**/node_modules\n', undefined, true],
  ];
  for (const [content, remoteBuild, expected] of cases) {
    fs.writeFileSync(path.join(dir, '.funcignore'), content);
    const label = `${JSON.stringify(content)} with remoteBuild ${String(remoteBuild)}`;
    if (typeof expected === 'string') assert.throws(() => azdResolveRemoteBuild(svc(remoteBuild), dir), { message: expected }, label);
    else assert.equal(azdResolveRemoteBuild(svc(remoteBuild), dir), expected, label);
  }
  fs.rmSync(path.join(dir, '.funcignore'));
  assert.equal(azdResolveRemoteBuild(svc(undefined), dir), true, 'no .funcignore: remote build by default');
  assert.equal(azdResolveRemoteBuild(svc(false), dir), false);

  const m = ignoreMatcher('dist/*\n!dist/bundle\n*.md\n');
  assert.equal(m('dist/src', true), true);
  assert.equal(m('dist/bundle', true), false);
  assert.equal(m('docs/deploy.md', false), true);
  assert.throws(() => readYamlSubset('services:\n  - a\n'), /not in the YAML subset/);
});

test('azd accepts azure.yaml with the .funcignore it reads, and zips exactly host.json, package.json and the bundle', () => {
  const svc = exportService();
  assert.equal(svc.host, 'function');
  assert.equal(svc.language, 'ts');
  const dir = freshCheckout();
  // The Flex deploy's check (azd >= 1.23.12): must not refuse; false = the package is deployed as built.
  assert.equal(azdResolveRemoteBuild(svc, dir), false);

  stage(dir); // the prepackage hook
  const entries = azdZipEntries(svc, dir);
  assert.deepEqual(entries, expectedPackage());
  const main = (JSON.parse(fs.readFileSync(path.join(dir, svc.project, svc.dist, 'package.json'), 'utf8')) as { main: string }).main;
  const mainRe = new RegExp(`^${main.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
  assert.ok(
    entries.some((e) => mainRe.test(e)),
    `the package has what "main" (${main}) names`,
  );
});

test('stage-package.sh --zip from a fresh clone zips exactly host.json, package.json and the bundle', () => {
  const dir = freshCheckout();
  stage(dir, ['--zip', 'dist/function.zip']);
  assert.deepEqual(zipEntryNames(fs.readFileSync(path.join(dir, 'dist', 'function.zip'))), expectedPackage());
});

test('the documented `func azure functionapp publish` works from a fresh clone (no local.settings.json) and uploads only the package', () => {
  const invocation = /(?:\(cd (\S+) && )?((?:[A-Z_]+=\S+ )*)func azure functionapp publish "\$APP"([^)\n#]*)/g;
  let found = 0;
  for (const doc of ['README.md', 'docs/deploy.md']) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
    for (const m of text.matchAll(invocation)) {
      found++;
      const dir = freshCheckout();
      stage(dir);
      const env = Object.fromEntries(
        (m[2] as string)
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map((a) => a.split('=', 2) as [string, string]),
      );
      const run = { cwd: path.join(dir, m[1] ?? '.'), env, args: (m[3] as string).trim().split(/\s+/).filter(Boolean) };
      let files: string[] = [];
      assert.doesNotThrow(() => (files = funcPublishFiles(run)), `${doc}: ${m[0]}`);
      assert.deepEqual(files, expectedPackage(), `${doc}: ${m[0]} uploads exactly the package`);
    }
  }
  assert.ok(found >= 2, 'README.md and docs/deploy.md document the Core Tools alternative');
});
