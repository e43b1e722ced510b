/**
 * page-scan.ts reads Graph pages without JSON.parse, so it must agree with JSON.parse: whatever it accepts,
 * JSON.parse accepts too, with the same users (each range parses to the parsed element) and the same next
 * link; whatever JSON.parse rejects, it rejects. Checked on hand-picked cases and on thousands of random
 * pages and byte-level mutations of them (seeded, so a failure reproduces).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scanUsersPage } from '../../src/page-scan.js';

const GRAPH = 'https://graph.microsoft.com';

/** The users the scan cuts out of `body` (sent as UTF-8, or as the given bytes), as text; undefined if it declined. */
function scannedTexts(body: string | Buffer): string[] | undefined {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const scanned = scanUsersPage(bytes);
  if (scanned === undefined) return undefined;
  const texts: string[] = [];
  for (let i = 0; i < scanned.ranges.length; i += 2) texts.push(bytes.toString('utf8', scanned.ranges[i], scanned.ranges[i + 1]));
  return texts;
}

/** What JSON.parse makes of the same bytes: the users' values and the next link, or undefined if it throws. */
function parsed(bytes: Buffer): { users: unknown[]; nextLink: unknown } | undefined {
  try {
    const page = JSON.parse(bytes.toString('utf8')) as { value?: unknown; '@odata.nextLink'?: unknown };
    return Array.isArray(page?.value) ? { users: page.value, nextLink: page['@odata.nextLink'] } : undefined;
  } catch {
    return undefined;
  }
}

/** The property every body must have: anything the scan accepts, JSON.parse reads the same way. */
function assertAgrees(bytes: Buffer, label: string): boolean {
  const scanned = scanUsersPage(bytes);
  if (scanned === undefined) return false;
  const reference = parsed(bytes);
  assert.ok(reference, `${label}: the scan accepted what JSON.parse rejects: ${JSON.stringify(bytes.toString('utf8').slice(0, 300))}`);
  assert.equal(scanned.ranges.length / 2, reference.users.length, `${label}: user count`);
  for (let i = 0; i < reference.users.length; i += 1) {
    const text = bytes.toString('utf8', scanned.ranges[2 * i], scanned.ranges[2 * i + 1]);
    assert.deepEqual(JSON.parse(text), reference.users[i], `${label}: user ${i}`);
  }
  const link = scanned.nextLink === undefined ? undefined : (JSON.parse(bytes.toString('utf8', scanned.nextLink.start, scanned.nextLink.end)) as unknown);
  assert.deepEqual(link, reference.nextLink, `${label}: next link`);
  return true;
}

test("each user's bytes are cut out of a page exactly as sent", () => {
  const users = [
    { id: '1', displayName: 'Zoë "Z" \\ O\'Brien', businessPhones: [], nested: { a: [1, { b: '}]' }] } },
    { id: '2', displayName: 'مرحبا 👩‍💻', mail: null, accountEnabled: true, n: -0.5e-7 },
    { id: '3', displayName: 'ends with a backslash \\', jobTitle: '[{', tab: '\t', u: '\u0000\u001f\u2028' },
  ];
  const texts = users.map((u) => JSON.stringify(u));
  const link = `${GRAPH}/v1.0/users?$skiptoken=a`;
  const body = `{"@odata.context":"${GRAPH}/v1.0/$metadata#users","@odata.nextLink":"${link}","value":[${texts.join(',')}]}`;
  assert.deepEqual(scannedTexts(body), texts);
  assert.equal(assertAgrees(Buffer.from(body), 'page'), true);
  // Spaces and tabs between tokens are JSON's, and kept.
  assert.deepEqual(scannedTexts(`{ "value" :\t[ ${texts[0]} , ${texts[1]} ] }`), texts.slice(0, 2));
  assert.deepEqual(scannedTexts('{"value":[]}'), []);
  assert.deepEqual(scannedTexts('{"value":[{}],"@odata.nextLink":null}'), ['{}']);
  // A string "value" before the real key does not confuse it; other top-level members are skipped.
  assert.deepEqual(scannedTexts(`{"x":"value","@odata.count":3,"y":[1,{"value":[]}],"value":[${texts[2]}]}`), [texts[2]]);
  const scanned = scanUsersPage(Buffer.from(body));
  assert.equal(JSON.parse(body.slice(scanned!.nextLink!.start, scanned!.nextLink!.end)), link);
});

