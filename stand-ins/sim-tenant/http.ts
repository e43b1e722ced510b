/**
 * HTTP plumbing shared by the sim's servers (their ServerGroup is stand-ins/server-group.ts): JSON responses,
 * bounded body reading and a request log that never prints secrets.
 */
import http from 'node:http';

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: http.ServerResponse,
  status: number,
  text: string,
  contentType = 'text/plain; charset=utf-8',
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const reasonPhrase = (status: number): string => http.STATUS_CODES[status] ?? 'Error';

/** Reads a request body up to `limit` bytes (larger bodies reject). */
export async function readBody(req: http.IncomingMessage, limit = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Query keys whose values are safe to log; everything else is shown as `…`. */
const LOGGABLE_QUERY = new Set(['$top', '$select', '$filter', 'api-version', 'resource', 'client_id']);

/** `path?key=value&secret=…`: enough to follow a run, never a token, secret or skiptoken. */
export function describeRequest(url: URL): string {
  const parts: string[] = [];
  for (const [k, v] of url.searchParams) parts.push(`${k}=${LOGGABLE_QUERY.has(k) ? v : '…'}`);
  return parts.length === 0 ? url.pathname : `${url.pathname}?${parts.join('&')}`;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

/**
 * Adapts an async handler: parses the URL, logs `<service> METHOD path status ms` when the response ends (or
 * `-` when the connection was dropped), and turns an unexpected exception into a 500 instead of a crash.
 */
export function serve(service: string, log: ((line: string) => void) | undefined, handler: Handler): http.RequestListener {
  return (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    if (log !== undefined) {
      res.once('close', () => {
        const status = res.writableFinished ? String(res.statusCode) : '-';
        log(`${service} ${req.method ?? '?'} ${describeRequest(url)} ${status} ${Date.now() - started}ms`);
      });
    }
    handler(req, res, url).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'InternalServerError', message: `sim-tenant: ${String(err)}` } });
      else res.destroy();
    });
  };
}
