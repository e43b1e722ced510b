import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const DEMO = path.join(__dirname, '..', '..', 'tools', 'demo.js');

test('npm run demo -- --credential federated: a full snapshot with the secretless credential, no Key Vault', async () => {
  // Its own working directory: the demo saves local copies under ./.demo.
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'demo-federated-'));
  try {
    const child = spawn(process.execPath, [DEMO, '--credential', 'federated', '--users', '1200', '--latency', '0'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /secretless: trusts managed identity [0-9a-f-]{36} \(federated identity credential\), no Key Vault/);
    assert.match(out, /started: tenant [0-9a-f-]+, app [0-9a-f-]+, federated credential: managed identity [0-9a-f-]{36},/);
    assert.match(out, /Checked: 1200 of the demo tenant's 1200 users, \d+ bytes, sha256 matches the manifest\./);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
