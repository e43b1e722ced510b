/**
 * The socket tracker of the stand-ins (the simulated tenant's servers, the storage fault proxy): a group that
 * owns servers and every socket they ever accepted, so that close() really closes, including keep-alive,
 * tunnelled and deliberately hung connections.
 */
import net from 'node:net';

export class ServerGroup {
  private readonly servers = new Set<net.Server>();
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  /** Owns `server`: every connection it gets (listened or emitted by the proxy) is tracked until it closes. */
  add<T extends net.Server>(server: T): T {
    this.servers.add(server);
    server.on('connection', (socket: net.Socket) => this.adopt(socket));
    return server;
  }

  /** Tracks a socket so close() destroys it; swallows its errors (a reset client must not crash the sim). */
  adopt(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Listens on 127.0.0.1 (port 0 = any free port); returns the port. */
  async listen(server: net.Server, port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as net.AddressInfo).port;
  }

  /**
   * Also accepts connections on [::1]:port and hands them to `server`: where `localhost` resolves to ::1 first,
   * clients must still reach the sim. Best effort: hosts without IPv6 loopback just skip it.
   */
  async alsoOnIpv6Loopback(server: net.Server, port: number): Promise<void> {
    const forwarder = net.createServer((socket) => server.emit('connection', socket));
    this.servers.add(forwarder);
    await new Promise<void>((resolve) => {
      forwarder.once('error', () => {
        this.servers.delete(forwarder);
        resolve();
      });
      forwarder.listen(port, '::1', () => resolve());
    });
  }

  /**
   * Resolves `ms` from now, as closely as the event loop allows (a page latency must mean what it says):
   * a timer fires up to a millisecond or so late, so it is set ~1 ms short and the rest is waited out over a
   * few turns of the event loop, which keep serving I/O meanwhile. close() ends the wait.
   */
  delay(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    const deadline = performance.now() + ms;
    return new Promise((resolve) => {
      const finish = (): void => {
        if (this.closed || performance.now() >= deadline) resolve();
        else setImmediate(finish);
      };
      const t = setTimeout(
        () => {
          this.timers.delete(t);
          finish();
        },
        Math.max(0, ms - 1),
      );
      this.timers.add(t);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closing = [...this.servers].map(
      (server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
    );
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await Promise.all(closing);
  }
}
