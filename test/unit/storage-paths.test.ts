import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRunId } from '../../src/export.js';
import { snapshotPaths } from '../../src/storage.js';
import { firstPageUrl } from '../../src/graph.js';

test('snapshot layout follows README "Output"', () => {
  const started = new Date('2026-03-04T05:06:07.890Z');
  const runId = newRunId(started);
  assert.match(runId, /^20260304T050607Z-[0-9a-f]{8}$/);
  assert.notEqual(newRunId(started), runId, 'run IDs are unique');
  assert.deepEqual(snapshotPaths(runId, started, 'json', 'none'), {
    folder: `snapshots/2026/03/04/${runId}`,
    usersBlob: `snapshots/2026/03/04/${runId}/users.json`,
    manifestBlob: `snapshots/2026/03/04/${runId}/manifest.json`,
  });
  assert.equal(snapshotPaths(runId, started, 'ndjson', 'gzip').usersBlob, `snapshots/2026/03/04/${runId}/users.ndjson.gz`);
  assert.equal(snapshotPaths(runId, started, 'json', 'gzip').usersBlob, `snapshots/2026/03/04/${runId}/users.json.gz`);
});

test('the first Graph page asks for $select, $filter and $top=999', () => {
  const url = new URL(firstPageUrl('https://graph.microsoft.us', ['id', 'displayName'], "userType eq 'Guest'"));
  assert.equal(url.origin + url.pathname, 'https://graph.microsoft.us/v1.0/users');
  assert.equal(url.searchParams.get('$select'), 'id,displayName');
  assert.equal(url.searchParams.get('$filter'), "userType eq 'Guest'");
  assert.equal(url.searchParams.get('$top'), '999');
  assert.equal(new URL(firstPageUrl('https://graph.microsoft.com', ['id'], undefined)).searchParams.has('$filter'), false);
});
