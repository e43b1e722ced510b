/**
 * A fault-injecting HTTP reverse proxy in front of Azurite's blob service.
 *
 * The product's EXPORT_STORAGE connection string points its BlobEndpoint at the proxy
 * (`connectionString(azurite.connectionString)` does the rewrite); the proxy forwards every request to
 * Azurite and, for requests matched by a rule, misbehaves the way storage front ends and networks do:
 * an error status (429 / 500 / 503 with Azure Storage's XML error body), a connection reset, a request
 * that hangs, or the nastier variants where Azurite *did* apply the request but the answer is lost
 * (`reset-after`, `hang-after`). Rules match a kind of storage call — container create, block stage
 * (`comp=block`), block commit (`comp=blocklist`), manifest upload, `latest.json` GET / PUT — optionally
 * one container, the nth matching request, and fire `times` times (Infinity for a persistent fault),
 * like the simulated tenant's FaultRule.
 *
 * `hold` delays forwarding until a promise settles (to make concurrent runs interleave) and `onFire`
 * runs a hook when a rule fires — on arrival, or once Azurite has answered for the `-after` kinds — which
 * is how the crash-safety tests SIGKILL the export at a deterministic point.
 *
 * Plain HTTP only (Azurite without --oauth). Nothing is logged; bodies are never kept.
 */
import http from 'node:http';
import type net from 'node:net';
import { randomUUID } from 'node:crypto';

export type StorageCall =
  | 'container-create'
  | 'block-stage'
  | 'block-commit'
  | 'manifest-put'
  | 'latest-get'
  | 'latest-put'
  | 'blob-delete'
  | 'other';

export const STORAGE_CALLS: readonly StorageCall[] = ['container-create', 'block-stage', 'block-commit', 'manifest-put', 'latest-get', 'latest-put', 'blob-delete', 'other'];

export type ProxyFault =
  /** Answered by the proxy; Azurite never sees the request. */
  | { kind: 'status'; status: number; retryAfter?: number; code?: string }
  /** The connection is destroyed; Azurite never sees the request. */
  | { kind: 'reset' }
  /** Never answered (until the proxy closes); Azurite never sees the request. */
  | { kind: 'hang' }
  /** Forwarded and applied by Azurite, then the connection is destroyed instead of answering. */
  | { kind: 'reset-after' }
  /** Forwarded and applied by Azurite; the answer never comes. */
  | { kind: 'hang-after' }
  /** Forwarded once `until` settles (not counted as a fault: latency). */
  | { kind: 'hold'; until: Promise<unknown> }
  /** Forwarded untouched (not counted as a fault): a hook point for `onFire`. */
  | { kind: 'pass' };

export interface FireEvent {
  call: StorageCall;
  container: string;
  blob: string;
  method: string;
  /** 'request' when the rule fired on arrival; 'response' once Azurite answered (the `-after` kinds and `pass` with after). */
  phase: 'request' | 'response';
  status?: number;
  /** The request body (small JSON uploads: the manifest, latest.json); undefined above 64 KiB. */
  body?: Buffer;
}

export interface ProxyRule {
  call: StorageCall;
  /** Only requests to this container. */
  container?: string;
  /** 1-based index among the requests this rule matches (call + container), counted from when it was added. */
  nth?: number;
  /** How many times the rule fires; default 1; Infinity for a persistent fault. */
  times?: number;
  fault: ProxyFault;
  /** For `pass`: fire the hook once Azurite has answered rather than on arrival. */
  after?: boolean;
  onFire?: (event: FireEvent) => void;
}

export interface ProxyStats {
  requests: number;
  forwarded: number;
  faultsInjected: number;
  /** Faults injected into requests to each container. */
  faultsByContainer: Record<string, number>;
  byCall: Record<StorageCall, number>;
}

export interface RequestRecord {
  call: StorageCall;
  method: string;
  container: string;
  blob: string;
  /** The Authorization scheme only (e.g. 'SharedKey', 'Bearer'): never the credential. */
  authScheme: string | undefined;
  status: number | 'reset' | 'hang';
}

