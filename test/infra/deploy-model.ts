/**
 * Models of what the deployment tools do with this repository, read from their source, so that tests can
 * check azure.yaml, .funcignore and the documented commands against the tools' real rules without the tools
 * (neither azd nor Core Tools can be installed on the build machines):
 *
 * - azd 1.31.2 (Azure/azure-dev, tag azure-dev-cli_1.31.2; the rule below is unchanged since 1.23.12, PR #7223):
 *   cli/azd/pkg/project/service_target_functionapp.go `resolveFunctionAppRemoteBuild` (the remoteBuild /
 *   .funcignore check, reading `<project>/.funcignore`) and cli/azd/pkg/project/project_utils.go
 *   `createDeployableZip` (the zip of the packaged folder, reading `<packaged folder>/.funcignore`).
 * - Azure Functions Core Tools 4.x (Azure/azure-functions-core-tools, src/Cli/func): worker runtime resolution
 *   (Helpers/GlobalCoreToolsSettings.cs `Init` and `CurrentWorkerRuntime`, Helpers/WorkerRuntimeLanguageHelper.cs
 *   `GetCurrentWorkerRuntimeLanguage`) and the files `func azure functionapp publish` zips
 *   (Helpers/ScriptHostHelpers.cs `GetFunctionAppRootDirectory`, Common/FileSystemHelpers.cs `GetLocalFiles`,
 *   Helpers/ZipHelper.cs `GetAppZipFile`).
 */
import fs from 'node:fs';
import path from 'node:path';

/** A YAML value of the subset read here: block mappings of plain or quoted scalars. */
export type YamlValue = string | boolean | number | { [key: string]: YamlValue };

/**
 * Reads the YAML subset azure.yaml uses (nested block mappings, scalars, comments). Anything else (sequences,
 * flow collections, anchors, block scalars) throws, so the reader can never silently misread the file.
 */
