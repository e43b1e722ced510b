/**
 * The change report through the real SDKs against Azurite and the simulated tenant, the product run as
 * `npm run export`: the first run, an unchanged tenant, an exact report against a previous snapshot that differs
 * in known ways (stored as an older version of the product stored it: json without an index, while this run is
 * ndjson + gzip), another select, no id, another tenant, a previous snapshot deleted, cut short, damaged or
 * replaced by a concurrent run — none of which fails the export — and atomicity when the run fails after the
 * report was written.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { ContainerClient } from '@azure/storage-blob';
import { startFaultProxy, type FaultProxy } from '../../stand-ins/fault-proxy/index.js';
import { startExportProcess } from '../../stand-ins/export-process.js';
import { expectedUsers } from '../../stand-ins/sim-tenant/users.js';
import { DEFAULTS } from '../../src/settings.js';
import {
  assertSnapshot,
  blobNames,
  containerState,
  download,
  runExport,
  startWorld,
  workingEnv,
  type World,
} from '../helpers/environment.js';

let world: World;
let proxy: FaultProxy;
const USERS = 2500;
before(async () => {
  world = await startWorld({ userCount: USERS });
  proxy = await startFaultProxy({ blobEndpoint: world.azurite.blobEndpoint });
});
after(async () => {
  await proxy?.close();
  await world?.close();
});

type Json = Record<string, unknown>;
const SELECT = DEFAULTS.USERS_SELECT.split(',');

/** A run that must succeed; returns its manifest (checked like every snapshot) and the container. */
async function exportOk(env: Record<string, string | undefined>): Promise<{ manifest: Json; container: ContainerClient }> {
  const result = await runExport(env);
  const { manifest } = await assertSnapshot(world, env, result);
  return { manifest, container: world.container(env['EXPORT_CONTAINER']!) };
}

function folderOf(manifest: Json): string {
  return String(manifest['blobName']).replace(/\/users\.[a-z.]+$/, '');
}

/** The report's lines, parsed, after checking the manifest's bytes/sha256 of it and that it is sorted by id. */
async function reportLines(container: ContainerClient, manifest: Json): Promise<Json[]> {
  const changes = manifest['changes'] as Json;
  assert.ok(!('skipped' in changes), `a report was written: ${JSON.stringify(changes)}`);
  const blobName = String(changes['blobName']);
  const gzip = manifest['compression'] === 'gzip';
  assert.equal(blobName, `${folderOf(manifest)}/changes.ndjson${gzip ? '.gz' : ''}`);
  const stored = await download(container, blobName);
  assert.equal(changes['bytes'], stored.length);
  assert.equal(changes['sha256'], createHash('sha256').update(stored).digest('hex'));
  const text = (gzip ? gunzipSync(stored) : stored).toString('utf8');
  if (text !== '') assert.ok(text.endsWith('\n'), 'each line ends with a newline');
  const lines = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Json);
  const ids = lines.map((l) => String(l['id']));
  assert.deepEqual(ids, [...ids].sort(), 'sorted by id');
  assert.equal(new Set(ids).size, ids.length, 'one line per id');
  assert.equal(changes['added'], lines.filter((l) => l['change'] === 'added').length);
  assert.equal(changes['removed'], lines.filter((l) => l['change'] === 'removed').length);
  assert.equal(changes['changed'], lines.filter((l) => l['change'] === 'changed').length);
  return lines;
}

async function assertSkipped(container: ContainerClient, manifest: Json, why: RegExp, index = true): Promise<void> {
  const changes = manifest['changes'] as Json;
  assert.deepEqual(Object.keys(changes), ['skipped'], JSON.stringify(changes));
  assert.match(String(changes['skipped']), why);
  const names = await blobNames(container);
  const folder = folderOf(manifest);
  assert.ok(!names.some((n) => n.startsWith(`${folder}/changes.ndjson`)), 'no changes.ndjson when skipped');
  assert.equal(names.includes(`${folder}/users.index`), index, `users.index ${index ? 'written' : 'not written'}`);
}

/**
 * Stores a snapshot the way the product stored them before the change report (no users.index) and points
 * latest.json at it. `lines` are the users' JSON texts as stored.
 */
