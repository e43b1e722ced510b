/**
 * Runs a simulated tenant until SIGINT/SIGTERM, with one demo app whose certificate is in the simulated Key Vault.
 *
 *   node dist/stand-ins/sim-tenant/cli.js [--users N] [--latency MS] [--seed S] [--verbose]
 *   node dist/stand-ins/sim-tenant/cli.js --users 5000 > sim.env &   # then, in the same shell: . ./sim.env
 *
 * stdout carries only `export NAME='value'` lines (so it can be sourced); the request log, with --verbose,
 * goes to stderr.
 */
import { parseArgs } from 'node:util';
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
      verbose: { type: 'boolean', default: false },
    },
  });
  const sim = await startSimTenant({
    userCount: intOption('users', values.users, 0),
    pageLatencyMs: intOption('latency', values.latency, 0),
    seed: intOption('seed', values.seed, 0),
    ...(values.verbose ? { log: (line: string) => void process.stderr.write(`${line}\n`) } : {}),
  });
  const app = setupDemoApp(sim, { credential: 'certificate-pfx', secretName: 'graph-export-cert' });
  const env = { ...sim.env(), ...app.env };
  for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
  process.stderr.write(`sim-tenant: tenant ${sim.tenantId} with ${values.users} users is running; Ctrl-C to stop.\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`sim-tenant: ${signal}, closing\n`);
    sim.close().then(
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
