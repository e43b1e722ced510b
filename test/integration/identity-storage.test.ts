/**
 * Identity-based export storage (EXPORT_STORAGE__blobServiceUri): the managed identity's token for
 * https://storage.azure.com is sent to Azurite running with OAuth (HTTPS, `--oauth basic`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startAzurite, type Azurite } from '../../stand-ins/azurite/index.js';
import { createCa } from '../../stand-ins/sim-tenant/certs.js';
import { setupDemoApp } from '../../stand-ins/sim-tenant/demo-app.js';
import { startSimTenant, type SimTenant } from '../../stand-ins/sim-tenant/index.js';
import { runExportProcess } from '../../stand-ins/export-process.js';

const LIST_BLOBS = `
const { BlobServiceClient } = require('@azure/storage-blob');
(async () => {
  const names = [];
  for await (const b of BlobServiceClient.fromConnectionString(process.argv[1]).getContainerClient(process.argv[2]).listBlobsFlat()) names.push(b.name);
  process.stdout.write(JSON.stringify(names));
})();`;

let sim: SimTenant;
/** The sim's request log (`<service> METHOD path?query status ms`, with resource= and client_id= values). */
const simLog: string[] = [];
let azurite: Azurite;
let dir: string;
let caBundle: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'identity-storage-'));
  const ca = createCa('Azurite test CA');
  const server = ca.issue({ commonName: '127.0.0.1', altNames: ['127.0.0.1', 'localhost'] });
  writeFileSync(path.join(dir, 'cert.pem'), server.certPem);
  writeFileSync(path.join(dir, 'key.pem'), server.keyPem, { mode: 0o600 });
  sim = await startSimTenant({ userCount: 1000, seed: 3, log: (line) => simLog.push(line) });
  azurite = await startAzurite({
    protocol: 'https',
    args: ['--oauth', 'basic', '--cert', path.join(dir, 'cert.pem'), '--key', path.join(dir, 'key.pem')],
  });
  caBundle = path.join(dir, 'ca.pem');
  writeFileSync(caBundle, `${sim.caCertPem}\n${ca.certPem}\n`);
});
after(async () => {
  await Promise.allSettled([sim?.close(), azurite?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

test('the snapshot is written with the managed identity, no key or connection string', async () => {
  sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId);
  const app = setupDemoApp(sim, { credential: 'certificate-pem' });
  const logged = simLog.length;
  const result = await runExportProcess({
    ...sim.env(),
    ...app.env,
    NODE_EXTRA_CA_CERTS: caBundle,
    EXPORT_STORAGE__blobServiceUri: azurite.blobEndpoint,
    EXPORT_CONTAINER: 'identity-exports',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.summary?.['userCount'], 1000);
  // Key Vault's token alone is one managed-identity request: Storage's must be there too, for its audience.
  const tokens = simLog.slice(logged).filter((l) => l.startsWith('msi ') && / 200 \d+ms$/.test(l));
  const forResource = (resource: string): string[] =>
    tokens.filter((l) => new URL(l.split(' ')[2]!, 'http://msi.invalid').searchParams.get('resource')?.replace(/\/$/, '') === resource);
  assert.ok(forResource('https://vault.azure.net').length >= 1, `a managed-identity token for Key Vault:\n${tokens.join('\n')}`);
  assert.ok(forResource('https://storage.azure.com').length >= 1, `a managed-identity token for Storage:\n${tokens.join('\n')}`);
  // Read back with the shared key (Azurite accepts both) in a process that trusts the test CA.
  const list = spawnSync(process.execPath, ['-e', LIST_BLOBS, azurite.connectionString, 'identity-exports'], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caBundle },
    encoding: 'utf8',
  });
  assert.equal(list.status, 0, list.stderr);
  const names = JSON.parse(list.stdout) as string[];
  // latest.json, the manifest, the users and their index (a first run has no change report).
  assert.equal(names.length, 4, names.join(', '));
  assert.ok(names.includes('latest.json'));
});
