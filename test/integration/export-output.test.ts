/** Output layout and content: several pages, $select/$filter, json, ndjson, gzip. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertSnapshot, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 3210 });
});
after(async () => world?.close());

test('json: every user of several pages, one array', async () => {
  const env = workingEnv(world);
  const result = await runExport(env);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(manifest['pages'], 4);
  assert.equal(manifest['userCount'], 3210);
  assert.equal(result.summary?.['userCount'], 3210);
});

test('ndjson with gzip', async () => {
  const env = workingEnv(world, 'certificate-pfx', { EXPORT_FORMAT: 'ndjson', EXPORT_COMPRESSION: 'gzip' });
  const result = await runExport(env);
  await assertSnapshot(world, env, result);
  assert.match(String(result.summary?.['blobName']), /users\.ndjson\.gz$/);
});

test('json with gzip', async () => {
  const env = workingEnv(world, 'certificate-pfx', { EXPORT_COMPRESSION: 'gzip' });
  await assertSnapshot(world, env, await runExport(env));
});

test('ndjson without compression', async () => {
  const env = workingEnv(world, 'certificate-pfx', { EXPORT_FORMAT: 'ndjson' });
  await assertSnapshot(world, env, await runExport(env));
});

test('USERS_SELECT and USERS_FILTER are passed to Graph', async () => {
  const env = workingEnv(world, 'certificate-pfx', {
    USERS_SELECT: 'id,displayName,accountEnabled,userType',
    USERS_FILTER: "userType eq 'Guest'",
  });
  const result = await runExport(env);
  const { users } = await assertSnapshot(world, env, result);
  assert.ok(users.length > 0 && users.length < 3210, `the filter keeps some users (${users.length})`);
  for (const user of users) {
    assert.deepEqual(Object.keys(user).sort(), ['accountEnabled', 'displayName', 'id', 'userType']);
    assert.equal(user['userType'], 'Guest');
  }
});

test('a filter that matches nobody gives an empty, valid snapshot', async () => {
  const env = workingEnv(world, 'certificate-pfx', { USERS_FILTER: "startswith(displayName,'zzzzzzzz')" });
  const { users, manifest } = await assertSnapshot(world, env, await runExport(env));
  assert.equal(users.length, 0);
  assert.equal(manifest['userCount'], 0);
});

test('a second run adds a snapshot and moves latest.json to it', async () => {
  const env = workingEnv(world);
  const first = await runExport(env);
  assert.equal(first.code, 0, first.stderr);
  const second = await runExport(env);
  const { manifest } = await assertSnapshot(world, env, second);
  assert.notEqual(manifest['runId'], first.summary?.['runId']);
});
