/**
 * The timer registration, checked through @azure/functions' own registration path: the worker injects
 * the `@azure/functions-core` module; we provide one that records what `app.timer` registers.
 */
import assert from 'node:assert/strict';
import Module from 'node:module';
import path from 'node:path';
import { test } from 'node:test';

interface Registered {
  metadata: { name: string; bindings: Record<string, { type: string; direction: string; schedule?: string; runOnStartup?: boolean }>; retryOptions?: Record<string, unknown> };
  callback: unknown;
}
const registered: Registered[] = [];
const fakeCore = {
  registerFunction: (metadata: Registered['metadata'], callback: unknown) => {
    registered.push({ metadata, callback });
    return { dispose: () => undefined };
  },
  setProgrammingModel: () => undefined,
  getProgrammingModel: () => undefined,
  registerHook: () => ({ dispose: () => undefined }),
  log: () => undefined,
};
const fakePath = path.join(__dirname, '__functions-core__.js');
require.cache[fakePath] = { id: fakePath, filename: fakePath, loaded: true, exports: fakeCore } as unknown as NodeJS.Module;
const mod = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const original = mod._resolveFilename;
mod._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === '@azure/functions-core' ? fakePath : original.call(this, request, ...rest);
};

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
