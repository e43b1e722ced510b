/**
 * The transport options (src/transport.ts): built once from EXPORT_REQUEST_TIMEOUT_SECONDS, every client gets
 * the same attempt timeout and the same cap on a pause between attempts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTransport } from '../../src/transport.js';

test('every client gets the request timeout per attempt and pauses no longer than it (nor than 60 s)', () => {
  for (const [timeoutMs, pauseMs] of [
    [5_000, 5_000],
    [100_000, 60_000],
  ] as const) {
    const t = createTransport({ requestTimeoutMs: timeoutMs });
    assert.equal(t.attemptTimeoutInMs, timeoutMs);
    assert.equal(t.maxRetryDelayInMs, pauseMs);
    for (const http of [t.graph, t.token]) {
      assert.equal(http.attemptTimeoutInMs, timeoutMs);
      assert.equal(http.maxRetryDelayInMs, pauseMs);
    }
    assert.equal(t.storage.pipelineOptions.retryOptions.tryTimeoutInMs, timeoutMs);
    assert.equal(t.storage.pipelineOptions.retryOptions.maxRetryDelayInMs, pauseMs);
    assert.equal(t.identity.retryOptions.maxRetryDelayInMs, pauseMs);
    assert.ok((t.keyVault.retryOptions?.maxRetryDelayInMs ?? Infinity) <= pauseMs);
    assert.deepEqual(
      t.keyVault.additionalPolicies?.map((p) => [p.policy.name, p.position]),
      [['entraUsersExportAttempt', 'perRetry']],
    );
  }
});
