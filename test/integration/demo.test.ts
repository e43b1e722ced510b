import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const DEMO = path.join(__dirname, '..', '..', 'tools', 'demo.js');

/** Runs the built demo with these arguments in a working directory of its own (it saves copies under ./.demo). */
async function runDemo(args: string[]): Promise<{ code: number | null; out: string }> {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'demo-test-'));
  try {
    const child = spawn(process.execPath, [DEMO, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { code, out };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

test('npm run demo exports twice with the tenant changed in between and shows a change report with joiners, leavers and changes', async () => {
  const { code, out } = await runDemo(['--users', '400', '--latency', '0', '--gzip', '--format', 'ndjson']);
  assert.equal(code, 0, out);
  const counts = /added (\d+) {3}removed (\d+) {3}changed (\d+)/.exec(out);
  assert.ok(counts, out);
  assert.ok(Number(counts[1]) > 0 && Number(counts[2]) > 0 && Number(counts[3]) > 0, counts[0]);
  assert.match(out, /the report lists exactly those/);
  for (const kind of ['added', 'removed', 'changed'])
    assert.match(out, new RegExp(`^  \\{"change":"${kind}","id":"`, 'm'), `an example ${kind} line`);
  assert.match(out, /changes\.ndjson\.gz/);
});

test('npm run demo -- --credential federated: a full snapshot with the secretless credential, no Key Vault', async () => {
  const { code, out } = await runDemo(['--credential', 'federated', '--users', '1200', '--latency', '0']);
  assert.equal(code, 0, out);
  assert.match(out, /secretless: trusts managed identity [0-9a-f-]{36} \(federated identity credential\), no Key Vault/);
  assert.match(out, /started: tenant [0-9a-f-]+, app [0-9a-f-]+, federated credential: managed identity [0-9a-f-]{36},/);
  assert.match(out, /Checked: 1200 of the demo tenant's 1200 users, \d+ bytes, sha256 matches the manifest\./);
});
