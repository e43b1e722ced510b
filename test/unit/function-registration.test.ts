/**
 * The timer registration of the deployed bundle (dist/bundle/functions/exportUsers.js), checked through
 * @azure/functions' own registration path: the Functions worker injects the `@azure/functions-core` module;
 * ours records what `app.timer` registers. The worker loads the entry point with the app settings already in
 * process.env (see timerSchedule in src/settings.ts), so each case sets EXPORT_SCHEDULE, then loads a fresh
 * copy of the bundle (a module is evaluated once per path).
 *
 * The host resolves a `%EXPORT_SCHEDULE%` schedule from the app settings and refuses to index the function
 * when the setting is unset: the binding may name the setting only when it is set.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { DEFAULTS } from '../../src/settings.js';
import { installFunctionsCore, type RegisteredFunction } from '../helpers/functions-core.js';

const registered = installFunctionsCore();

const bundle = path.resolve(__dirname, '..', '..', 'bundle', 'functions', 'exportUsers.js');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'function-registration-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let copies = 0;

/** Loads a fresh copy of the bundle with EXPORT_SCHEDULE as given (undefined: unset); what it registered. */
function loadBundle(schedule: string | undefined): { exports: Record<string, unknown>; registered: RegisteredFunction[] } {
  const copy = path.join(scratch, `exportUsers-${++copies}.js`);
  copyFileSync(bundle, copy);
  const saved = process.env['EXPORT_SCHEDULE'];
  if (schedule === undefined) delete process.env['EXPORT_SCHEDULE'];
  else process.env['EXPORT_SCHEDULE'] = schedule;
  const before = registered.length;
  try {
    return { exports: require(copy) as Record<string, unknown>, registered: registered.slice(before) };
  } finally {
    if (saved === undefined) delete process.env['EXPORT_SCHEDULE'];
    else process.env['EXPORT_SCHEDULE'] = saved;
  }
}

function timerTrigger(fn: RegisteredFunction): { direction: string; schedule?: string; runOnStartup?: boolean } {
  const triggers = Object.values(fn.metadata.bindings).filter((b) => b.type === 'timerTrigger');
  assert.equal(triggers.length, 1, JSON.stringify(fn.metadata.bindings));
  return triggers[0]!;
}

test('EXPORT_SCHEDULE unset: exportUsers is registered on the default schedule itself, with a retry policy, never on startup', () => {
  const loaded = loadBundle(undefined);
  assert.equal(loaded.registered.length, 1);
  const fn = loaded.registered[0]!;
  assert.equal(fn.metadata.name, 'exportUsers');
  const trigger = timerTrigger(fn);
  assert.equal(trigger.direction, 'in');
  // README "Settings": default `0 0 2 * * *` — the literal, so the host has nothing to resolve.
  assert.equal(trigger.schedule, '0 0 2 * * *');
  assert.equal(trigger.schedule, DEFAULTS.EXPORT_SCHEDULE);
  assert.notEqual(trigger.runOnStartup, true);
  assert.ok(fn.metadata.retryOptions, 'a retry policy is registered');
  assert.equal(fn.metadata.retryOptions!['strategy'], 'exponentialBackoff');
  assert.ok(Number(fn.metadata.retryOptions!['maxRetryCount']) >= 1);
  assert.equal(typeof fn.callback, 'function');
  assert.equal(typeof loaded.exports['handler'], 'function');
});

test('EXPORT_SCHEDULE empty or blank counts as unset (as for every setting): the default schedule', () => {
  for (const blank of ['', '   ']) {
    const loaded = loadBundle(blank);
    assert.equal(loaded.registered.length, 1);
    assert.equal(timerTrigger(loaded.registered[0]!).schedule, DEFAULTS.EXPORT_SCHEDULE, JSON.stringify(blank));
  }
});

test('EXPORT_SCHEDULE set: the binding names the app setting, for the host to resolve', () => {
  const loaded = loadBundle('0 30 4 * * MON-FRI');
  assert.equal(loaded.registered.length, 1);
  assert.equal(timerTrigger(loaded.registered[0]!).schedule, '%EXPORT_SCHEDULE%');
});

test('EXPORT_SCHEDULE set but malformed: still the app setting — the host names a schedule it cannot read, and disables only this function', () => {
  // Throwing while loading would register nothing, and the worker would then leave indexing to the host,
  // which finds no function: the error would show only on the worker's stderr (see timerSchedule).
  const loaded = loadBundle('0 2 * * *');
  assert.equal(loaded.registered.length, 1);
  assert.equal(timerTrigger(loaded.registered[0]!).schedule, '%EXPORT_SCHEDULE%');
});
