/**
 * The timer registration, checked through @azure/functions' own registration path: the worker injects
 * the `@azure/functions-core` module; we provide one that records what `app.timer` registers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installFunctionsCore } from '../helpers/functions-core.js';

const registered = installFunctionsCore();

test('exportUsers is registered as a timer on %EXPORT_SCHEDULE% with a retry policy, never on startup', async () => {
  const fn = await import('../../src/functions/exportUsers.js');
  assert.equal(registered.length, 1);
  const { metadata } = registered[0]!;
  assert.equal(metadata.name, 'exportUsers');
  const triggers = Object.values(metadata.bindings).filter((b) => b.type === 'timerTrigger');
  assert.equal(triggers.length, 1);
  const trigger = triggers[0]!;
  assert.equal(trigger.direction, 'in');
  assert.equal(trigger.schedule, '%EXPORT_SCHEDULE%');
  assert.notEqual(trigger.runOnStartup, true);
  assert.ok(metadata.retryOptions, 'a retry policy is registered');
  assert.equal(metadata.retryOptions!['strategy'], 'exponentialBackoff');
  assert.ok(Number(metadata.retryOptions!['maxRetryCount']) >= 1);
  assert.equal(typeof fn.handler, 'function');
});
