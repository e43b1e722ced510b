/**
 * Starts Azurite's blob service as a child process (in memory, on a free loopback port) for the demo,
 * the tests and the benchmark, and stops it without leaving a process behind. Requests that Azure Storage
 * refuses but Azurite would accept are refused as Azure does (stand-ins/azurite/strict.ts).
 *
 * The port is chosen by Azurite itself (--blobPort 0) and read back from its start-up line: probing for a
 * free port here and handing it over would leave a window in which another process (a parallel test file,
 * an outgoing connection's ephemeral port) takes it, and Azurite would then fail with EADDRINUSE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Azurite's well-known development account (public, documented; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  blobEndpoint: string;
  connectionString: string;
  /** The Azurite process (e.g. for a benchmark to read its CPU time). */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** Default 0: Azurite binds any free port and reports it. */
  port?: number;
  /** Extra command-line options (e.g. --oauth basic --cert --key). */
  args?: string[];
  protocol?: 'http' | 'https';
}

/**
 * Azurite's start-up line, printed once its server listens: `Azurite Blob service successfully listens on
 * http://127.0.0.1:41234` — the address is the bound one, so port 0 resolves to the real port (Azurite
 * 3.35 src/blob/main.ts and src/common/ServerBase.ts getHttpServerAddress(): "when port is 0, system will select a rand port
 * number for listening. This method will return the port and address being used.").
 */
const LISTENING = /successfully listens on https?:\/\/[^\s]*:(\d+)/i;

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  // Azurite's blob service, answering as Azure Storage where Azurite is more lenient (see azurite-strict.ts);
  // it prints Azurite's own start-up line with the bound address.
  const main = path.join(__dirname, 'strict.js');
  // In memory mode Azurite still wants a working directory: a temporary one keeps files out of the repo.
  const workspace = mkdtempSync(path.join(tmpdir(), 'azurite-'));
  const child = spawn(
    process.execPath,
    // The IPC channel and exit-with-parent: Azurite ends with this process, even when it is killed.
    [
      '--require',
      path.join(__dirname, 'exit-with-parent.js'),
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(options.port ?? 0),
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: workspace },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < 10_000) output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const stop = (): Promise<void> => stopChild(child).finally(() => rmSync(workspace, { recursive: true, force: true }));
  let port: number;
  try {
    // Only ends a start that hangs: on a busy 2-core machine Azurite took over 20 s to load and listen.
    await waitFor(() => LISTENING.test(output), child, 120_000);
    port = Number(LISTENING.exec(output)![1]);
  } catch (e) {
    await stop();
    throw new Error(`Azurite did not start: ${e instanceof Error ? e.message : String(e)}\n${output}`, { cause: e });
  }
  const protocol = options.protocol ?? 'http';
  const blobEndpoint = `${protocol}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=${protocol};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    pid: child.pid,
    stop,
  };
}

async function waitFor(ready: () => boolean, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, then SIGKILL after a grace period: Azurite does not always exit on SIGTERM. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