test('it declines whatever it does not vouch for, and JSON.parse decides', () => {
  const u = '{"id":"1"}';
  const declined: Array<[string, string | Buffer]> = [
    ['no value array', '{"@odata.context":"x"}'],
    ['value not an array', '{"value":{}}'],
    ['an element that is not an object', '{"value":[1]}'],
    ['string elements', '{"value":["a"]}'],
    ['a duplicate value key', `{"value":[${u}],"value":[${u}]}`],
    ['a duplicate next link', '{"@odata.nextLink":"a","@odata.nextLink":"b","value":[]}'],
    // JSON.parse takes the last of duplicate keys, and "valu\u0065" is "value" to it.
    ['an escaped top-level key', `{"value":[${u}],"valu\\u0065":[{"id":"2"}]}`],
    ['a line break between tokens', `{"value":[\n${u}\n]}`],
    ['a carriage return', `{"value":[${u}]}\r`],
    ['nesting deeper than Graph has', `{"value":[${'{"a":'.repeat(40)}1${'}'.repeat(40)}]}`],
    ['a byte order mark', `\ufeff{"value":[${u}]}`],
    ['not an object', `[${u}]`],
    // Invalid UTF-8 decodes to U+FFFD: the text that would be parsed is not the bytes.
    ['bytes that are not UTF-8', Buffer.concat([Buffer.from('{"value":[{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')])],
  ];
  for (const [why, body] of declined) assert.equal(scanUsersPage(typeof body === 'string' ? Buffer.from(body) : body), undefined, why);

  const invalid = [
    '{"value":[{"id":01}]}', '{"value":[{"id":1.}]}', '{"value":[{"id":.5}]}', '{"value":[{"id":-}]}', '{"value":[{"id":1e}]}',
    '{"value":[{"id":1e+}]}', '{"value":[{"id":+1}]}', '{"value":[{"id":NaN}]}', '{"value":[{"id":Infinity}]}', '{"value":[{"id":tru}]}',
    '{"value":[{"id":nul}]}', '{"value":[{"id":True}]}', '{"value":[{"id":"a\tb"}]}', '{"value":[{"id":"a\u0001"}]}',
    '{"value":[{"id":"\\x41"}]}', '{"value":[{"id":"\\u12G4"}]}', '{"value":[{"id":"\\u12"}]}', '{"value":[{"id":"\\"}]}',
    '{"value":[{"id":"1"},]}', '{"value":[{"id":"1",}]}', '{"value":[{"id" "1"}]}', '{"value":[{id:"1"}]}', "{'value':[]}",
    '{"value":[{"id":"1"}]', '{"value":[{"id":"1"}]}}', '{"value":[{"id":"1"}]} {}', '{"value":[{"id":"1"}]},', '{"value":[{"id":"1"]}',
    '{"value":[{"id":"1"}}]', '{"value":[,{"id":"1"}]}', '{,"value":[]}', '{"value":[]', '{"value":[{"id":"1}]}', '',
  ];
  for (const body of invalid) {
    assert.equal(parsed(Buffer.from(body)), undefined, `JSON.parse rejects ${body}`);
    assert.equal(scanUsersPage(Buffer.from(body)), undefined, `the scan rejects ${body}`);
  }
});

