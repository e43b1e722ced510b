/**
 * `npm run export`: one run from the command line, through the same code path as the timer function.
 * stdout gets one line of JSON (the manifest) on success; logs and errors go to stderr.
 * Exit codes: 0 success, 2 configuration / permission / credential problem, 1 any other failure.
 */
import { runExport, toExportError, type Logger } from './export.js';

const log: Logger = {
  info: (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`),
  warn: (m) => process.stderr.write(`${new Date().toISOString()} warning: ${m}\n`),
  error: (m) => process.stderr.write(`${new Date().toISOString()} error: ${m}\n`),
};

async function main(): Promise<number> {
  try {
    const manifest = await runExport({ log });
    process.stdout.write(`${JSON.stringify(manifest)}\n`);
    return 0;
  } catch (e) {
    const error = toExportError(e);
    process.stderr.write(`entra-users-export: export failed [${error.code}]: ${error.message}\n`);
    return error.exitCode;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