export function readYamlSubset(text: string): { [key: string]: YamlValue } {
  const root: { [key: string]: YamlValue } = {};
  const stack: { indent: number; map: { [key: string]: YamlValue } }[] = [{ indent: -1, map: root }];
  const lines = text.split(/\r?\n/);
  for (const [n, raw] of lines.entries()) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '');
    if (line.trim() === '') continue;
    const m = /^( *)([A-Za-z0-9_.-]+):(?: +(.*))?$/.exec(line);
    if (m === null) throw new Error(`azure.yaml line ${n + 1}: not in the YAML subset this reader supports: ${raw}`);
    const indent = (m[1] as string).length;
    const key = m[2] as string;
    const rawValue = (m[3] ?? '').trim();
    while ((stack[stack.length - 1] as { indent: number }).indent >= indent) stack.pop();
    const parent = (stack[stack.length - 1] as { map: { [key: string]: YamlValue } }).map;
    if (rawValue === '') {
      const child: { [key: string]: YamlValue } = {};
      parent[key] = child;
      stack.push({ indent, map: child });
    } else {
      if (/^[[{&*|>!-]/.test(rawValue)) throw new Error(`azure.yaml line ${n + 1}: unsupported YAML value: ${raw}`);
      const quoted = /^(['"])(.*)\1$/.exec(rawValue);
      parent[key] = quoted !== null ? (quoted[2] as string) : rawValue === 'true' ? true : rawValue === 'false' ? false : rawValue;
    }
  }
  return root;
}

/**
 * A .gitignore-style matcher with the results azd's parser (github.com/denormal/go-gitignore) gives on the
 * cases azd tests (cli/azd/pkg/project/service_target_functionapp_test.go: `node_modules`, `node_modules/`,
 * `/node_modules`, `**\/node_modules`, `node_modules/**`, comments, CRLF, a UTF-8 BOM). Last match wins; `!`
 * re-includes; a pattern with an inner `/` is anchored to the folder of the ignore file, one without matches
 * a name at any depth; a trailing `/` matches directories only; `dir/**` also matches `dir` itself (as
 * go-gitignore does, unlike git).
 */
export function ignoreMatcher(content: string): (relPath: string, isDir: boolean) => boolean {
  const rules: { negate: boolean; dirOnly: boolean; re: RegExp }[] = [];
  for (let line of content.replace(/^\uFEFF/, '').split('\n')) {
    line = line.replace(/\r$/, '').replace(/(?<!\\)\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    line = line.replace(/^\\([#!])/, '$1');
    const dirOnly = line.endsWith('/');
    if (dirOnly) line = line.slice(0, -1);
    const anchored = line.includes('/');
    line = line.replace(/^\//, '');
    // NUL stands for a `**` segment until the end: no line of an ignore file holds one.
    /* eslint-disable no-control-regex */
    const body = line
      .split('/')
      .map((seg) =>
        seg === '**'
          ? '\u0000'
          : seg
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]'),
      )
      .join('/')
      .replace(/^\u0000\//, '(?:.*/)?')
      .replace(/\/\u0000$/, '(?:/.*)?')
      .replace(/\/\u0000\//g, '/(?:.*/)?')
      .replace(/\u0000/g, '.*');
    /* eslint-enable no-control-regex */
    rules.push({ negate, dirOnly, re: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`) });
  }
  return (relPath, isDir) => {
    let ignored = false;
    for (const r of rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(relPath)) ignored = !r.negate;
    }
    return ignored;
  };
}

/** The service settings of azure.yaml that azd's function-app target reads (service_config.go). */
export interface AzdService {
  project: string;
  language: string;
  host: string;
  dist: string;
  remoteBuild: boolean | undefined;
}

export function readAzdService(azureYaml: string, name: string): AzdService {
  const doc = readYamlSubset(azureYaml);
  const services = doc.services;
  const svc = typeof services === 'object' ? services[name] : undefined;
  if (typeof svc !== 'object') throw new Error(`azure.yaml has no service ${name}`);
  const str = (k: string): string => (typeof svc[k] === 'string' ? svc[k] : '');
  const rb = svc.remoteBuild;
  return {
    project: str('project'),
    language: str('language'),
    host: str('host'),
    dist: str('dist'),
    remoteBuild: typeof rb === 'boolean' ? rb : undefined,
  };
}

const IGNORE_FILE = '.funcignore'; // service_target.go IgnoreFile(): AzureFunctionTarget -> ".funcignore"
const isNode = (language: string): boolean =>
  language === 'js' || language === 'ts' || language === 'javascript' || language === 'typescript';

/**
 * azd's `resolveFunctionAppRemoteBuild` for a Flex Consumption deploy (service_target_functionapp.go, 1.31.2):
 * for js/ts it reads `<project>/.funcignore` (serviceConfig.Path()); with no file, remoteBuild (default true);
 * otherwise "node_modules excluded" is `ignore.Relative("node_modules", true)`; unset remoteBuild follows it,
 * and an explicit value that contradicts it is an error (the messages below are azd's).
 */
export function azdResolveRemoteBuild(svc: AzdService, repoRoot: string): boolean {
  if (!isNode(svc.language)) return svc.remoteBuild ?? false;
  const file = path.join(repoRoot, svc.project, IGNORE_FILE);
  if (!fs.existsSync(file)) return svc.remoteBuild ?? true;
  const nodeModulesExcluded = ignoreMatcher(fs.readFileSync(file, 'utf8'))('node_modules', true);
  if (svc.remoteBuild === undefined) return nodeModulesExcluded;
  if (svc.remoteBuild && !nodeModulesExcluded) throw new Error(`'remoteBuild: true' requires '${IGNORE_FILE}' to exclude node_modules`);
  if (!svc.remoteBuild && nodeModulesExcluded)
    throw new Error(`'remoteBuild: false' cannot be used when '${IGNORE_FILE}' excludes node_modules`);
  return svc.remoteBuild;
}

/**
 * The entries azd's `createDeployableZip` (project_utils.go, 1.31.2) writes for the packaged folder of a
 * js/ts function service — `<project>/<dist>` (framework_service_node.go Package): the folder's own
 * `.funcignore` (if any) applies; `.azure` folders, the ignore file itself and `local.settings.json` are always
 * left out; without an ignore file `node_modules` is left out unless `remoteBuild: false`.
 */
export function azdZipEntries(svc: AzdService, repoRoot: string): string[] {
  const root = path.join(repoRoot, svc.project, svc.dist);
  const ignoreFile = path.join(root, IGNORE_FILE);
  const ignored = fs.existsSync(ignoreFile) ? ignoreMatcher(fs.readFileSync(ignoreFile, 'utf8')) : undefined;
  return walk(root, (rel, name, isDir) => {
    if (name === '.azure' && isDir) return false;
    if (name === IGNORE_FILE && !isDir) return false;
    if (name === 'local.settings.json' && !isDir) return false;
    if (ignored !== undefined) return !ignored(rel, isDir);
    if (isNode(svc.language) && name === 'node_modules' && isDir) return svc.remoteBuild === false;
    return true;
  });
}

/** A documented `func azure functionapp publish` invocation: where it runs, its environment, its arguments. */
export interface FuncPublish {
  cwd: string;
  env: Record<string, string>;
  args: string[];
}

/**
 * What Core Tools does with `func azure functionapp publish` for this app: resolve the worker runtime
 * (--javascript/--typescript/--node on the command line, else FUNCTIONS_WORKER_RUNTIME from the environment,
 * else `Values.FUNCTIONS_WORKER_RUNTIME` of local.settings.json; none is the error Core Tools stops with), then
 * zip every file under the function app root (the nearest folder upward with host.json) except the `.git` and
 * `.vscode` folders, the files .funcignore, .gitignore, local.settings.json and project.lock.json, and what
 * the root's .funcignore denies. Returns the zip's entries.
 */
export function funcPublishFiles(run: FuncPublish): string[] {
  let appRoot = path.resolve(run.cwd);
  while (!fs.existsSync(path.join(appRoot, 'host.json'))) {
    const up = path.dirname(appRoot);
    if (up === appRoot) throw new Error('Unable to find project root. Expecting to find one of host.json in project root.');
    appRoot = up;
  }
  const flags = ['--javascript', '--typescript', '--node'];
  let runtime = run.args.some((a) => flags.includes(a)) ? 'node' : (run.env.FUNCTIONS_WORKER_RUNTIME ?? '');
  if (runtime === '') {
    const settings = path.join(appRoot, 'local.settings.json');
    if (fs.existsSync(settings)) {
      const values = (JSON.parse(fs.readFileSync(settings, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
      runtime = Object.entries(values).find(([k]) => k.toUpperCase() === 'FUNCTIONS_WORKER_RUNTIME')?.[1] ?? '';
    }
  }
  if (runtime.toLowerCase() !== 'node')
    throw new Error(`Worker runtime cannot be 'None'. Please set a valid runtime. (resolved: '${runtime}')`);
  const ignoreFile = path.join(appRoot, '.funcignore');
  const denies = fs.existsSync(ignoreFile) ? ignoreMatcher(fs.readFileSync(ignoreFile, 'utf8')) : undefined;
  const skipFiles = ['.funcignore', '.gitignore', 'local.settings.json', 'project.lock.json'];
  const files = walk(appRoot, (_rel, name, isDir) =>
    isDir ? !['.git', '.vscode'].includes(name.toLowerCase()) : !skipFiles.includes(name.toLowerCase()),
  );
  return denies === undefined ? files : files.filter((f) => !denies(f, false) && !ancestors(f).some((d) => denies(d, true)));
}

function ancestors(rel: string): string[] {
  const parts = rel.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Every file under root (relative, '/'-separated, sorted); `keep` decides per entry, a dropped folder is not entered. */
export function walk(root: string, keep: (rel: string, name: string, isDir: boolean) => boolean): string[] {
  const out: string[] = [];
  const visit = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const isDir = e.isDirectory();
      if (!keep(r, e.name, isDir)) continue;
      if (isDir) visit(path.join(dir, e.name), r);
      else out.push(r);
    }
  };
  visit(root, '');
  return out.sort();
}

/** The names of the entries of a zip file (its central directory, APPNOTE 4.3.12), folders excluded. */
export function zipEntryNames(zip: Buffer): string[] {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file: no end of central directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    if (!name.endsWith('/')) names.push(name);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return names.sort();
}
