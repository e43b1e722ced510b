/**
 * Runs `npm run export`'s entry point (dist/bin/cli.js, the bundled CLI) as a child process with a given environment —
 * the way the demo, the tests and the benchmark drive the product: each run in a fresh process, as the
 * identity library caches its managed-identity endpoint per process and NODE_EXTRA_CA_CERTS is read at
 * start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface ExportProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The parsed one-line JSON summary when the run succeeded. */
  summary: Record<string, unknown> | undefined;
  wallMs: number;
}

/** The CLI as `npm run export` runs it: the esbuild bundle of src/cli.ts (tools/build/bundle.mjs). */
export const CLI_PATH = path.resolve(__dirname, '..', 'bin', 'cli.js');

/** Variables that would change which identity or endpoints the product uses: never inherited. */
const ISOLATED = /^(AZURE_|GRAPH_|KEY_VAULT_|USERS_|EXPORT_|IDENTITY_|MSI_|IMDS_|HTTPS?_PROXY|NO_PROXY|NODE_EXTRA_CA_CERTS)/i;

export function exportEnv(env: Record<string, string | undefined>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !ISOLATED.test(k)) base[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  return base;
}

export interface ExportProcessOptions {
  timeoutMs?: number;
  onStderr?: (chunk: string) => void;
  /** Node options before the script, e.g. ['--require', hook]. */
  execArgv?: string[];
  /** Another entry point than the CLI (a fixture that calls the timer handler). */
  script?: string;
  cwd?: string;
}

/** Starts one run; `done` resolves when the process is gone (exit, failure, timeout or a kill by the caller). */
export function startExportProcess(
  env: Record<string, string | undefined>,
  options: ExportProcessOptions = {},
): { child: ChildProcess; done: Promise<ExportProcessResult> } {
  const started = Date.now();
  const child = spawn(process.execPath, [...(options.execArgv ?? []), options.script ?? CLI_PATH], {
    env: exportEnv(env),
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    options.onStderr?.(c.toString());
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const done = new Promise<ExportProcessResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, summary: code === 0 ? summaryLine(stdout) : undefined, wallMs: Date.now() - started });
    });
  });
  return { child, done };
}

export function runExportProcess(
  env: Record<string, string | undefined>,
  options: ExportProcessOptions = {},
): Promise<ExportProcessResult> {
  return startExportProcess(env, options).done;
}

/** The one-line JSON summary: the last line of stdout. */
function summaryLine(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').pop();
  if (!line) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
