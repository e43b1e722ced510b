/**
 * The sorted spill (src/sorted-spill.ts): runs on disk merged back in id order, its files removed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';
import { SortedSpill } from '../../src/sorted-spill.js';

test('the spill gives its records back sorted by id, from runs on disk and memory, and removes its files', () => {
  const before = readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length;
  const spill = new SortedSpill({ runBytes: 64 * 1024 });
  const records = new Map<string, string>();
  for (let i = 0; i < 3000; i += 1) {
    const id = i % 7 === 0 ? `text-${i}` : randomUUID();
    const user = JSON.stringify({ id, n: i, pad: 'x'.repeat(i % 300) });
    records.set(id, user);
    spill.add(Buffer.from(id), Buffer.from(user));
  }
  assert.ok(spill.diskBytes > 0, 'some runs were written');
  assert.equal(readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length, before + 1);
  const back: [string, string][] = [];
  for (let r = spill.take(); r !== undefined; r = spill.take()) back.push([r.id.toString('utf8'), r.bytes.toString('utf8')]);
  assert.deepEqual(
    back,
    [...records].sort(([x], [y]) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
  );
  spill.close();
  assert.equal(readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length, before);
});

test('a few records stay in memory: nothing is written to disk, and they come back sorted', () => {
  const before = readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length;
  const spill = new SortedSpill();
  const ids = Array.from({ length: 200 }, () => randomUUID());
  for (const id of ids) spill.add(Buffer.from(id), Buffer.from(`{"id":"${id}"}`));
  const back: string[] = [];
  for (let r = spill.take(); r !== undefined; r = spill.take()) back.push(r.id.toString('utf8'));
  assert.deepEqual(back, [...ids].sort());
  assert.equal(spill.diskBytes, 0);
  assert.equal(readdirSync(os.tmpdir()).filter((f) => f.startsWith('entra-users-changes-')).length, before);
  spill.close();
});

test('records added after the reading began are refused', () => {
  const spill = new SortedSpill();
  spill.add(Buffer.from('a'), Buffer.from('{"id":"a"}'));
  assert.equal(spill.peek()?.id.toString('utf8'), 'a');
  assert.throws(() => spill.add(Buffer.from('b'), Buffer.from('{"id":"b"}')), /being read/);
  spill.close();
});
