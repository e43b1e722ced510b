/**
 * A local plain-HTTP server standing in for Graph in the unit tests of graph.ts and http.ts, on a port of its
 * own for the whole test file, and the pipeline client that may reach it (the Azure SDK pipeline refuses plain
 * http; only these loopback connections are allowed to be insecure).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import { createDefaultHttpClient, type HttpClient } from '@azure/core-rest-pipeline';

const inner = createDefaultHttpClient();
export const loopbackHttpClient: HttpClient = {
  sendRequest: (request) => ((request.allowInsecureConnection = true), inner.sendRequest(request)),
};

export interface LocalServer {
  /** `http://127.0.0.1:<port>`, once the file's `before` hooks have run. */
  readonly endpoint: string;
}

/** Serves `listener` from the file's `before` hook to its `after` hook; the port is the one the server bound. */
export function localServer(listener: http.RequestListener): LocalServer {
  const server = http.createServer(listener);
  const state = { endpoint: '' };
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return state;
}
