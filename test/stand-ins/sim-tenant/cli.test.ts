import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, test } from 'node:test';

/** Reads the child's stdout until `done` says enough arrived. */
function readUntil(stream: NodeJS.ReadableStream, done: (text: string) => boolean, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out; got:\n${text}`)), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (done(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
  });
}

test('cli prints export lines for a working demo tenant and closes cleanly on SIGTERM', async () => {
  const cli = path.join(__dirname, '..', '..', '..', 'stand-ins', 'sim-tenant', 'cli.js');
  const child = spawn(process.execPath, [cli, '--users', '50', '--latency', '0', '--seed', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A failed assertion must not leave the sim running (it kept this test file, and the machine, busy).
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stdout = await readUntil(
    child.stdout,
    (t) => t.includes('IDENTITY_HEADER=') && t.includes('GRAPH_CLIENT_CERTIFICATE_NAME='),
    120_000,
  );

  const env = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => {
        const m = /^export ([A-Z_]+)='(.*)'$/.exec(line);
        assert.ok(m, `an export line: ${line}`);
        return [m[1] as string, m[2] as string];
      }),
  );
  for (const k of [
    'GRAPH_TENANT_ID',
    'GRAPH_AUTHORITY_HOST',
    'GRAPH_ENDPOINT',
    'KEY_VAULT_URL',
    'HTTPS_PROXY',
    'NO_PROXY',
    'NODE_EXTRA_CA_CERTS',
    'IDENTITY_ENDPOINT',
    'IDENTITY_HEADER',
    'GRAPH_CLIENT_ID',
  ]) {
    assert.ok(env[k], k);
  }
  assert.equal(env['GRAPH_CLIENT_CERTIFICATE_NAME'], 'graph-export-cert');
  const caPath = env['NODE_EXTRA_CA_CERTS'] as string;
  const ca = fs.readFileSync(caPath, 'utf8');

  const status = await new Promise<number>((resolve, reject) => {
    https
      .get(
        `${env['GRAPH_AUTHORITY_HOST']}/${env['GRAPH_TENANT_ID']}/v2.0/.well-known/openid-configuration`,
        { ca, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
      .on('error', reject);
  });
  assert.equal(status, 200);

  // The admin endpoint changes the running tenant between runs of the export.
  const admin = env['SIM_TENANT_ADMIN_URL'] as string;
  assert.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/);
  const post = async (body: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${admin}/changes`, { method: 'POST', body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const applied = await post('{"joiners":4,"leavers":3,"edits":5,"renames":2,"nulls":1,"seed":7}');
  assert.equal(applied.status, 200, JSON.stringify(applied.json));
  assert.deepEqual(applied.json, {
    generation: 1,
    seed: 7,
    requested: { joiners: 4, leavers: 3, edits: 5, renames: 2, nulls: 1 },
    applied: { joiners: 4, leavers: 3, edits: 5, renames: 2, nulls: 1 },
    userCount: 51,
  });
  assert.deepEqual(await (await fetch(`${admin}/changes`)).json(), { generation: 1, userCount: 51 });
  const bad = await post('{"joiners":"many"}');
  assert.equal(bad.status, 400);
  assert.match(String(bad.json['error']), /'joiners' must be an integer/);
  assert.equal((await post('{"edits":1000}')).status, 400, 'more users than there are');

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(fs.existsSync(caPath), false, 'the CA temp file is removed on close');
});
