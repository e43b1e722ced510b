/**
 * The offline Bicep checks pass on infra/: syntax (tree-sitter-bicep), symbols, types against Azure's
 * resource type data, security posture and the contract with the code. tools/bicep-check does the work;
 * bicep-mutations.test.ts proves each check fails when it should.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { formatFinding } from '../../tools/bicep-check/index.js';
import { appSettingItems } from '../../tools/bicep-check/app-settings.js';
import { Project } from '../../tools/bicep-check/project.js';
import { INFRA, ROOT, check, infraSources, settingContract, typeSnapshot } from './helpers.js';

test('every .bicep file under infra/ passes syntax, symbols, types, posture and conventions', async () => {
  const report = await check();
  assert.deepEqual(report.findings.map(formatFinding), []);
  const names = report.files.map((f) => f.file);
  for (const f of [
    'main.bicep',
    'resources.bicep',
    'modules/monitoring.bicep',
    'modules/storage.bicep',
    'modules/keyvault.bicep',
    'modules/keyvault-access.bicep',
    'modules/identity.bicep',
    'modules/functionapp.bicep',
    'modules/roles.bicep',
    'modules/graph-app.bicep',
  ])
    assert.ok(names.includes(f), `${f} is checked`);
  // The only syntax tree-sitter-bicep 1.1.0 needs help with here is the Graph extension line.
  assert.deepEqual(report.notes, [
    "modules/graph-app.bicep:10: 'extension microsoftGraphV1' blanked before parsing (not in tree-sitter-bicep 1.1.0)",
  ]);
});

/**
 * README "Settings" (the public contract — names are final): the names of its first table, read from the README
 * itself, so the oracle is the document users read and not a copy of the code's list.
 */
function readmeSettingNames(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Settings\n'));
  const table = section.slice(section.indexOf('\n|')).split('\n\n')[0] ?? '';
  return [...table.matchAll(/^\| `([A-Za-z_]+)` \|/gm)].map((m) => m[1]!);
}

test("the setting names the checks use are the code's, and match the README", () => {
  assert.deepEqual([...settingContract().names].sort(), readmeSettingNames().sort());
});

test('every resource of infra/ is checked against a pinned schema of its exact apiVersion', async () => {
  const snapshot = typeSnapshot();
  const report = await check();
  const declared = new Set<string>();
  for (const f of report.files)
    for (const r of f.resources) {
      if (r.type.startsWith('Microsoft.Graph/')) continue;
      declared.add(`${r.type}@${r.apiVersion}`);
      const entry = snapshot.resourceTypes[r.type];
      assert.ok(entry, `${r.type} in the snapshot`);
      assert.ok(entry.apiVersions.includes(r.apiVersion), `${r.type}@${r.apiVersion} exists`);
      assert.ok(entry.schemas[r.apiVersion], `${r.type}@${r.apiVersion} schema pinned`);
    }
  assert.deepEqual(
    [...declared].sort(),
    [...snapshot.declared].sort(),
    'snapshot matches what infra/ declares (run node tools/bicep-check/refresh-types.mjs)',
  );
  assert.ok(
    snapshot.sources.some((s) => s.package === '@azure/mcp-linux-x64'),
    'the data came from @azure/mcp-linux-x64',
  );
  const size = fs.statSync(path.join(INFRA, '.types', 'bicep-types.json')).size;
  assert.ok(size < 512 * 1024, `snapshot stays small (${size} bytes)`);
});