async function plantSnapshot(
  container: ContainerClient,
  lines: string[],
  options: { tenantId: string; format?: 'json' | 'ndjson'; compression?: 'none' | 'gzip'; select?: string[] },
): Promise<Json> {
  const format = options.format ?? 'json';
  const compression = options.compression ?? 'none';
  const runId = '20260101T000000Z-00000001';
  const folder = `snapshots/2026/01/01/${runId}`;
  const blobName = `${folder}/users.${format}${compression === 'gzip' ? '.gz' : ''}`;
  const text = format === 'json' ? (lines.length === 0 ? '[]\n' : `[\n${lines.join(',\n')}\n]\n`) : lines.map((l) => `${l}\n`).join('');
  const stored = compression === 'gzip' ? gzipSync(text) : Buffer.from(text);
  await container.createIfNotExists();
  await container.getBlockBlobClient(blobName).uploadData(stored);
  const manifest = {
    runId,
    tenantId: options.tenantId,
    startedAt: '2026-01-01T00:00:00.000Z',
    completedAt: '2026-01-01T00:01:00.000Z',
    userCount: lines.length,
    blobName,
    format,
    compression,
    bytes: stored.length,
    sha256: createHash('sha256').update(stored).digest('hex'),
    select: (options.select ?? SELECT).join(','),
    filter: null,
  };
  const body = `${JSON.stringify(manifest, null, 2)}\n`;
  await container.getBlockBlobClient(`${folder}/manifest.json`).upload(body, Buffer.byteLength(body));
  await container.getBlockBlobClient('latest.json').upload(body, Buffer.byteLength(body));
  return manifest;
}

const tenantUsers = (select = SELECT): Json[] => [...expectedUsers({ seed: world.seed, userCount: USERS, select })];

test('first run: skipped with the reason and an index; then an unchanged tenant: an empty report', async () => {
  const env = workingEnv(world);
  const first = await exportOk(env);
  await assertSkipped(first.container, first.manifest, /no previous snapshot .*first run/);
  const second = await exportOk(env);
  const changes = second.manifest['changes'] as Json;
  assert.deepEqual(Object.keys(changes), ['previousRunId', 'added', 'removed', 'changed', 'blobName', 'bytes', 'sha256', 'compared']);
  assert.equal(changes['previousRunId'], first.manifest['runId']);
  assert.deepEqual(changes['compared'], SELECT);
  assert.deepEqual(await reportLines(second.container, second.manifest), []);
  assert.equal(changes['bytes'], 0, 'an unchanged tenant: the report exists and is empty');
  assert.deepEqual(JSON.parse((await download(second.container, 'latest.json')).toString()), second.manifest);
});