export interface FaultProxy {
  /** e.g. http://127.0.0.1:41234/devstoreaccount1 */
  readonly blobEndpoint: string;
  readonly stats: ProxyStats;
  /** Every request seen, in arrival order (method, call, container, blob name; no headers or bodies). */
  readonly requests: readonly RequestRecord[];
  /** The Azurite connection string with its BlobEndpoint pointed at the proxy. */
  connectionString(azuriteConnectionString: string): string;
  addRule(rule: ProxyRule): void;
  clearRules(container?: string): void;
  close(): Promise<void>;
}

interface ActiveRule {
  rule: ProxyRule;
  remaining: number;
  seen: number;
}

/** What kind of storage call a request is, from its method, path and query. */
export function classify(method: string, url: URL): { call: StorageCall; container: string; blob: string } {
  // Path-style (Azurite): /<account>/<container>/<blob...>
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const container = decodeURIComponent(segments[1] ?? '');
  const blob = segments.slice(2).map(decodeURIComponent).join('/');
  const comp = url.searchParams.get('comp');
  const restype = url.searchParams.get('restype');
  let call: StorageCall = 'other';
  if (method === 'PUT' && restype === 'container' && blob === '' && comp === null) call = 'container-create';
  else if (method === 'PUT' && comp === 'block') call = 'block-stage';
  else if (method === 'PUT' && comp === 'blocklist') call = 'block-commit';
  else if (method === 'PUT' && comp === null && blob.endsWith('/manifest.json')) call = 'manifest-put';
  else if ((method === 'GET' || method === 'HEAD') && comp === null && blob === 'latest.json') call = 'latest-get';
  else if (method === 'PUT' && comp === null && blob === 'latest.json') call = 'latest-put';
  else if (method === 'DELETE' && blob !== '') call = 'blob-delete';
  return { call, container, blob };
}

const STORAGE_ERROR_CODES: Record<number, string> = {
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServerBusy',
  504: 'OperationTimedOut',
};

