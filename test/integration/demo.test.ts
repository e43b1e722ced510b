import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const DEMO = path.join(__dirname, '..', '..', 'tools', 'demo.js');

test('npm run demo exports twice with the tenant changed in between and shows a change report with joiners, leavers and changes', async () => {
  // Its own working directory: the demo saves local copies under ./.demo.
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'demo-test-'));
  try {
    const child = spawn(process.execPath, [DEMO, '--users', '400', '--latency', '0', '--gzip', '--format', 'ndjson'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, out);
    const counts = /added (\d+) {3}removed (\d+) {3}changed (\d+)/.exec(out);
    assert.ok(counts, out);
    assert.ok(Number(counts[1]) > 0 && Number(counts[2]) > 0 && Number(counts[3]) > 0, counts[0]);
    assert.match(out, /the report lists exactly those/);
    for (const kind of ['added', 'removed', 'changed'])
      assert.match(out, new RegExp(`^  \\{"change":"${kind}","id":"`, 'm'), `an example ${kind} line`);
    assert.match(out, /changes\.ndjson\.gz/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
