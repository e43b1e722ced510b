/**
 * The log alerts of infra/modules/monitoring.bicep, as deployed (their queries evaluated from the Bicep):
 * - they read the workspace tables AppRequests / AppTraces with documented columns only
 *   (tools/bicep-check/kql.ts: "Azure Monitor Logs reference", with sources);
 * - the failed-run alert fires on a run's final failure, not on a failed attempt that the timer's retry policy
 *   (src/functions/exportUsers.ts) then reruns: it looks at the latest failed request only, waits longer than
 *   the retry policy's longest interval after it ended, and stays quiet when any attempt started after it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CLOUDS } from '../../tools/bicep-check/clouds.js';
import { Evaluator } from '../../tools/bicep-check/evaluate.js';
import { namesIn, unknownColumns } from '../../tools/bicep-check/kql.js';
import { Project, prop } from '../../tools/bicep-check/project.js';
import { check, ROOT } from './helpers.js';

async function alerts() {
  const report = await check();
  const project = new Project(report.files);
  const file = project.files.get('modules/monitoring.bicep')!;
  const ev = new Evaluator(project, { environment: CLOUDS[0]!.environment, parameters: { environmentName: 'test', location: 'eastus' } });
  return file.resources
    .filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules')
    .map((r) => {
      const allOf = prop(r.body, 'properties.criteria.allOf');
      const criterion = allOf?.kind === 'array' ? allOf.items[0] : undefined;
      const query = ev.value(file, prop(criterion, 'query'));
      const scopes = prop(r.body, 'properties.scopes');
      return {
        symbol: r.symbol,
        query: typeof query === 'string' ? query : JSON.stringify(query),
        scopes: scopes?.kind === 'array' ? scopes.items.flatMap((s) => project.trace(file, s)) : [],
      };
    });
}

/** The retry policy the timer function registers (maximumInterval in minutes). */
function retryMaximumIntervalMinutes(): number {
  const src = fs.readFileSync(path.join(ROOT, 'src', 'functions', 'exportUsers.ts'), 'utf8');
  const m = /retry:\s*\{[^}]*strategy:\s*'exponentialBackoff'[\s\S]*?maximumInterval:\s*\{\s*minutes:\s*(\d+)\s*\}/.exec(src);
  assert.ok(m, 'the timer registers an exponentialBackoff retry policy with a maximumInterval in minutes');
  return Number(m[1]);
}

test('the classic Application Insights names are not columns of the workspace tables', () => {
  // The classic Application Insights names are not columns of the workspace tables.
  assert.deepEqual(unknownColumns('requests | where operation_Name == "f" and success == false').unknown, [
    'requests',
    'operation_Name',
    'success',
  ]);
});

test('both alerts query the workspace tables with documented columns only, scoped to the workspace', async () => {
  const list = await alerts();
  assert.equal(list.length, 2);
  for (const a of list) {
    const { tables, unknown } = unknownColumns(a.query);
    assert.deepEqual([tables.sort(), unknown], [['AppRequests', 'AppTraces'], []], `${a.symbol}: ${a.query}`);
    assert.ok(
      a.scopes.some((s) => s.startsWith('Microsoft.OperationalInsights/workspaces:id ')),
      `${a.symbol} is scoped to the workspace holding AppRequests/AppTraces: ${a.scopes.join(', ')}`,
    );
  }
});

test('the failed-run alert counts only a final failure, after the retry policy has given up', async () => {
  const failed = (await alerts()).find((a) => /Success == false/.test(a.query));
  assert.ok(failed, 'an alert on failed requests');
  const q = failed.query;
  // Only the latest failed invocation of the function, with its end (a request's TimeGenerated is its start).
  assert.match(
    q,
    /AppRequests\s*\n\| where TimeGenerated > ago\(26h\) and Name == "exportUsers" and Success == false\s*\n\| summarize arg_max\(TimeGenerated, DurationMs\)/,
  );
  assert.match(q, /\| extend EndedAt = TimeGenerated \+ DurationMs \* 1ms/);
  // Not while a retry may still come: the quiet period is longer than the policy's longest wait.
  const quiet = Number(/EndedAt < ago\((\d+)m\)/.exec(q)?.[1]);
  assert.ok(
    quiet > retryMaximumIntervalMinutes(),
    `quiet period ${quiet} min > retry maximumInterval ${retryMaximumIntervalMinutes()} min`,
  );
  // Not when any attempt (the retry, or the next scheduled run) started after the failure ended: attempts are
  // seen at their start, in the host's "Executing 'Functions.exportUsers'" trace, not only when their request row is written.
  assert.match(
    q,
    /let lastStart = toscalar\(union .*AppTraces .*Message startswith "Executing 'Functions\.exportUsers'".* \| summarize max\(TimeGenerated\)\);/,
  );
  assert.match(q, /\(isnull\(lastStart\) or lastStart < EndedAt\)/);
  assert.match(q, /\| summarize failures = count\(\)$/);
  // Nothing else counts failures: one AppRequests filter on Success == false.
  assert.equal(q.match(/Success == false/g)?.length, 1);
  assert.deepEqual(namesIn(q).tables.sort(), ['AppRequests', 'AppTraces']);
});