export async function startFaultProxy(target: { blobEndpoint: string }): Promise<FaultProxy> {
  const upstream = new URL(target.blobEndpoint);
  const account = upstream.pathname.replace(/^\/+|\/+$/g, '');
  // Idle upstream sockets are dropped after 2 s, before Azurite closes them at its 5 s keep-alive timeout:
  // otherwise a request can be written to a socket Azurite is closing and fail with a reset that no
  // injected fault caused.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });
  const sockets = new Set<net.Socket>();
  const hung = new Set<http.ServerResponse>();
  let rules: ActiveRule[] = [];
  let closed = false;
  const stats: ProxyStats = {
    requests: 0,
    forwarded: 0,
    faultsInjected: 0,
    faultsByContainer: {},
    byCall: Object.fromEntries(STORAGE_CALLS.map((c) => [c, 0])) as Record<StorageCall, number>,
  };
  const requests: RequestRecord[] = [];

  const take = (call: StorageCall, container: string): ActiveRule | undefined => {
    let fired: ActiveRule | undefined;
    for (const active of rules) {
      const { rule } = active;
      if (rule.call !== call || (rule.container !== undefined && rule.container !== container)) continue;
      active.seen += 1;
      if (fired || active.remaining <= 0) continue;
      if (rule.nth !== undefined && rule.nth !== active.seen) continue;
      active.remaining -= 1;
      fired = active;
    }
    return fired;
  };

  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('fault-proxy: upstream failed\n');
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const { call, container, blob } = classify(method, url);
    const authorization = req.headers.authorization;
    const record: RequestRecord = { call, method, container, blob, authScheme: authorization?.split(' ')[0], status: 'hang' };
    requests.push(record);
    stats.requests += 1;
    stats.byCall[call] += 1;
    const body = await readAll(req);
    const active = take(call, container);
    const fault = active?.rule.fault;
    const fire = (phase: FireEvent['phase'], status?: number): void => {
      active?.rule.onFire?.({ call, container, blob, method, phase, ...(status !== undefined ? { status } : {}), ...(body.length <= 65_536 ? { body } : {}) });
    };

    if (fault && fault.kind !== 'hold' && fault.kind !== 'pass') {
      stats.faultsInjected += 1;
      stats.faultsByContainer[container] = (stats.faultsByContainer[container] ?? 0) + 1;
    }
    switch (fault?.kind) {
      case 'status': {
        fire('request', fault.status);
        const code = fault.code ?? STORAGE_ERROR_CODES[fault.status] ?? 'InternalError';
        const requestId = randomUUID();
        const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>fault-proxy: injected ${fault.status}.\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
        const headers: Record<string, string> = {
          'content-type': 'application/xml',
          'x-ms-error-code': code,
          'x-ms-request-id': requestId,
          'x-ms-version': '2025-01-05',
        };
        if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
        record.status = fault.status;
        if (method === 'HEAD') {
          res.writeHead(fault.status, headers);
          res.end();
        } else {
          res.writeHead(fault.status, { ...headers, 'content-length': String(Buffer.byteLength(xml)) });
          res.end(xml);
        }
        return;
      }
      case 'reset':
        record.status = 'reset';
        fire('request');
        req.socket.destroy();
        return;
      case 'hang':
        record.status = 'hang';
        hung.add(res);
        res.once('close', () => hung.delete(res));
        fire('request');
        return;
      case 'hold':
        fire('request');
        await fault.until.catch(() => undefined);
        break;
      case 'pass':
        if (!active?.rule.after) fire('request');
        break;
      default:
        break;
    }
    if (closed) return;

    const answer = await forward(method, url, req.headers, body);
    stats.forwarded += 1;
    if (fault?.kind === 'reset-after') {
      record.status = 'reset';
      fire('response', answer.status);
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'hang-after') {
      record.status = 'hang';
      hung.add(res);
      res.once('close', () => hung.delete(res));
      fire('response', answer.status);
      return;
    }
    if (fault?.kind === 'pass' && active?.rule.after) fire('response', answer.status);
    record.status = answer.status;
    if (res.destroyed) return;
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  function forward(method: string, url: URL, headers: http.IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const out: http.OutgoingHttpHeaders = { ...headers, host: upstream.host };
      delete out['connection'];
      const request = http.request(
        { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method, path: `${url.pathname}${url.search}`, headers: out, agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('error', reject);
          response.on('end', () => {
            const h: http.OutgoingHttpHeaders = { ...response.headers };
            delete h['connection'];
            delete h['keep-alive'];
            delete h['transfer-encoding'];
            const data = Buffer.concat(chunks);
            if (method !== 'HEAD') h['content-length'] = String(data.length);
            resolve({ status: response.statusCode ?? 502, headers: h, body: data });
          });
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as net.AddressInfo).port;
  const blobEndpoint = `http://127.0.0.1:${port}/${account}`;

  return {
    blobEndpoint,
    stats,
    requests,
    connectionString(azuriteConnectionString: string): string {
      if (!/BlobEndpoint=[^;]+/.test(azuriteConnectionString)) throw new Error('the connection string has no BlobEndpoint to redirect');
      return azuriteConnectionString.replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=${blobEndpoint}`);
    },
    addRule(rule: ProxyRule): void {
      const times = rule.times ?? 1;
      if (!(times > 0)) throw new TypeError('times must be > 0');
      if (rule.nth !== undefined && !(Number.isInteger(rule.nth) && rule.nth >= 1)) throw new TypeError('nth must be a positive integer');
      rules.push({ rule, remaining: times, seen: 0 });
    },
    clearRules(container?: string): void {
      rules = container === undefined ? [] : rules.filter((r) => r.rule.container !== container);
    },
    async close(): Promise<void> {
      closed = true;
      rules = [];
      for (const res of hung) res.destroy();
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
