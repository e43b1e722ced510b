/** The timer function's handler: same export, logs isPastDue, throws on failure. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runExportProcess } from '../../stand-ins/export-process.js';
import { blobNames, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 1100 });
});
after(async () => world?.close());

const fixture = path.join(__dirname, '..', 'fixtures', 'run-timer-handler.js');

interface HandlerOutcome {
  logs: Array<{ level: string; message: string }>;
  threw?: { name: string; code: unknown; message: string };
}

async function invoke(env: Record<string, string | undefined>): Promise<HandlerOutcome> {
  const result = await runExportProcess(env, { script: fixture });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as HandlerOutcome;
}

test('a timer invocation exports the tenant and logs isPastDue', async () => {
  const env = workingEnv(world, 'certificate-pfx', { TEST_IS_PAST_DUE: 'true' });
  const outcome = await invoke(env);
  assert.equal(outcome.threw, undefined, JSON.stringify(outcome));
  assert.ok(outcome.logs.some((l) => /isPastDue: true/.test(l.message)));
  assert.ok(outcome.logs.some((l) => /Export completed: run .*1100 users/.test(l.message)));
  const names = await blobNames(world.container(env['EXPORT_CONTAINER']!));
  // latest.json, the manifest, the users and their index (a first run has no change report).
  assert.equal(names.length, 4, names.join(', '));
});

test('a failed invocation throws, so the run is recorded as failed and retried', async () => {
  const env = workingEnv(world, 'certificate-pfx', { GRAPH_CLIENT_CERTIFICATE_NAME: 'missing-cert' });
  const outcome = await invoke(env);
  assert.ok(outcome.threw, 'the handler throws');
  assert.equal(outcome.threw.code, 'KeyVaultNotFound');
  assert.match(outcome.threw.message, /has no certificate 'missing-cert'/);
  assert.ok(outcome.logs.some((l) => l.level === 'error' && /Export failed \[KeyVaultNotFound\]/.test(l.message)));
  assert.deepEqual(await blobNames(world.container(env['EXPORT_CONTAINER']!)), []);
});

test("a timer invocation in federated mode: the identity's token is the credential, no Key Vault read", async () => {
  const env = workingEnv(world, 'federated');
  const before = { keyvault: world.sim.stats.keyvault, federated: world.sim.stats.federatedTokensIssued };
  const outcome = await invoke(env);
  assert.equal(outcome.threw, undefined, JSON.stringify(outcome));
  assert.ok(
    outcome.logs.some((l) => l.message.includes(`federated credential: managed identity ${env['GRAPH_FEDERATED_IDENTITY_CLIENT_ID']}`)),
  );
  assert.ok(outcome.logs.some((l) => /Export completed: run .*1100 users/.test(l.message)));
  assert.equal(world.sim.stats.keyvault, before.keyvault, 'nothing read from Key Vault');
  assert.equal(world.sim.stats.federatedTokensIssued - before.federated, 1);
  assert.equal((await blobNames(world.container(env['EXPORT_CONTAINER']!))).length, 4); // users, users.index, manifest, latest.json
});

test('a timer invocation in federated mode with a credential the app does not trust throws the AADSTS advice', async () => {
  const env = workingEnv(world, 'federated', { GRAPH_CLIENT_ID: world.sim.addApp({ displayName: 'no-fic' }).clientId });
  const outcome = await invoke(env);
  assert.equal(outcome.threw?.code, 'TokenRequestRejected');
  assert.match(outcome.threw.message, /AADSTS700211: app .* has no federated identity credential matching the token of managed identity/);
  assert.ok(outcome.logs.some((l) => l.level === 'error' && /Export failed \[TokenRequestRejected\]/.test(l.message)));
  assert.deepEqual(await blobNames(world.container(env['EXPORT_CONTAINER']!)), []);
});
