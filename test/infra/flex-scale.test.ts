/**
 * maximumInstanceCount and instanceMemoryMB, on every parameter they pass through (main.bicep → resources.bicep
 * → modules/functionapp.bicep), stay within Flex Consumption's documented ranges, with the source cited beside
 * them: maximumInstanceCount 1..1000 ("Event-driven scaling in Azure Functions", Limit scale-out), instance
 * memory 512 / 2048 / 4096 MB ("Flex Consumption plan", Instance sizes).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ParamDecl } from '../../tools/bicep-check/parse.js';
import { Project } from '../../tools/bicep-check/project.js';
import { check, infraSources } from './helpers.js';

const FILES = ['main.bicep', 'resources.bicep', 'modules/functionapp.bicep'];
const num = (p: ParamDecl, name: string) => {
  const v = p.decorators.find((d) => d.name === name)?.args[0];
  return v?.kind === 'number' ? v.value : undefined;
};

test("maximumInstanceCount: 1..1000 on every parameter, a default inside, the source cited beside the module's", async () => {
  const project = new Project((await check()).files);
  for (const f of FILES) {
    const file = project.files.get(f)!;
    const p = file.params.get('maximumInstanceCount')!;
    assert.ok(p, `${f} declares maximumInstanceCount`);
    assert.equal(num(p, 'minValue'), 1, `${f}: @minValue(1), the documented lowest maximum instance count`);
    assert.equal(num(p, 'maxValue'), 1000, `${f}: @maxValue(1000), the documented highest`);
    const def = p.default?.kind === 'number' ? p.default.value : NaN;
    assert.ok(def >= 1 && def <= 1000, `${f}: default ${def} inside 1..1000`);
    if (f !== 'modules/functionapp.bicep') continue;
    // The comment block right above the module's parameter cites the doc (main.bicep and resources.bicep point to it).
    const lines = infraSources()[f]!.split('\n');
    const first = Math.min(p.loc.line, ...p.decorators.map((d) => d.loc.line)) - 1;
    const comments: string[] = [];
    for (let i = first - 1; i >= 0 && /^\s*\/\//.test(lines[i]!); i--) comments.unshift(lines[i]!);
    assert.match(
      comments.join('\n'),
      /learn\.microsoft\.com\/azure\/azure-functions\/event-driven-scaling#limit-scale-out/,
      `${f}: the range's source is cited above maximumInstanceCount`,
    );
  }
});

test('instanceMemoryMB: only the Flex Consumption instance sizes', async () => {
  const project = new Project((await check()).files);
  for (const f of FILES) {
    const p = project.files.get(f)!.params.get('instanceMemoryMB')!;
    const allowed = p.decorators.find((d) => d.name === 'allowed')?.args[0];
    const values = allowed?.kind === 'array' ? allowed.items.map((i) => (i.kind === 'number' ? i.value : NaN)) : [];
    assert.deepEqual(values, [512, 2048, 4096], f);
  }
});

test('the posture check refuses a range outside the documented one', async () => {
  const base = infraSources();
  for (const [from, to] of [
    ['@maxValue(1000)\nparam maximumInstanceCount', '@maxValue(2000)\nparam maximumInstanceCount'],
    ['@minValue(1)\n@maxValue(1000)\nparam maximumInstanceCount', '@minValue(0)\n@maxValue(1000)\nparam maximumInstanceCount'],
  ]) {
    const mutated = base['resources.bicep']!.replace(from!, to!);
    assert.notEqual(mutated, base['resources.bicep'], from);
    const report = await check({ ...base, 'resources.bicep': mutated });
    assert.ok(
      report.findings.some((x) => x.rule === 'posture/site-scale' && x.file === 'resources.bicep'),
      `${to}: ${report.findings.map((x) => x.rule).join(', ')}`,
    );
  }
});