test('exact: joiners, leavers and changed properties against a previous snapshot of another format, stored without an index', async () => {
  const env = workingEnv(world, 'certificate-pfx', { EXPORT_FORMAT: 'ndjson', EXPORT_COMPRESSION: 'gzip' });
  const container = world.container(env['EXPORT_CONTAINER']!);
  const now = tenantUsers();
  const byIndex = (k: number): Json => now[k]!;
  // The previous snapshot: users 10-12 not there yet (joiners), two users since gone (leavers), and edits.
  const joiners = [10, 11, 12].map((k) => byIndex(k));
  const leavers = [
    { id: '00000000-0000-4000-8000-000000000001', displayName: 'Gone One', department: null },
    { id: 'ffffffff-0000-4000-8000-000000000002', displayName: 'Gone Two', userType: 'Guest' },
  ];
  const expectedChanges = new Map<string, Json>();
  const previous: string[] = [];
  for (const [k, user] of now.entries()) {
    if (k >= 10 && k <= 12) continue;
    const id = String(user['id']);
    const old = { ...user };
    if (k === 20) {
      old['department'] = 'Old Department';
      expectedChanges.set(id, { department: { old: 'Old Department', new: user['department'] ?? null } });
    } else if (k === 21) {
      old['mobilePhone'] = user['mobilePhone'] === null ? '+1 555 0100' : null;
      old['jobTitle'] = `${String(user['jobTitle'])} (acting)`;
      expectedChanges.set(id, {
        jobTitle: { old: old['jobTitle'], new: user['jobTitle'] ?? null },
        mobilePhone: { old: old['mobilePhone'], new: user['mobilePhone'] ?? null },
      });
    } else if (k === 22) {
      old['businessPhones'] = ['+1 555 0199', ...(user['businessPhones'] as unknown[])];
      old['accountEnabled'] = !user['accountEnabled'];
      expectedChanges.set(id, {
        businessPhones: { old: old['businessPhones'], new: user['businessPhones'] },
        accountEnabled: { old: old['accountEnabled'], new: user['accountEnabled'] },
      });
    } else if (k === 23) {
      // A property absent on one side counts as null: absent before and null now is no change; absent before
      // and set now is.
      const nullProperty = Object.keys(user).find((p) => user[p] === null && p !== 'id');
      const setProperty = Object.keys(user).find((p) => typeof user[p] === 'string' && p !== 'id')!;
      if (nullProperty) delete old[nullProperty];
      delete old[setProperty];
      expectedChanges.set(id, { [setProperty]: { old: null, new: user[setProperty] } });
    } else if (k === 24) {
      // Other bytes, the same values: not a change.
      previous.push(
        JSON.stringify(old)
          .replace(/"id":"/, '"id" : "')
          .replace(/,"displayName":"(.)/, (_m, c: string) => `,"displayName":"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
      );
      continue;
    }
    previous.push(JSON.stringify(old));
  }
  previous.splice(100, 0, ...leavers.map((l) => JSON.stringify(l)));
  const planted = await plantSnapshot(container, previous, { tenantId: env['GRAPH_TENANT_ID']! });

  // The listing also starts again from its first page once (an expired $skiptoken): nothing counts twice.
  world.sim.addFault({ target: 'graph', page: 1, fault: { kind: 'expire-skiptoken' } });
  const { manifest } = await exportOk(env);
  assert.equal(manifest['listingRestarts'], 1);
  const changes = manifest['changes'] as Json;
  assert.equal(changes['previousRunId'], planted['runId']);
  assert.deepEqual(changes['compared'], SELECT);
  const lines = await reportLines(container, manifest);
  const want: Json[] = [
    ...joiners.map((user) => ({ change: 'added', id: user['id'], user })),
    ...leavers.map((user) => ({ change: 'removed', id: user.id, user })),
    ...[...expectedChanges].map(([id, properties]) => ({ change: 'changed', id, changes: properties })),
  ].sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
  assert.deepEqual(lines, want);
  assert.deepEqual([changes['added'], changes['removed'], changes['changed']], [3, 2, 4]);
  // The report's values are the stored tokens: the changed user's properties are in the order compared.
  const text = gunzipSync(await download(container, String(changes['blobName']))).toString();
  const id20 = String(now[20]!['id']);
  assert.ok(
    text.includes(
      `{"change":"changed","id":"${id20}","changes":{"department":{"old":"Old Department","new":${JSON.stringify(now[20]!['department'])}}}}\n`,
    ),
    text,
  );
});

test('another select: the common properties are compared, and compared says which', async () => {
  const narrow = ['id', 'displayName', 'department', 'employeeId'];
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: narrow.join(',') });
  const first = await exportOk(env);
  const { manifest, container } = await exportOk({ ...env, USERS_SELECT: undefined });
  const changes = manifest['changes'] as Json;
  assert.equal(changes['previousRunId'], first.manifest['runId']);
  assert.deepEqual(changes['compared'], ['id', 'displayName', 'department']);
  assert.deepEqual(await reportLines(container, manifest), [], 'the same tenant: no common property differs');
});

test('id not selected: skipped, no index; the next run with id skips too (the previous has no id)', async () => {
  const env = workingEnv(world, 'certificate-pfx', { USERS_SELECT: 'displayName,mail' });
  const first = await exportOk(env);
  await assertSkipped(first.container, first.manifest, /USERS_SELECT does not include id/, false);
  const second = await exportOk({ ...env, USERS_SELECT: undefined });
  await assertSkipped(second.container, second.manifest, /previous snapshot .* does not include id/);
});

test('a previous snapshot of another tenant is not compared', async () => {
  const env = workingEnv(world);
  await plantSnapshot(
    world.container(env['EXPORT_CONTAINER']!),
    tenantUsers().map((u) => JSON.stringify(u)),
    { tenantId: '11111111-2222-3333-4444-555555555555' },
  );
  const { manifest, container } = await exportOk(env);
  await assertSkipped(container, manifest, /of another tenant \(11111111-2222-3333-4444-555555555555\)/);
});

