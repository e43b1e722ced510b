/**
 * Token and secret hygiene over everything the suite ran: bearer tokens only ever went to the host of their
 * audience (Graph tokens to GRAPH_ENDPOINT, Key Vault tokens to the vault), and no secret value, private key,
 * client assertion or access token appears in any output, in any blob, or in any file the export processes
 * could have written (their TMPDIR, HOME and working directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ReliabilitySuite } from './harness.js';

export interface Finding {
  where: string;
  what: string;
}

/** Shapes that are credentials whatever their value. */
export const CREDENTIAL_PATTERNS: ReadonlyArray<[string, RegExp]> = [
  ['a JWT (access token or client assertion)', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/],
  ['a PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['a client assertion or secret form field', /client_assertion=|client_secret=/],
  ['a storage account key', /AccountKey=[A-Za-z0-9+/]{20,}/],
  ['a SharedKey signature', /SharedKey [A-Za-z0-9]+:[A-Za-z0-9+/=]{20,}/],
];

/**
 * Every place `text` contains a collected secret or a credential shape. `bulk` skips the issued tokens'
 * exact values (hundreds of them; on megabytes of blobs) — any of them would match the JWT shape anyway.
 */
export function findSecrets(suite: ReliabilitySuite, where: string, text: string, options: { bulk?: boolean } = {}): Finding[] {
  const found: Finding[] = [];
  for (const [label, value] of suite.secrets) {
    if (options.bulk && label.startsWith('bearer token')) continue;
    if (value.length >= 16 && text.includes(value)) found.push({ where, what: label });
  }
  for (const [label, pattern] of CREDENTIAL_PATTERNS) {
    if (pattern.test(text)) found.push({ where, what: label });
  }
  return found;
}

export function scanOutputs(suite: ReliabilitySuite): Finding[] {
  return suite.outputs.flatMap((o) => [
    ...findSecrets(suite, `${o.label} (stdout)`, o.stdout),
    ...findSecrets(suite, `${o.label} (stderr)`, o.stderr),
  ]);
}

/** Bearer tokens sent anywhere but their audience's host (and any request to a foreign nextLink host). */
export function misdirectedTokens(suite: ReliabilitySuite, graphEndpoints: readonly string[]): { bearer: number; findings: Finding[] } {
  const findings: Finding[] = [];
  let bearer = 0;
  const graphs = new Map(graphEndpoints.map((e) => [e.replace(/\/+$/, '').toLowerCase(), new URL(e)]));
  for (const r of suite.egress) {
    if (r.host.includes('evil')) findings.push({ where: r.label, what: `a request to the foreign host ${r.host}` });
    if (r.auth?.toLowerCase() !== 'bearer') continue;
    bearer += 1;
    const aud = (r.aud ?? '').replace(/\/+$/, '').toLowerCase();
    const graph = graphs.get(aud);
    if (graph) {
      if (r.scheme !== 'https' || r.host !== graph.hostname || r.port !== graph.port)
        findings.push({ where: r.label, what: `a Graph token sent to ${r.scheme}://${r.host}:${r.port}` });
    } else if (aud === 'https://vault.azure.net') {
      if (r.scheme !== 'https' || !r.host.endsWith('.vault.azure.net'))
        findings.push({ where: r.label, what: `a Key Vault token sent to ${r.scheme}://${r.host}:${r.port}` });
    } else {
      findings.push({ where: r.label, what: `a bearer token for '${r.aud ?? 'unknown'}' sent to ${r.host}` });
    }
  }
  return { bearer, findings };
}

/** Every file under the export processes' TMPDIR, HOME and cwd, with what it holds. */
export function scanProductDirs(suite: ReliabilitySuite): { files: string[]; findings: Finding[] } {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  for (const dir of Object.values(suite.productDirs)) walk(dir);
  const findings = files.flatMap((f) => findSecrets(suite, f, fs.readFileSync(f).toString('latin1')));
  return { files, findings };
}

/** Every blob in every container of the suite's Azurite. */
export async function scanBlobs(suite: ReliabilitySuite): Promise<{ blobs: number; findings: Finding[] }> {
  const findings: Finding[] = [];
  let blobs = 0;
  for await (const container of suite.service.listContainers()) {
    const client = suite.service.getContainerClient(container.name);
    for await (const blob of client.listBlobsFlat()) {
      blobs += 1;
      const data = await client.getBlobClient(blob.name).downloadToBuffer();
      const text = blob.name.endsWith('.gz') ? (await import('node:zlib')).gunzipSync(data).toString('utf8') : data.toString('utf8');
      findings.push(...findSecrets(suite, `${container.name}/${blob.name}`, text, { bulk: true }));
    }
  }
  return { blobs, findings };
}