test('the function app gets every setting the code reads, from the right place', async () => {
  const report = await check();
  const project = new Project(report.files);
  const fn = project.files.get('modules/functionapp.bicep')!;
  const site = fn.resources.find((r) => r.type === 'Microsoft.Web/sites')!;
  const text = fn.text;
  for (const n of settingContract().names) {
    if (n === 'EXPORT_STORAGE') assert.ok(!text.includes(`'EXPORT_STORAGE'`), 'no storage connection string');
    else assert.ok(text.includes(`'${n}'`), `${n} is set`);
  }
  assert.ok(site);
  const trace = (n: string) => {
    const arr = (site.body.kind === 'object' && project.trace(fn, findSetting(fn, site.body, n))) || [];
    return arr.join(' ');
  };
  assert.match(
    trace('AZURE_CLIENT_ID'),
    /^Microsoft\.ManagedIdentity\/userAssignedIdentities:properties\.clientId \[modules\/identity\.bicep#identity\]$/,
  );
  // '' when credentialType is federated (no vault; the setting is then not set: bicep-federated.test.ts).
  assert.match(trace('KEY_VAULT_URL'), /^Microsoft\.KeyVault\/vaults:properties\.vaultUri \[modules\/keyvault-access\.bicep#vault\] ''$/);
  assert.match(trace('EXPORT_CONTAINER'), /containers:name \[modules\/storage\.bicep#exportContainer\]/);
  assert.match(
    trace('EXPORT_STORAGE__blobServiceUri'),
    /^interp:https:\/\/\$\{account\.name\}\.blob\.\$\{environment\(\)\.suffixes\.storage\}$/,
  );
});

test('the deployer gets only the Key Vault role that provisions the chosen credential type', async () => {
  const report = await check();
  const kv = report.files.find((f) => f.file === 'modules/keyvault-access.bicep')!;
  const roleOf = (body: import('../../tools/bicep-check/parse.js').Value) => {
    const props = body.kind === 'object' ? body.props.find((p) => p.key === 'properties')?.value : undefined;
    const id = props?.kind === 'object' ? props.props.find((p) => p.key === 'roleDefinitionId')?.value : undefined;
    const name = id?.kind === 'expr' ? /roleDefinitions'\s*,\s*(\w+)\)/.exec(id.text)?.[1] : undefined;
    const v = name ? kv.vars.get(name)?.value : undefined;
    return v?.kind === 'string' ? v.value : undefined;
  };
  const conditionOf = (roleId: string) =>
    kv.resources.filter((r) => r.type === 'Microsoft.Authorization/roleAssignments' && roleOf(r.body) === roleId).map((r) => r.condition);
  // Key Vault Certificates Officer, Key Vault Secrets Officer
  assert.deepEqual(conditionOf('a4417e6f-fecd-4de8-b567-7b0420556985'), ["!empty(deployerPrincipalId) && credentialType == 'certificate'"]);
  assert.deepEqual(conditionOf('b86a8fe4-44ce-4948-aee5-eccb2c155cd7'), ["!empty(deployerPrincipalId) && credentialType == 'secret'"]);
  const resources = report.files.find((f) => f.file === 'resources.bicep')!;
  const access = resources.modules.find((m) => m.path === 'modules/keyvault-access.bicep')!;
  const params = access.body.kind === 'object' ? access.body.props.find((p) => p.key === 'params')?.value : undefined;
  const passed = params?.kind === 'object' ? params.props.find((p) => p.key === 'credentialType')?.value : undefined;
  // The module is deployed for certificate and secret only (federated needs no vault: bicep-federated.test.ts).
  assert.equal(access.condition, 'useKeyVault');
  assert.deepEqual(
    passed?.kind === 'ternary'
      ? [passed.cond, passed.then, passed.else].map((x) => (typeof x === 'string' ? x : x.kind === 'string' ? x.value : '?'))
      : passed,
    ["credentialType == 'secret'", 'secret', 'certificate'],
    "resources.bicep passes the deployment's credentialType",
  );
});

test("the optional action group's id is read only under the action group's own condition", async () => {
  const report = await check();
  const mon = report.files.find((f) => f.file === 'modules/monitoring.bicep')!;
  const condition = mon.resources.find((r) => r.symbol === 'actionGroup')?.condition;
  assert.equal(condition, 'enableAlerts && !empty(alertEmail)');
  type V = import('../../tools/bicep-check/parse.js').Value;
  const uses: Array<{ text: string; guards: string[] }> = [];
  const walk = (v: V, guards: string[]): void => {
    if (v.kind === 'expr' && /\bactionGroup\b/.test(v.text)) uses.push({ text: v.text, guards });
    else if (v.kind === 'object') v.props.forEach((p) => walk(p.value, guards));
    else if (v.kind === 'array') v.items.forEach((i) => walk(i, guards));
    else if (v.kind === 'ternary') {
      walk(v.then, [...guards, v.cond]);
      walk(v.else, [...guards, `!(${v.cond})`]);
    } else if (v.kind === 'for') walk(v.body, guards);
  };
  for (const d of mon.vars.values()) walk(d.value, []);
  for (const r of mon.resources) walk(r.body, r.condition ? [r.condition] : []);
  assert.deepEqual(uses, [{ text: 'actionGroup!.id', guards: [condition] }]);
});

test('azure.yaml deploys service "export" (the tag on the function app) with the infra/ Bicep', () => {
  const yaml = fs.readFileSync(path.join(ROOT, 'azure.yaml'), 'utf8');
  assert.match(yaml, /^services:\s*\n\s+export:\s*\n/m);
  assert.match(yaml, /^\s+project: \.\s*$/m);
  assert.match(yaml, /^\s+language: ts\s*$/m);
  assert.match(yaml, /^\s+host: function\s*$/m);
  const params = JSON.parse(fs.readFileSync(path.join(INFRA, 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value: unknown }>;
  };
  assert.equal(params.parameters.environmentName?.value, '${AZURE_ENV_NAME}');
  assert.equal(params.parameters.location?.value, '${AZURE_LOCATION}');
  assert.equal(params.parameters.deployerPrincipalId?.value, '${AZURE_PRINCIPAL_ID}');
  const main = infraSources()['main.bicep']!;
  for (const p of Object.keys(params.parameters)) assert.match(main, new RegExp(`^param ${p} `, 'm'), `main.bicep declares ${p}`);
  const config = JSON.parse(fs.readFileSync(path.join(INFRA, 'bicepconfig.json'), 'utf8')) as { extensions: Record<string, string> };
  assert.match(
    config.extensions.microsoftGraphV1 ?? '',
    /^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:\d+\.\d+\.\d+$/,
  );
});

function findSetting(
  file: import('../../tools/bicep-check/parse.js').BicepFile,
  body: import('../../tools/bicep-check/parse.js').Value,
  name: string,
) {
  const arr = body.kind === 'object' ? body.props.find((p) => p.key === 'properties')?.value : undefined;
  const sc = arr?.kind === 'object' ? arr.props.find((p) => p.key === 'siteConfig')?.value : undefined;
  const list = sc?.kind === 'object' ? sc.props.find((p) => p.key === 'appSettings')?.value : undefined;
  for (const { item } of appSettingItems(file, list) ?? []) {
    if (item.kind !== 'object') continue;
    const n = item.props.find((p) => p.key === 'name')?.value;
    if (n?.kind === 'string' && n.value === name) return item.props.find((p) => p.key === 'value')?.value;
  }
  return undefined;
}
