/**
 * What the Bicep sets GRAPH_ENDPOINT and GRAPH_AUTHORITY_HOST to in each Azure cloud, by evaluating infra/'s
 * own expressions (tools/bicep-check/evaluate.ts) with environment() as documented for that cloud
 * (tools/bicep-check/clouds.ts cites the sources), against Microsoft Graph's documented hosts
 * ("Microsoft Graph national cloud deployments", https://learn.microsoft.com/graph/deployments).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOUDS, DOD_GRAPH, toggleTrailingSlashes } from '../../tools/bicep-check/clouds.js';
import { evaluateAppSettings, Evaluator, Opaque } from '../../tools/bicep-check/evaluate.js';
import { parseBicep } from '../../tools/bicep-check/parse.js';
import { Project } from '../../tools/bicep-check/project.js';
import { check, infraSources } from './helpers.js';

const ENTRY = { environmentName: 'test', location: 'eastus' };

async function project(files: Record<string, string> = infraSources()): Promise<Project> {
  return new Project((await check(files)).files);
}

const byName = (name: string) => CLOUDS.find((c) => c.environment.name === name)!;

for (const cloud of CLOUDS)
  for (const [variant, environment] of [
    ['as documented', cloud.environment],
    ['trailing slashes toggled', toggleTrailingSlashes(cloud.environment)],
  ] as const)
    test(`deployed to ${cloud.environment.name} (${variant}): GRAPH_ENDPOINT is Microsoft Graph, GRAPH_AUTHORITY_HOST is Entra`, async () => {
      const settings = evaluateAppSettings(await project(), { environment, parameters: ENTRY }, ['GRAPH_ENDPOINT', 'GRAPH_AUTHORITY_HOST']);
      assert.equal(settings.get('GRAPH_ENDPOINT'), cloud.microsoftGraph);
      assert.equal(settings.get('GRAPH_AUTHORITY_HOST'), cloud.entraAuthority);
    });

test('graphEndpoint (main.bicep) overrides the cloud default, e.g. a US Government L5 (DoD) tenant', async () => {
  const settings = evaluateAppSettings(
    await project(),
    { environment: byName('AzureUSGovernment').environment, parameters: { ...ENTRY, graphEndpoint: DOD_GRAPH } },
    ['GRAPH_ENDPOINT'],
  );
  assert.equal(settings.get('GRAPH_ENDPOINT'), 'https://dod-graph.microsoft.us');
});

test('a cloud the Bicep does not know fails the deployment (as ARM would), unless graphEndpoint is given', async () => {
  const stack = { ...byName('AzureCloud').environment, name: 'AzureStackCloud' };
  const p = await project();
  assert.throws(
    () => evaluateAppSettings(p, { environment: stack, parameters: ENTRY }, ['GRAPH_ENDPOINT']),
    /AzureStackCloud' doesn't exist|property 'AzureStackCloud'/,
  );
  const given = evaluateAppSettings(p, { environment: stack, parameters: { ...ENTRY, graphEndpoint: 'https://graph.contoso.example' } }, [
    'GRAPH_ENDPOINT',
  ]);
  assert.equal(given.get('GRAPH_ENDPOINT'), 'https://graph.contoso.example');
});

test('the check fails when GRAPH_ENDPOINT comes from environment().graph (Azure AD Graph)', async () => {
  const base = infraSources();
  const fn = base['modules/functionapp.bicep']!;
  const mutated = fn.replace('microsoftGraphByCloud[environment().name]', 'environment().graph');
  assert.notEqual(mutated, fn);
  const report = await check({ ...base, 'modules/functionapp.bicep': mutated });
  const messages = report.findings.filter((f) => f.rule === 'posture/setting-graph-cloud').map((f) => f.message);
  assert.ok(
    messages.some((m) => m.includes('AzureCloud') && m.includes('"https://graph.windows.net/"')),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => m.includes('AzureChinaCloud') && m.includes('graph.chinacloudapi.cn')),
    messages.join('\n'),
  );
});

// The evaluator itself, on small files: it must compute what ARM computes.
async function evalVar(text: string, name: string, environment = byName('AzureCloud').environment) {
  const f = await parseBicep('t.bicep', text);
  return new Evaluator(new Project([f]), { environment }).variable(f, name);
}

test('evaluator: ternaries take one branch, string functions, environment() members (case-insensitive), params', async () => {
  const src = [
    "param p string = 'x/'",
    "var trimmed = endsWith(p, '/') ? substring(p, 0, length(p) - 1) : p",
    'var login = environment().Authentication.loginEndpoint',
    'var m = { a: 1, b: 2 }',
    "var lazy = false ? m['missing'] : 'ok'",
    "var s = 'pre-${p}-${length(m)}'",
    "var logic = !empty(p) && (p == 'x/' || false) && 2 > 1",
    "var opaque = 'id-${uniqueString(resourceGroup().id)}'",
  ].join('\n');
  assert.equal(await evalVar(src, 'trimmed'), 'x');
  assert.equal(await evalVar(src, 'login'), 'https://login.microsoftonline.com/');
  assert.equal(await evalVar(src, 'lazy'), 'ok');
  assert.equal(await evalVar(src, 's'), 'pre-x/-2');
  assert.equal(await evalVar(src, 'logic'), true);
  assert.ok((await evalVar(src, 'opaque')) instanceof Opaque);
  await assert.rejects(evalVar("var m = { a: 1 }\nvar bad = m['b']", 'bad'), /'b' doesn't exist/);
});

test('evaluator: refuses a conditional that tree-sitter-bicep 1.1.0 groups differently from Bicep', async () => {
  // Bicep reads `c ? a : m[k]` as `c ? a : (m[k])`; tree-sitter-bicep 1.1.0 as `(c ? a : m)[k]`.
  await assert.rejects(evalVar("var m = { k: 'v' }\nvar x = false ? 'a' : m['k']", 'x'), /unparenthesized conditional/);
  assert.equal(await evalVar("var m = { k: 'v' }\nvar x = false ? 'a' : (m['k'])", 'x'), 'v');
});
