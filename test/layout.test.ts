/**
 * The layout a reader relies on agrees with the tree: README's "How it works" names every module of src/ (and
 * only files that exist), its "Repository layout" every top-level folder that git tracks (and only folders
 * that exist, with the files and folders it points at inside each); and test/unit has one test file per
 * module of src/, named after it (src/graph.ts: test/unit/graph.test.ts), and no other.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/** Repository root (this file runs from dist/test/). */
const ROOT = path.resolve(__dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The body of the README section under `## <heading>`, up to the next `## ` heading. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  assert.notEqual(start, -1, `README.md has a "## ${heading}" section`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

/** The cells of each table row of a section, header and separator rows left out. */
function tableRows(body: string): string[][] {
  return body
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .slice(1)
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
}

/** The `code` spans of a table cell. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
}

/** Files tracked by git, relative to the root, with forward slashes. */
function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
}

test('"How it works" lists every module of src/, and each module it lists exists', () => {
  const listed = tableRows(section('How it works'))
    .flatMap((row) => codeSpans(row[0] ?? ''))
    .filter((name) => name.startsWith('src/'));
  const modules = trackedFiles().filter((file) => file.startsWith('src/') && file.endsWith('.ts'));
  assert.ok(modules.length > 0, 'git lists the sources');
  assert.deepEqual([...listed].sort(), [...modules].sort(), 'the module table and src/ name the same files');
});

test('"Repository layout" lists every top-level folder, and what it names inside each exists', () => {
  const rows = tableRows(section('Repository layout'));
  const listed = rows.flatMap((row) => codeSpans(row[0] ?? ''));
  assert.ok(
    listed.every((name) => name.endsWith('/')),
    `folders are written with a trailing slash: ${listed.join(', ')}`,
  );
  const folders = new Set(
    trackedFiles()
      .filter((file) => file.includes('/'))
      .map((file) => `${file.slice(0, file.indexOf('/'))}/`),
  );
  assert.deepEqual([...listed].sort(), [...folders].sort(), 'the layout table and the tree name the same top-level folders');

  // A file or folder named in a row's description (`sim-tenant/`, `demo.ts`), inside that row's folder.
  const pathLike = /^[\w.-]+(?:\/[\w.-]+)*(?:\/|\.\w+)$/;
  for (const row of rows) {
    const [own = '', description = ''] = row;
    const bases = codeSpans(own);
    for (const name of codeSpans(description).filter((span) => pathLike.test(span))) {
      const found = bases.some((base) => fs.existsSync(path.join(ROOT, base, name)));
      assert.ok(found, `README "Repository layout": ${name} (in the row of ${bases.join(', ')}) exists there`);
    }
  }
});

test('"Tests" names every folder of test/ (and only paths that exist)', () => {
  const rows = tableRows(section('Tests'));
  const listed = rows.flatMap((row) => codeSpans(row[0] ?? ''));
  for (const name of listed) assert.ok(fs.existsSync(path.join(ROOT, name)), `README "Tests": ${name} exists`);
  const folders = new Set(
    trackedFiles()
      .filter((file) => /^test\/[^/]+\//.test(file))
      .map((file) => file.split('/').slice(0, 2).join('/') + '/'),
  );
  for (const folder of folders) assert.ok(listed.includes(folder), `README "Tests" lists ${folder}`);
});

test('test/unit has one test file per module of src/, named after it, and no other', () => {
  const files = trackedFiles();
  const modules = files
    .filter((file) => file.startsWith('src/') && file.endsWith('.ts'))
    .map((file) => file.slice('src/'.length, -'.ts'.length));
  const tests = [...new Set([...files, ...walk(path.join(ROOT, 'test', 'unit'), 'test/unit')])]
    .filter((file) => file.startsWith('test/unit/') && file.endsWith('.test.ts'))
    .map((file) => file.slice('test/unit/'.length, -'.test.ts'.length));
  assert.deepEqual([...tests].sort(), [...modules].sort(), 'test/unit/<module>.test.ts for each src/<module>.ts');
});

/** The files under a folder (also those not yet added to git), relative to the root. */
function walk(dir: string, relative: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? walk(path.join(dir, entry.name), `${relative}/${entry.name}`) : [`${relative}/${entry.name}`],
    );
}
