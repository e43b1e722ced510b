/**
 * `npm run demo`: the whole export on this machine, no Azure account.
 *
 * Starts Azurite (in memory) and the local simulated tenant (Entra token endpoint, managed-identity
 * endpoint, Key Vault behind an HTTPS proxy, Graph), registers a demo app whose certificate sits in the
 * simulated Key Vault, runs `npm run export`'s entry point against them — the same runExport() the timer
 * function calls — then prints the summary, saves a local copy of the snapshot under .demo/, checks its
 * SHA-256, and shuts everything down.
 *
 * Options: --users N (default 5000), --latency MS per Graph page (default 20), --format json|ndjson,
 * --gzip, --credential certificate|secret|federated (default certificate: a PFX in Key Vault; federated is
 * secretless — the app trusts the function's user-assigned identity, and nothing is read from Key Vault).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../stand-ins/azurite/index.js';
import { runExportProcess } from '../stand-ins/export-process.js';
import { setupDemoApp, type DemoApp } from '../stand-ins/sim-tenant/demo-app.js';
import { startSimTenant, type SimTenant } from '../stand-ins/sim-tenant/index.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '5000' },
      latency: { type: 'string', default: '20' },
      format: { type: 'string', default: 'json' },
      gzip: { type: 'boolean', default: false },
      credential: { type: 'string', default: 'certificate' },
    },
  });
  const credentials = { certificate: 'certificate-pfx', secret: 'secret', federated: 'federated' } as const;
  if (!(values.credential in credentials)) throw new Error(`--credential must be one of ${Object.keys(credentials).join(', ')}`);
  const credential = credentials[values.credential as keyof typeof credentials];
  const userCount = Number(values.users);
  const say = (line = ''): void => void process.stdout.write(`${line}\n`);
  let azurite: Azurite | undefined;
  let sim: SimTenant | undefined;
  try {
    say('entra-users-export demo — everything runs locally; nothing reaches Azure.');
    say();
    const started = await Promise.allSettled([startAzurite(), startSimTenant({ userCount, pageLatencyMs: Number(values.latency), seed: 1 })]);
    azurite = started[0].status === 'fulfilled' ? started[0].value : undefined;
    sim = started[1].status === 'fulfilled' ? started[1].value : undefined;
    if (!azurite || !sim) {
      throw new Error(started.map((s) => (s.status === 'rejected' ? String(s.reason) : '')).filter(Boolean).join('; '));
    }
    const storage = azurite;
    const app = setupDemoApp(sim, { credential });
    say(`  Azurite (Blob Storage, in memory)   ${azurite.blobEndpoint}`);
    say(`  Simulated Entra ID authority        ${sim.authorityHost}  (tenant ${sim.tenantId})`);
    say(`  Simulated Microsoft Graph           ${sim.graphEndpoint}  (${userCount} users)`);
    say(`  Simulated Key Vault                 ${sim.vaultUrl}  (via HTTPS proxy ${sim.proxyUrl})`);
    say(`  Simulated managed identity          ${sim.identityEndpoint}`);
    say(`  Demo app                            ${app.clientId}, ${demoCredential(app)}`);
    say();
    say('Running the export (npm run export, the timer function\'s code path):');

    const container = 'user-exports';
    const env: Record<string, string> = {
      ...sim.env(),
      ...app.env,
      EXPORT_STORAGE: storage.connectionString,
      EXPORT_CONTAINER: container,
      EXPORT_FORMAT: values.format,
      EXPORT_COMPRESSION: values.gzip ? 'gzip' : 'none',
    };
    // Secretless runs without a vault, as such a deployment is configured.
    if (credential === 'federated') delete env['KEY_VAULT_URL'];
    const result = await runExportProcess(env, { onStderr: (chunk) => process.stdout.write(chunk.replace(/^(?=.)/gm, '  | ')) });
    if (result.code !== 0 || !result.summary) {
      say();
      say(`The export failed (exit code ${result.code}). Its error is above.`);
      return 1;
    }
    const summary = result.summary as { runId: string; userCount: number; blobName: string; sha256: string; bytes: number };
    say();
    say('Summary (the line `npm run export` prints):');
    say(`  ${JSON.stringify(summary)}`);

    // A local copy of the snapshot, checked against its manifest.
    const service = BlobServiceClient.fromConnectionString(storage.connectionString);
    const containerClient = service.getContainerClient(container);
    const users = await containerClient.getBlobClient(summary.blobName).downloadToBuffer();
    const manifestName = summary.blobName.replace(/users\.[a-z.]+$/, 'manifest.json');
    const manifest = await containerClient.getBlobClient(manifestName).downloadToBuffer();
    const latest = await containerClient.getBlobClient('latest.json').downloadToBuffer();
    const sha256 = createHash('sha256').update(users).digest('hex');
    const localDir = path.resolve('.demo', summary.runId);
    mkdirSync(localDir, { recursive: true });
    writeFileSync(path.join(localDir, path.basename(summary.blobName)), users);
    writeFileSync(path.join(localDir, 'manifest.json'), manifest);
    writeFileSync(path.join(localDir, 'latest.json'), latest);

    say();
    say('Where to look:');
    say(`  in Blob Storage  ${container}/${summary.blobName}`);
    say(`                   ${container}/${manifestName}`);
    say(`                   ${container}/latest.json  (names run ${(JSON.parse(latest.toString()) as { runId: string }).runId})`);
    say(`  local copy       ${path.relative(process.cwd(), localDir)}/`);
    say();
    const ok = sha256 === summary.sha256 && summary.userCount === userCount && users.length === summary.bytes;
    say(`Checked: ${summary.userCount} of the demo tenant's ${userCount} users, ${users.length} bytes, sha256 ${sha256 === summary.sha256 ? 'matches' : 'DOES NOT match'} the manifest.`);
    return ok ? 0 : 1;
  } finally {
    await Promise.allSettled([azurite?.stop(), sim?.close()]);
  }
}

/** How the demo app holds its credential, for the banner. */
function demoCredential(app: DemoApp): string {
  if (app.env['GRAPH_FEDERATED_IDENTITY_CLIENT_ID']) {
    return `secretless: trusts managed identity ${app.env['GRAPH_FEDERATED_IDENTITY_CLIENT_ID']} (federated identity credential), no Key Vault`;
  }
  if (app.env['GRAPH_CLIENT_SECRET_NAME']) return `client secret '${app.env['GRAPH_CLIENT_SECRET_NAME']}' in Key Vault`;
  return `certificate '${app.env['GRAPH_CLIENT_CERTIFICATE_NAME']}' in Key Vault (PFX)`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