test('a previous snapshot deleted, cut short, damaged or named by a broken latest.json: skipped, the export succeeds', async () => {
  const cases: { why: RegExp; breakIt: (container: ContainerClient, previous: Json) => Promise<void> }[] = [
    {
      why: /users file .* does not exist/,
      breakIt: async (c, p) => {
        await c.getBlobClient(String(p['blobName'])).delete();
      },
    },
    {
      why: /cut short/,
      breakIt: async (c, p) => {
        const stored = await download(c, String(p['blobName']));
        await c.getBlockBlobClient(String(p['blobName'])).uploadData(stored.subarray(0, stored.length - 100));
      },
    },
    {
      // The same size, other bytes, and no index to trust: found when the users file is read.
      why: /damaged|not the one its manifest describes/,
      breakIt: async (c, p) => {
        const stored = await download(c, String(p['blobName']));
        stored.write('XXXX', 5000);
        await c.getBlockBlobClient(String(p['blobName'])).uploadData(stored);
        await c.getBlobClient(`${folderOf(p)}/users.index`).delete();
      },
    },
    {
      why: /latest\.json is not JSON/,
      breakIt: async (c) => {
        await c.getBlockBlobClient('latest.json').upload('{"runId":', 9);
      },
    },
  ];
  for (const { why, breakIt } of cases) {
    const env = workingEnv(world);
    const first = await exportOk(env);
    await breakIt(first.container, first.manifest);
    const result = await runExport(env);
    const { manifest } = await assertSnapshot(world, env, result);
    await assertSkipped(first.container, manifest, why);
    assert.match(result.stderr, /The change report is skipped:/);
  }
});

test('a damaged users.index is not trusted: the index is rebuilt from the users file and the report is made', async () => {
  const env = workingEnv(world);
  const first = await exportOk(env);
  const indexName = `${folderOf(first.manifest)}/users.index`;
  const index = await download(first.container, indexName);
  index[index.length - 40]! ^= 0xff;
  await first.container.getBlockBlobClient(indexName).uploadData(index);
  const result = await runExport(env);
  assert.match(result.stderr, /users\.index cannot be used \(its checksum does not match/);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal((manifest['changes'] as Json)['previousRunId'], first.manifest['runId']);
  assert.deepEqual(await reportLines(first.container, manifest), []);
});

test('latest.json replaced by a concurrent run mid-run: the report compares with the snapshot named at the start', async () => {
  const env = workingEnv(world);
  const containerName = env['EXPORT_CONTAINER']!;
  const first = await exportOk(env);
  // The slow run goes through the proxy, which holds its users file's commit until the quick run is done.
  let release: () => void = () => undefined;
  const quickDone = new Promise<void>((resolve) => (release = resolve));
  proxy.addRule({ call: 'block-commit', container: containerName, fault: { kind: 'hold', until: quickDone } });
  let started = false;
  const slow = startExportProcess(
    { ...env, EXPORT_STORAGE: proxy.connectionString(world.azurite.connectionString) },
    { onStderr: (c) => (started ||= /Changes are reported against/.test(c)) },
  );
  try {
    while (!started) await new Promise((r) => setTimeout(r, 50));
    const quick = await exportOk(env);
    assert.equal((quick.manifest['changes'] as Json)['previousRunId'], first.manifest['runId']);
    assert.equal(
      JSON.parse((await download(first.container, 'latest.json')).toString())['runId'],
      quick.manifest['runId'],
      'latest.json moved on mid-run',
    );
  } finally {
    release();
  }
  const result = await slow.done;
  proxy.clearRules(containerName);
  const { manifest } = await assertSnapshot(world, env, result);
  assert.equal(
    (manifest['changes'] as Json)['previousRunId'],
    first.manifest['runId'],
    'compared with the snapshot latest.json named when it started',
  );
  assert.deepEqual(await reportLines(first.container, manifest), []);
});

test('a run failing after its report was written leaves no changes.ndjson and no index behind', async () => {
  const env = workingEnv(world);
  const container = world.container(env['EXPORT_CONTAINER']!);
  await exportOk(env);
  const before = await containerState(container);
  proxy.addRule({
    call: 'manifest-put',
    container: env['EXPORT_CONTAINER']!,
    times: Infinity,
    fault: { kind: 'status', status: 403, code: 'AuthorizationPermissionMismatch' },
  });
  try {
    const result = await runExport({ ...env, EXPORT_STORAGE: proxy.connectionString(world.azurite.connectionString) });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /manifest\.json/);
  } finally {
    proxy.clearRules(env['EXPORT_CONTAINER']);
  }
  assert.deepEqual(await containerState(container), before, 'nothing of the failed run is left: no users file, index, report or manifest');
});
