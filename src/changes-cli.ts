/**
 * `npm run changes -- <olderRunId> <newerRunId> [--out FILE]`: the change report between two stored snapshots
 * (README "The change report"), with the export's storage settings. The report goes to stdout, or to FILE (then
 * stdout gets a one-line JSON summary); logs and errors go to stderr.
 * Exit codes as `npm run export`: 0 success, 2 arguments / configuration / permission, 1 any other failure.
 */
import { createWriteStream, openSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { compareSnapshots, findSnapshot, openSnapshots } from './compare-snapshots.js';
import { exportError } from './errors.js';
import { toExportError } from './export.js';
import { readStorageSettings } from './settings.js';

function parseArguments(argv: readonly string[]): { older: string; newer: string; out: string | undefined } {
  const positional: string[] = [];
  let out: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--out' || arg === '-o') {
      out = argv[++i];
      if (out === undefined || out === '') throw exportError('InvalidArguments', { kind: 'usage', problem: '--out needs a file name.' });
    } else if (arg.startsWith('--out=')) {
      out = arg.slice('--out='.length);
    } else if (arg.startsWith('-')) {
      throw exportError('InvalidArguments', { kind: 'usage', problem: `Unknown option '${arg}'.` });
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2)
    throw exportError('InvalidArguments', {
      kind: 'usage',
      problem: `Expected two runIds, the older snapshot's then the newer one's; got ${positional.length}.`,
    });
  return { older: positional[0]!, newer: positional[1]!, out };
}

/** Writes to the stream, waiting when it asks to. */
function writeTo(stream: NodeJS.WritableStream): (lines: Buffer) => Promise<void> {
  return (lines) =>
    new Promise<void>((resolve, reject) => {
      stream.write(lines, (e) => (e ? reject(e) : resolve()));
    });
}

async function main(): Promise<number> {
  let file: { stream: WriteStream; partial: string } | undefined;
  try {
    const args = parseArguments(process.argv.slice(2));
    const container = openSnapshots(readStorageSettings());
    const [older, newer] = await Promise.all([findSnapshot(container, args.older, 'older'), findSnapshot(container, args.newer, 'newer')]);
    if (args.out !== undefined) {
      // Written beside the target and renamed when complete: a failed comparison leaves no partial report.
      const partial = `${args.out}.partial-${process.pid}`;
      let fd: number;
      try {
        fd = openSync(partial, 'wx');
      } catch (e) {
        throw exportError('InvalidArguments', { kind: 'out', out: args.out, message: (e as Error).message });
      }
      const stream = createWriteStream('', { fd });
      // Write errors reach the write and end callbacks; this listener keeps them from also being thrown.
      stream.on('error', () => undefined);
      file = { stream, partial };
    }
    const warn = (m: string): void => void process.stderr.write(`warning: ${m}\n`);
    const result = await compareSnapshots(container, older, newer, writeTo(file?.stream ?? process.stdout), warn);
    const summary = {
      older: older.runId,
      newer: newer.runId,
      added: result.added,
      removed: result.removed,
      changed: result.changed,
      compared: result.compared,
    };
    if (file && args.out !== undefined) {
      const stream = file.stream;
      await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
      renameSync(file.partial, args.out);
      file = undefined;
      process.stdout.write(`${JSON.stringify({ ...summary, out: args.out })}\n`);
    } else {
      process.stderr.write(`${JSON.stringify(summary)}\n`);
    }
    return 0;
  } catch (e) {
    if (file) {
      file.stream.destroy();
      rmSync(file.partial, { force: true });
    }
    const error = toExportError(e);
    process.stderr.write(`entra-users-export: changes failed [${error.code}]: ${error.message}\n`);
    return error.exitCode;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