/** mulberry32: a small seeded generator, so that every run checks the same pages. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'Z', ' ', '"', '\\', '/', '\t', '\n', '\u0000', '\u001f', '\u007f', 'é', 'ß', 'مرحبا', '👩‍💻', '🇫🇷', '\u2028', '\ud800', '}', ']', '{', '[', ',', ':', 'null', '#EXT#', '</script>'];
const NUMBERS = [0, -0, 1, -1, 42, 3.14, -2.5e-8, 1e21, 123456789012, 0.1, Number.MAX_SAFE_INTEGER];

function randomValue(next: () => number, depth: number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const r = next();
  if (depth > 3 || r < 0.35) return Array.from({ length: Math.floor(next() * 4) }, () => pick(PIECES)).join('');
  if (r < 0.5) return pick(NUMBERS);
  if (r < 0.6) return pick([true, false, null]);
  if (r < 0.8) return Array.from({ length: Math.floor(next() * 3) }, () => randomValue(next, depth + 1));
  return randomObject(next, depth + 1);
}

function randomObject(next: () => number, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.floor(next() * 5);
  for (let i = 0; i < n; i += 1) o[i === 0 ? 'id' : `${['p', 'value', 'q"', 'é'][Math.floor(next() * 4)]}${i}`] = randomValue(next, depth);
  return o;
}

/** A Graph-shaped page; `spaced` puts spaces and tabs between tokens as JSON allows. */
function randomPage(next: () => number, spaced: boolean): Buffer {
  const users = Array.from({ length: Math.floor(next() * 6) }, () => randomObject(next, 1));
  const page: Record<string, unknown> = { '@odata.context': `${GRAPH}/v1.0/$metadata#users` };
  if (next() < 0.7) page['@odata.nextLink'] = `${GRAPH}/v1.0/users?$skiptoken=${Math.floor(next() * 1e9)}`;
  page['value'] = users;
  let text = JSON.stringify(page);
  if (spaced) text = text.replace(/([{}[\],:])/g, (m) => (next() < 0.3 ? `${m}${next() < 0.5 ? ' ' : '\t'}` : m));
  return Buffer.from(text);
}

test('on random valid pages it always agrees with JSON.parse, and never declines a compact one', () => {
  const next = random(20261121);
  let accepted = 0;
  for (let i = 0; i < 2000; i += 1) {
    const spaced = i % 2 === 1;
    const bytes = randomPage(next, spaced);
    if (parsed(bytes) === undefined) continue; // spacing inside a string made it something else
    const ok = assertAgrees(bytes, `page ${i}`);
    // Graph's own shape (compact, no escaped top-level key): the scan must vouch for it.
    if (!spaced) assert.equal(ok, true, `declined a compact page: ${bytes.toString('utf8').slice(0, 300)}`);
    if (ok) accepted += 1;
  }
  assert.ok(accepted > 1500, `${accepted} of 2000 pages accepted`);
});

test('on random mutations of pages it never accepts what JSON.parse rejects, nor reads anything differently', () => {
  const next = random(7);
  const bytesOf = (s: string): number[] => [...Buffer.from(s)];
  const noise = [...bytesOf('{}[],:"\\ \t\n0123456789-+.eEtrufalsn/u'), 0x00, 0x1f, 0x7f, 0xc3, 0xa9, 0xff];
  let checked = 0;
  let accepted = 0;
  for (let i = 0; i < 600; i += 1) {
    const page = randomPage(next, i % 3 === 0);
    for (let m = 0; m < 25; m += 1) {
      const at = Math.floor(next() * page.length);
      const b = noise[Math.floor(next() * noise.length)]!;
      const kind = next();
      let mutant: Buffer;
      if (kind < 0.4) mutant = Buffer.concat([page.subarray(0, at), Buffer.from([b]), page.subarray(at + 1)]);
      else if (kind < 0.7) mutant = Buffer.concat([page.subarray(0, at), page.subarray(at + 1)]);
      else if (kind < 0.9) mutant = Buffer.concat([page.subarray(0, at), Buffer.from([b]), page.subarray(at)]);
      else mutant = Buffer.concat([page.subarray(0, at), page.subarray(Math.floor(next() * page.length))]);
      if (assertAgrees(mutant, `page ${i}, mutation ${m}`)) accepted += 1;
      checked += 1;
    }
  }
  // Many mutants stay valid JSON (a changed letter in a string): both paths are exercised.
  assert.ok(accepted > 1000 && accepted < checked, `${accepted} of ${checked} mutants accepted`);
});
