/**
 * The error catalogue (src/errors.ts ErrorMessages) and README.md's "Troubleshooting" table agree: every code a
 * user can read has a row, every code a row names is in the catalogue, and a row that states an exit code
 * states the code's own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ErrorMessages, ExportError, type ExportErrorCode } from '../../src/errors.js';

interface Row {
  what: string;
  codes: string[];
  read: string;
}

function troubleshootingRows(): Row[] {
  const readme = readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Troubleshooting'), readme.indexOf('\n## ', readme.indexOf('## Troubleshooting') + 1));
  const lines = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| what went wrong'));
  return lines.map((line) => {
    const cells = line.split(' | ');
    return { what: cells[0]!.slice(2), codes: [...cells[1]!.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!), read: cells[2]! };
  });
}

test('every catalogue code has a row in the README Troubleshooting table, and every row names catalogue codes', () => {
  const rows = troubleshootingRows();
  assert.ok(rows.length > 0, 'the Troubleshooting table is found');
  const catalogue = new Set(Object.keys(ErrorMessages));
  for (const row of rows) {
    assert.ok(row.codes.length > 0, `row '${row.what}' names its code`);
    for (const code of row.codes) assert.ok(catalogue.has(code), `row '${row.what}' names '${code}', which is not in the catalogue`);
  }
  const documented = new Set(rows.flatMap((r) => r.codes));
  for (const code of catalogue) assert.ok(documented.has(code), `catalogue code '${code}' has no row in README.md's Troubleshooting table`);
});

test("a row that states an exit code states its codes' exit code", () => {
  for (const row of troubleshootingRows()) {
    const stated = /\(exit (\d)\)/.exec(row.read)?.[1];
    if (stated === undefined) continue;
    for (const code of row.codes)
      assert.equal(new ExportError(code as ExportErrorCode, '').exitCode, Number(stated), `row '${row.what}', code ${code}`);
  }
});
