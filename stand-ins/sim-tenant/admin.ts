/**
 * The standalone sim's admin endpoint (cli.ts), so that a tenant running in its own process can change between
 * two runs of the export: not a Microsoft service, plain http on 127.0.0.1 only.
 *
 *   POST /changes  {"joiners":10,"leavers":5,"edits":20,"renames":5,"nulls":5,"seed":1}   applies a change set
 *   GET  /changes                                                                           where the tenant stands
 *
 * Answers JSON: `{ generation, seed, requested, applied, userCount }` (POST) or `{ generation, userCount }`
 * (GET); a bad body is a 400 with `{ error }`.
 */
import http from 'node:http';
import { type TenantChangeSpec } from './changes.js';
import { type Handler, readBody, sendJson, serve } from './http.js';
import type { SimTenant } from './index.js';

const SPEC_KEYS = new Set(['seed', 'joiners', 'leavers', 'edits', 'renames', 'nulls']);

/** Parses a change set; throws a message for the 400 when it is not one. */
export function parseChangeSpec(text: string): TenantChangeSpec {
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new TypeError('the body must be a JSON object');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new TypeError('the body must be a JSON object');
  const spec: Record<string, number> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!SPEC_KEYS.has(key)) throw new TypeError(`unknown field '${key}' (expected ${[...SPEC_KEYS].join(', ')})`);
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`'${key}' must be an integer`);
    spec[key] = value;
  }
  return spec;
}

function adminHandler(sim: SimTenant): Handler {
  return async (req, res, url) => {
    if (url.pathname !== '/changes') {
      sendJson(res, 404, { error: 'not found: use /changes' });
      return;
    }
    if (req.method === 'GET') {
      sendJson(res, 200, { generation: sim.users.generation, userCount: sim.users.userCount });
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use GET or POST' }, { Allow: 'GET, POST' });
      return;
    }
    try {
      const applied = sim.applyChanges(parseChangeSpec(await readBody(req, 64 * 1024)));
      const { generation, seed, requested, userCount } = applied;
      sendJson(res, 200, { generation, seed, requested, applied: applied.applied, userCount });
    } catch (err) {
      if (!(err instanceof TypeError || err instanceof RangeError)) throw err;
      sendJson(res, 400, { error: err.message });
    }
  };
}

/** Starts the admin endpoint on 127.0.0.1 (`port` 0: any free port); returns its base URL and how to close it. */
export async function startAdminServer(
  sim: SimTenant,
  port = 0,
  log?: (line: string) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(serve('admin', log, adminHandler(sim)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
