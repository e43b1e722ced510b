/**
 * Helpers for the sim's own tests: raw HTTPS requests that trust the sim's CA (in-process, without
 * NODE_EXTRA_CA_CERTS), requests to Key Vault through the CONNECT proxy, hand-made client assertions, and
 * child-process fixtures for the official clients.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, constants, createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { type SimTenant, startSimTenant } from '../../../stand-ins/sim-tenant/index.js';

export interface SimResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed body (undefined when not JSON). Loosely typed on purpose: tests assert bodies field by field. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  json: any;
}

function collect(res: http.IncomingMessage): Promise<SimResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
    });
  });
}

/** An HTTP(S) request to one of the sim's localhost endpoints, trusting its CA. No keep-alive. */
export function request(
  sim: SimTenant,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<SimResponse> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        agent: false,
        ...(u.protocol === 'https:' ? { ca: sim.caCertPem } : {}),
      },
      (res) => {
        collect(res).then(resolve, reject);
      },
    );
    req.on('error', reject);
    if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error('timeout')));
    req.end(opts.body);
  });
}

export function postForm(
  sim: SimTenant,
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<SimResponse> {
  return request(sim, url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** Opens a CONNECT tunnel through the sim's proxy; resolves with the proxy's status and the socket. */
export function connect(sim: SimTenant, target: string): Promise<{ status: number; socket: import('node:net').Socket }> {
  const proxy = new URL(sim.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target, agent: false });
    req.on('connect', (res, socket) => resolve({ status: res.statusCode ?? 0, socket }));
    req.on('error', reject);
    req.end();
  });
}

/** A Key Vault request (path + query) the way the Azure SDK sends it: CONNECT through the proxy, then TLS. */
export async function keyVaultRequest(sim: SimTenant, pathAndQuery: string, headers: Record<string, string> = {}): Promise<SimResponse> {
  const host = new URL(sim.vaultUrl).hostname;
  const { status, socket } = await connect(sim, `${host}:443`);
  if (status !== 200) throw new Error(`proxy answered ${status}`);
  const secure = tls.connect({ socket, servername: host, ca: sim.caCertPem });
  return new Promise((resolve, reject) => {
    const req = https.request(
      // No agent: with createConnection the request runs over the tunnelled TLS socket (no DNS lookup).
      { host, path: pathAndQuery, method: 'GET', headers, createConnection: () => secure },
      (res) => {
        collect(res).then((r) => {
          secure.destroy();
          resolve(r);
        }, reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A managed-identity token from the sim's endpoint (system-assigned unless clientId is given). */
export async function miToken(sim: SimTenant, resource: string, clientId?: string): Promise<string> {
  const q = new URLSearchParams({ 'api-version': '2019-08-01', resource, ...(clientId !== undefined ? { client_id: clientId } : {}) });
  const res = await request(sim, `${sim.identityEndpoint}?${q.toString()}`, { headers: { 'X-IDENTITY-HEADER': sim.identityHeader } });
  if (res.status !== 200) throw new Error(`MSI ${res.status}: ${res.text}`);
  return res.json.access_token as string;
}

export const tokenEndpoint = (sim: SimTenant, tenant = sim.tenantId): string => `${sim.authorityHost}/${tenant}/oauth2/v2.0/token`;

/** A Graph token for the app through the token endpoint with a client secret. */
export async function appToken(sim: SimTenant, clientId: string, secret: string): Promise<string> {
  const res = await postForm(sim, tokenEndpoint(sim), {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: secret,
    scope: `${sim.graphEndpoint}/.default`,
  });
  if (res.status !== 200) throw new Error(`token ${res.status}: ${res.text}`);
  return res.json.access_token as string;
}

/** A simulated tenant of `userCount` seeded users, and a Graph token of an app registered in it (client secret). */
export async function startTenantWithApp(userCount: number, seed: number): Promise<{ sim: SimTenant; token: string }> {
  const sim = await startSimTenant({ userCount, seed });
  const { clientId } = sim.addApp();
  return { sim, token: await appToken(sim, clientId, sim.addClientSecret(clientId)) };
}

export function decodeClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A client assertion like MSAL's (PS256, x5t#S256, aud = token endpoint, iss = sub = client id, 10 minutes),
 * with every part overridable so tests can break one thing at a time.
 */
export function makeAssertion(opts: {
  clientId: string;
  aud: string;
  keyPem: string;
  certPem: string;
  alg?: 'PS256' | 'RS256';
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}): string {
  const alg = opts.alg ?? 'PS256';
  const der = new X509Certificate(opts.certPem).raw;
  const header = {
    alg,
    typ: 'JWT',
    ...(alg === 'PS256'
      ? { 'x5t#S256': createHash('sha256').update(der).digest('base64url') }
      : { x5t: createHash('sha1').update(der).digest('base64url') }),
    ...opts.header,
  };
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: opts.aud, iss: opts.clientId, sub: opts.clientId, jti: randomUUID(), nbf: now, exp: now + 600, ...opts.claims };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const key = createPrivateKey(opts.keyPem);
  const signature =
    alg === 'PS256'
      ? sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : sign('sha256', Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * Runs a compiled fixture (dist/test/stand-ins/sim-tenant/fixtures/<name>.js) with only the given environment. The
 * timeout only ends a fixture that hangs: on a busy machine, starting Node and the SDKs can take many seconds.
 */
export function runFixture<T>(name: string, env: Record<string, string>, input: unknown, timeoutMs = 120_000): Promise<T> {
  const script = path.join(__dirname, 'fixtures', `${name}.js`);
  const childEnv: Record<string, string> = { SIM_FIXTURE_INPUT: JSON.stringify(input), ...env };
  // Only what a process needs to run; nothing like AZURE_* leaks in from the developer's shell.
  for (const k of ['PATH', 'HOME', 'SystemRoot', 'TMPDIR', 'TEMP', 'TMP']) {
    const v = process.env[k];
    if (v !== undefined) childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { env: childEnv, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${name} failed: ${err.message}\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`${name} printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}
