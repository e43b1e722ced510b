/**
 * The egress log's record, shared by its writer (egress-recorder.ts, preloaded into the export process) and
 * its reader (harness.ts). Side-effect free: unlike egress-recorder.ts, which patches node:http and
 * node:https `request` as soon as it is loaded, importing this module changes nothing.
 */
import fs from 'node:fs';

/** One HTTP(S) request of the export process: one JSON line of the file named by RELIABILITY_EGRESS_LOG. */
export interface EgressRecord {
  scheme: string;
  host: string;
  port: string;
  method: string;
  /** Without the query. */
  path: string;
  /** The Authorization scheme (e.g. 'Bearer'), never its value. */
  auth: string | undefined;
  /** The audience of a bearer token (JWT), when it has one. */
  aud?: string;
  /** The bearer token itself, so that the suite can look for it in logs and blobs. */
  token?: string;
}

/** Reads a run's egress log and deletes it (it holds bearer tokens); [] when the run wrote none. */
export function readEgress(file: string): EgressRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
    fs.rmSync(file, { force: true });
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EgressRecord);
}
