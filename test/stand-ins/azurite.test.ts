/**
 * The Azurite fixture starts whatever other processes do with ports meanwhile: a port found free and then
 * handed to Azurite can be taken in between (by a test file running in parallel, by an outgoing connection's
 * ephemeral port), and Azurite then exits with EADDRINUSE — a random red suite on a busy machine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite } from '../../stand-ins/azurite/index.js';

test('startAzurite does not lose its port to another process between choosing and binding it', async () => {
  // Stands in for the other process, at the worst moment: whenever a server of this process stops listening,
  // its port is taken at once (before anything else in this process runs).
  const squatters: net.Server[] = [];
  // Kept to be called with the server as `this` (close.apply below) and put back afterwards.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const close = net.Server.prototype.close;
  net.Server.prototype.close = function (this: net.Server, ...args: Parameters<net.Server['close']>) {
    const address = this.address();
    const closed = close.apply(this, args);
    if (address !== null && typeof address === 'object') {
      // No host: listen() binds synchronously (a host would go through an asynchronous lookup first).
      const squatter = net.createServer().listen(address.port);
      squatter.on('error', () => undefined);
      squatters.push(squatter);
    }
    return closed;
  };
  let azurite: Awaited<ReturnType<typeof startAzurite>> | undefined;
  try {
    azurite = await startAzurite();
  } finally {
    net.Server.prototype.close = close;
    for (const squatter of squatters) squatter.close();
  }
  try {
    const port = Number(new URL(azurite.blobEndpoint).port);
    assert.ok(port > 0, azurite.blobEndpoint);
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient('reachable');
    await container.create();
    assert.ok(await container.exists(), 'the endpoint it reports is the Azurite it started');
  } finally {
    await azurite.stop();
  }
});

test('Azurite ends with the process that started it, even when that process is killed', async () => {
  // A test file that times out is killed without running its cleanup: its Azurite must not outlive it.
  const fixture = spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', 'start-azurite.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of fixture.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    if (out.includes('\n')) break;
  }
  const { pid } = JSON.parse(out) as { pid: number };
  assert.ok(isRunning(pid), 'Azurite runs');
  fixture.kill('SIGKILL');
  // Polled: the minute only turns an Azurite that outlives its parent into an assertion instead of a leak.
  const deadline = Date.now() + 60_000;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const survived = isRunning(pid);
  if (survived) process.kill(pid, 'SIGKILL');
  assert.equal(survived, false, 'Azurite exited when its parent was killed');
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
