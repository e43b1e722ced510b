/**
 * Loaded into the export process with `node --require` by the reliability suite (never by the product):
 * records every HTTP(S) request the process makes — scheme, host, port, method, path (no query), the
 * Authorization scheme and, for bearer tokens, their audience — as JSON lines appended to the file named
 * by RELIABILITY_EGRESS_LOG. Bearer tokens are written too, so that the suite can look for them in the
 * logs and blobs; the file lives in the suite's own directory, is read once and deleted.
 *
 * Every request of the SDKs, MSAL (through src/http.ts) and the identity library goes through
 * node:http / node:https `request`, which is what is wrapped here.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
// Type only (erased): this file runs preloaded in the export process and needs nothing else loaded.
import type { EgressRecord } from './egress-record.js';

const file = process.env['RELIABILITY_EGRESS_LOG'];

function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

function record(scheme: string, args: unknown[]): void {
  try {
    let url: URL | undefined;
    let options: Record<string, unknown> = {};
    if (typeof args[0] === 'string' || args[0] instanceof URL) {
      url = new URL(String(args[0]));
      if (args[1] && typeof args[1] === 'object') options = args[1] as Record<string, unknown>;
    } else if (args[0] && typeof args[0] === 'object') {
      options = args[0] as Record<string, unknown>;
    }
    // http.request's options: these four are strings (the port also a number) when given.
    const option = (key: string): string | number | undefined => options[key] as string | number | undefined;
    const host = String(option('hostname') ?? option('host') ?? url?.hostname ?? 'localhost').replace(/:\d+$/, '');
    const port = String(option('port') ?? url?.port ?? '');
    const path = String(option('path') ?? url?.pathname ?? '/').split('?')[0] ?? '/';
    const method = String(option('method') ?? 'GET');
    const authorization = headerValue(options['headers'], 'authorization');
    const entry: EgressRecord = { scheme, host, port, method, path, auth: authorization?.split(' ')[0] };
    if (authorization && /^Bearer\s+/i.test(authorization)) {
      const token = authorization.replace(/^Bearer\s+/i, '');
      entry.token = token;
      try {
        const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: unknown };
        if (typeof payload.aud === 'string') entry.aud = payload.aud;
      } catch {
        // not a JWT: recorded without an audience
      }
    }
    if (file) fs.appendFileSync(file, `${JSON.stringify(entry)}\n`);
  } catch {
    // never disturb the process under test
  }
}

for (const [scheme, mod] of [
  ['http', http],
  ['https', https],
] as const) {
  const original = mod.request;
  const originalGet = mod.get;
  (mod as { request: unknown }).request = function (this: unknown, ...args: unknown[]) {
    record(scheme, args);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
  (mod as { get: unknown }).get = function (this: unknown, ...args: unknown[]) {
    record(scheme, args);
    return (originalGet as (...a: unknown[]) => unknown).apply(this, args);
  };
}
