/**
 * Runs a simulated tenant until SIGINT/SIGTERM, with one demo app whose certificate is in the simulated Key Vault.
 *
 *   node dist/stand-ins/sim-tenant/cli.js [--users N] [--latency MS] [--seed S] [--admin-port P] [--verbose]
 *   node dist/stand-ins/sim-tenant/cli.js --users 5000 > sim.env &   # then, in the same shell: . ./sim.env
 *
 * stdout carries only `export NAME='value'` lines (so it can be sourced); the request log, with --verbose,
 * goes to stderr. Between two runs of the export, change the tenant through its admin endpoint (admin.ts):
 *
 *   curl -X POST "$SIM_TENANT_ADMIN_URL/changes" -d '{"joiners":10,"leavers":5,"edits":20,"renames":5,"nulls":5}'
 */
import { parseArgs } from 'node:util';
import { startAdminServer } from './admin.js';
import { setupDemoApp } from './demo-app.js';
import { startSimTenant } from './index.js';

const shellQuote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;

function intOption(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`sim-tenant: --${name} must be an integer >= ${min}, not '${text}'\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '1000' },
      latency: { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      'admin-port': { type: 'string', default: '0' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const log = values.verbose ? (line: string): void => void process.stderr.write(`${line}\n`) : undefined;
  const adminPort = intOption('admin-port', values['admin-port'], 0);
  const sim = await startSimTenant({
    userCount: intOption('users', values.users, 0),
    pageLatencyMs: intOption('latency', values.latency, 0),
    seed: intOption('seed', values.seed, 0),
    ...(log !== undefined ? { log } : {}),
  });
  const admin = await startAdminServer(sim, adminPort, log);
  const app = setupDemoApp(sim, { credential: 'certificate-pfx', secretName: 'graph-export-cert' });
  const env = { ...sim.env(), ...app.env, SIM_TENANT_ADMIN_URL: admin.url };
  for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
  process.stderr.write(`sim-tenant: tenant ${sim.tenantId} with ${values.users} users is running; Ctrl-C to stop.\n`);
  process.stderr.write(
    `sim-tenant: change it between runs: curl -X POST ${admin.url}/changes -d '{"joiners":10,"leavers":5,"edits":20,"renames":5,"nulls":5}'\n`,
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`sim-tenant: ${signal}, closing\n`);
    Promise.all([admin.close(), sim.close()]).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`sim-tenant: close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`sim-tenant: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
