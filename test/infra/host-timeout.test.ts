/**
 * host.json's functionTimeout covers a run of the biggest tenant the README sizes for ("Performance": a million users) at Graph's page
 * latency, with the listing restarts the export allows, and stays a fixed bound that Flex Consumption accepts
 * and that keeps the timer's retries inside one day. The reasoning and sources: docs/performance.md,
 * "functionTimeout for the biggest tenants".
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

/** The sizing of docs/performance.md ("functionTimeout for the biggest tenants"). */
const SIZING = {
  users: 1_000_000, // README "Performance": 1,000,000 users
  pageSize: 999, // GET /users $top maximum (Microsoft Graph "List users")
  secondsPerPage: 3, // a slow 999-user page with $select, latency + transfer (see the doc: not measurable offline)
  waitsFactor: 1.1, // Retry-After / backoff waits of a throttled or retried listing
  startupMinutes: 5, // Key Vault, token, Storage checks, commit, manifest, cold start
};

/** Flex Consumption: default 30 minutes, maximum unbounded ("Function app timeout duration",
 * https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout). */
const FLEX_DEFAULT_TIMEOUT_MINUTES = 30;

function source(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), 'utf8');
}

/** host.json functionTimeout: "hh:mm:ss" (a TimeSpan; "-1" = unbounded), in minutes. */
function timeoutMinutes(): number {
  const host = JSON.parse(source('host.json')) as { functionTimeout?: string };
  const m = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(host.functionTimeout ?? '');
  assert.ok(
    m,
    `functionTimeout '${host.functionTimeout}' is a fixed hh:mm:ss bound (functions-host-json#functiontimeout: "keeping a fixed upper bound is recommended")`,
  );
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) / 60;
}

function maxRestarts(): number {
  const m = /const maxRestarts = options\.maxRestarts \?\? (\d+);/.exec(source('src/graph.ts'));
  assert.ok(m, 'src/graph.ts bounds the listing restarts');
  return Number(m[1]);
}

function retryPolicy(): { maxRetryCount: number; maximumIntervalMinutes: number } {
  const m =
    /retry:\s*\{\s*strategy:\s*'exponentialBackoff',\s*maxRetryCount:\s*(\d+),[\s\S]*?maximumInterval:\s*\{\s*minutes:\s*(\d+)\s*\}/.exec(
      source('src/functions/exportUsers.ts'),
    );
  assert.ok(m, 'the timer registers an exponentialBackoff retry policy');
  return { maxRetryCount: Number(m[1]), maximumIntervalMinutes: Number(m[2]) };
}

test('functionTimeout covers a million users at a slow Graph page, with every listing restart the export allows', () => {
  const pages = Math.ceil(SIZING.users / SIZING.pageSize);
  const listingMinutes = (pages * SIZING.secondsPerPage * SIZING.waitsFactor) / 60; // ≈ 55 min
  const worstCase = (1 + maxRestarts()) * listingMinutes + SIZING.startupMinutes; // 4 listings ≈ 225 min
  assert.ok(timeoutMinutes() >= worstCase, `functionTimeout ${timeoutMinutes()} min >= ${worstCase.toFixed(0)} min`);
  assert.ok(timeoutMinutes() > FLEX_DEFAULT_TIMEOUT_MINUTES, 'longer than the Flex Consumption default, so it must be set');
});

test('functionTimeout keeps the timer retries of a daily run inside the day', () => {
  const { maxRetryCount, maximumIntervalMinutes } = retryPolicy();
  const allAttempts = (1 + maxRetryCount) * timeoutMinutes() + maxRetryCount * maximumIntervalMinutes;
  assert.ok(allAttempts < 24 * 60, `${allAttempts} min for ${1 + maxRetryCount} timed-out attempts < 24 h (the default schedule is daily)`);
});

test('docs/performance.md states the sizing the test encodes', () => {
  const doc = source('docs/performance.md');
  assert.match(doc, /## functionTimeout for the biggest tenants/);
  assert.match(doc, /1,002 pages/);
  assert.match(doc, /04:00:00/);
});
