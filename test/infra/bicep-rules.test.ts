/**
 * Every posture / conventions rule of tools/bicep-check states where it comes from (tools/bicep-check/rules.ts):
 * a documented fact with its source, or our own choice labelled as such with why — and its findings say so.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { formatFinding } from '../../tools/bicep-check/index.js';
import { RULES } from '../../tools/bicep-check/rules.js';
import { check, infraSources, ROOT } from './helpers.js';

/**
 * The rule ids posture.ts (and credential.ts, which it calls with its reporter P) can report: P('x' → posture/x,
 * C('x' → conventions/x, expectLiteral(x, 'x' → posture/x (the id may start the next line: Prettier breaks long calls).
 */
function rulesInPosture(): string[] {
  const ids = new Set<string>();
  for (const file of ['posture.ts', 'credential.ts']) {
    const src = fs.readFileSync(path.join(ROOT, 'tools', 'bicep-check', file), 'utf8');
    for (const m of src.matchAll(/(?:\b(P|C)\(|\bexpectLiteral\(\w+,)\s*'([a-z-]+)'/g))
      ids.add(`${m[1] === 'C' ? 'conventions' : 'posture'}/${m[2]}`);
  }
  return [...ids].sort();
}

test('each rule posture.ts reports has a source, and rules.ts lists no other', () => {
  assert.deepEqual(rulesInPosture(), Object.keys(RULES).sort());
});

test('a documented rule names its doc or official sample; our own choices say why', () => {
  for (const [rule, s] of Object.entries(RULES)) {
    if (s.kind === 'doc') assert.match(s.source, /https:\/\/learn\.microsoft\.com\/|Azure-Samples\/|README "/, rule);
    else assert.ok(s.why.length >= 10, `${rule}: why`);
  }
});

test("findings carry their rule's source", async () => {
  const base = infraSources();
  const report = await check({
    ...base,
    'modules/storage.bicep': base['modules/storage.bicep']!.replace('allowSharedKeyAccess: false', 'allowSharedKeyAccess: true'),
  });
  const f = report.findings.find((x) => x.rule === 'posture/storage-shared-key');
  assert.ok(f);
  assert.match(
    formatFinding(f),
    /\(our choice: Entra ID only, no account keys \(docs\/deploy\.md "What gets deployed"\); see https:\/\/learn\.microsoft\.com\/azure\/storage\/blobs\/security-recommendations\)$/,
  );
});
