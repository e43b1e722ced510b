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
 * with the same rule engine as the simulated tenant's FaultRule (stand-ins/fault-rules.ts).
 *
 * `hold` delays forwarding until a promise settles (to make concurrent runs interleave) and `onFire`
 * runs a hook when a rule fires — on arrival, or once Azurite has answered for the `-after` kinds — which
 * is how the crash-safety tests SIGKILL the export at a deterministic point.
 *
 * Plain HTTP only (Azurite without --oauth). Nothing is logged; bodies are never kept.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type Firing, FaultRules } from '../fault-rules.js';
import { ServerGroup } from '../server-group.js';

export type StorageCall =
  'container-create' | 'block-stage' | 'block-commit' | 'manifest-put' | 'latest-get' | 'latest-put' | 'blob-delete' | 'other';

export const STORAGE_CALLS: readonly StorageCall[] = [
  'container-create',
  'block-stage',
  'block-commit',
  'manifest-put',
  'latest-get',
  'latest-put',
  'blob-delete',
  'other',
];

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

/**
 * `nth`: 1-based index among the requests this rule matches (call + container), counted from when it was added.
 * `times`: how many times the rule fires; default 1; Infinity for a persistent fault.
 */
export interface ProxyRule extends Firing {
  call: StorageCall;
  /** Only requests to this container. */
  container?: string;
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

/** A storage request as the rules see it. */
interface StorageRequest {
  call: StorageCall;
  container: string;
}

/** What one proxy keeps: its rules, counters, request log, the sockets it owns and the way to Azurite. */
interface ProxyState {
  readonly rules: FaultRules<ProxyRule, StorageRequest>;
  readonly stats: ProxyStats;
  readonly requests: RequestRecord[];
  readonly group: ServerGroup;
  readonly upstream: Upstream;
}

export async function startFaultProxy(target: { blobEndpoint: string }): Promise<FaultProxy> {
  const upstream = new Upstream(new URL(target.blobEndpoint));
  const state: ProxyState = {
    rules: new FaultRules(
      (rule, request) => rule.call === request.call && (rule.container === undefined || rule.container === request.container),
    ),
    stats: emptyStats(),
    requests: [],
    group: new ServerGroup(),
    upstream,
  };
  const server = state.group.add(
    http.createServer((req, res) => {
      void handle(state, req, res).catch(() => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('fault-proxy: upstream failed\n');
        } else {
          res.destroy();
        }
      });
    }),
  );
  const port = await state.group.listen(server);
  const blobEndpoint = `http://127.0.0.1:${port}/${upstream.account}`;

  return {
    blobEndpoint,
    stats: state.stats,
    requests: state.requests,
    connectionString(azuriteConnectionString: string): string {
      if (!/BlobEndpoint=[^;]+/.test(azuriteConnectionString)) throw new Error('the connection string has no BlobEndpoint to redirect');
      return azuriteConnectionString.replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=${blobEndpoint}`);
    },
    addRule(rule: ProxyRule): void {
      state.rules.add(rule);
    },
    clearRules(container?: string): void {
      state.rules.clear(container === undefined ? undefined : (rule) => rule.container === container);
    },
    async close(): Promise<void> {
      state.rules.clear();
      // The group destroys every socket (hung requests' included) before the agent's are destroyed.
      const closing = state.group.close();
      upstream.close();
      await closing;
    },
  };
}

function emptyStats(): ProxyStats {
  return {
    requests: 0,
    forwarded: 0,
    faultsInjected: 0,
    faultsByContainer: {},
    byCall: Object.fromEntries(STORAGE_CALLS.map((c) => [c, 0])) as Record<StorageCall, number>,
  };
}

/** One request: logged and counted, its rule (if any) applied before forwarding, forwarded, its rule applied after. */
async function handle(state: ProxyState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://proxy.invalid');
  const { call, container, blob } = classify(method, url);
  const record: RequestRecord = { call, method, container, blob, authScheme: req.headers.authorization?.split(' ')[0], status: 'hang' };
  state.requests.push(record);
  state.stats.requests += 1;
  state.stats.byCall[call] += 1;
  const body = await readAll(req);
  const rule = state.rules.take({ call, container });
  const fire = (phase: FireEvent['phase'], status?: number): void => {
    rule?.onFire?.({
      call,
      container,
      blob,
      method,
      phase,
      ...(status !== undefined ? { status } : {}),
      ...(body.length <= 65_536 ? { body } : {}),
    });
  };
  if (rule && rule.fault.kind !== 'hold' && rule.fault.kind !== 'pass') {
    state.stats.faultsInjected += 1;
    state.stats.faultsByContainer[container] = (state.stats.faultsByContainer[container] ?? 0) + 1;
  }

  const exchange: Exchange = { req, res, method, record, fire };
  if (rule !== undefined && (await faultBeforeForwarding(rule, exchange))) return;
  if (state.group.isClosed) return;

  const answer = await state.upstream.forward(method, url, req.headers, body);
  state.stats.forwarded += 1;
  if (rule !== undefined && faultAfterForwarding(rule, exchange, answer.status)) return;
  record.status = answer.status;
  if (res.destroyed) return;
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  record: RequestRecord;
  fire: (phase: FireEvent['phase'], status?: number) => void;
}

/** Applies a fault that acts on arrival; true when the request is done with (answered, reset or hung). */
async function faultBeforeForwarding(rule: ProxyRule, x: Exchange): Promise<boolean> {
  const { fault } = rule;
  switch (fault.kind) {
    case 'status':
      x.fire('request', fault.status);
      x.record.status = fault.status;
      sendStorageError(x.res, x.method, fault.status, fault.code, fault.retryAfter);
      return true;
    case 'reset':
      x.record.status = 'reset';
      x.fire('request');
      x.req.socket.destroy();
      return true;
    case 'hang':
      // Never answered; the group destroys the socket when the proxy closes.
      x.record.status = 'hang';
      x.fire('request');
      return true;
    case 'hold':
      x.fire('request');
      await fault.until.catch(() => undefined);
      return false;
    case 'pass':
      if (!rule.after) x.fire('request');
      return false;
    default:
      return false;
  }
}

/** Applies a fault that acts once Azurite has answered; true when the answer is not to be relayed. */
function faultAfterForwarding(rule: ProxyRule, x: Exchange, status: number): boolean {
  switch (rule.fault.kind) {
    case 'reset-after':
      x.record.status = 'reset';
      x.fire('response', status);
      x.req.socket.destroy();
      return true;
    case 'hang-after':
      x.record.status = 'hang';
      x.fire('response', status);
      return true;
    case 'pass':
      if (rule.after) x.fire('response', status);
      return false;
    default:
      return false;
  }
}

/** Answers as Azure Storage does: its XML error body and x-ms-error-code (headers only for a HEAD). */
function sendStorageError(
  res: http.ServerResponse,
  method: string,
  status: number,
  code = STORAGE_ERROR_CODES[status] ?? 'InternalError',
  retryAfter?: number,
): void {
  const requestId = randomUUID();
  const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>fault-proxy: injected ${status}.\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
  const headers: Record<string, string> = {
    'content-type': 'application/xml',
    'x-ms-error-code': code,
    'x-ms-request-id': requestId,
    'x-ms-version': '2025-01-05',
  };
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (method === 'HEAD') {
    res.writeHead(status, headers);
    res.end();
  } else {
    res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(xml)) });
    res.end(xml);
  }
}

/** Azurite's blob service, reached over keep-alive connections. */
class Upstream {
  readonly account: string;
  // Idle upstream sockets are dropped after 2 s, before Azurite closes them at its 5 s keep-alive timeout:
  // otherwise a request can be written to a socket Azurite is closing and fail with a reset that no
  // injected fault caused.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });

  constructor(private readonly url: URL) {
    this.account = url.pathname.replace(/^\/+|\/+$/g, '');
  }

  forward(
    method: string,
    url: URL,
    headers: http.IncomingHttpHeaders,
    body: Buffer,
  ): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    const upstream = this.url;
    return new Promise((resolve, reject) => {
      const out: http.OutgoingHttpHeaders = { ...headers, host: upstream.host };
      delete out['connection'];
      const request = http.request(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          method,
          path: `${url.pathname}${url.search}`,
          headers: out,
          agent: this.agent,
        },
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

  close(): void {
    this.agent.destroy();
  }
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
