/**
 * An HTTP CONNECT proxy (`HTTPS_PROXY`). It is how `https://<vault>.vault.azure.net/` reaches the simulated Key
 * Vault without touching DNS or weakening the Azure SDK's challenge checks: CONNECT to the vault host is handed
 * to the Key Vault TLS server in-process. CONNECT to one of the sim's own localhost ports works too (so the product
 * runs even without NO_PROXY). Everything else is refused: this proxy never dials out.
 */
import http from 'node:http';
import type net from 'node:net';
import type { ServerGroup } from '../server-group.js';

export interface ProxyRoutes {
  /** `<vaultName>.vault.azure.net` */
  vaultHost: string;
  vaultServer: net.Server;
  /** The sim's own servers by port, reachable as localhost:<port> / 127.0.0.1:<port>. */
  localServers: ReadonlyMap<number, net.Server>;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function createConnectProxy(group: ServerGroup, routes: ProxyRoutes, log: ((line: string) => void) | undefined): http.Server {
  const server = http.createServer((req, res) => {
    log?.(`proxy ${req.method ?? '?'} (not CONNECT) 405`);
    res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'CONNECT' });
    res.end('sim-tenant proxy: only CONNECT is supported\n');
  });

  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    group.adopt(socket);
    const target = req.url ?? '';
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
    const host = m?.[1]?.toLowerCase() ?? '';
    const port = Number(m?.[2] ?? NaN);

    let destination: net.Server | undefined;
    if (host === routes.vaultHost && port === 443) destination = routes.vaultServer;
    else if (LOOPBACK_NAMES.has(host)) destination = routes.localServers.get(port);

    if (destination === undefined) {
      // Another *.vault.azure.net is a vault that does not exist: answer like a proxy whose DNS lookup failed.
      const status = host.endsWith('.vault.azure.net') ? 502 : 403;
      const reason = status === 502 ? 'Bad Gateway' : 'Forbidden';
      log?.(`proxy CONNECT ${target} ${status}`);
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nsim-tenant proxy: ${status === 502 ? `cannot resolve ${host}` : `${target} is not reachable from this sandbox`}\n`,
      );
      return;
    }
    log?.(`proxy CONNECT ${target} 200`);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    // The destination server takes the raw socket as if it had accepted it (TLS handshake included).
    destination.emit('connection', socket);
  });
  return server;
}
