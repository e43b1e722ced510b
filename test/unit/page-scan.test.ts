/**
 * page-scan.ts is the only reader of Graph pages, so it must agree with JSON.parse: whatever JSON.parse reads
 * as a page (valid UTF-8, an object whose `value` is an array of objects) it reads too, with the same users
 * (each stored text parses to the parsed element) and the same next link; whatever JSON.parse rejects, it
 * rejects. Checked on hand-picked cases and on thousands of random pages — compact, and with JSON whitespace
 * anywhere (then each stored user must be exactly the compact text of the same tokens) — and byte-level
 * mutations of them (seeded, so a failure reproduces). The JSON conformance cases are in page-conformance.test.ts.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { test } from 'node:test';
import { PageFormatError, scanUsersPage } from '../../src/page-scan.js';

const GRAPH = 'https://graph.microsoft.com';

/** The users the scan stores from `body` (sent as UTF-8, or as the given bytes), as text, and its next link. */
function scan(body: string | Buffer): { texts: string[]; nextLink: unknown } {
  // A copy: the scan compacts users in place, and callers compare with the original.
  const bytes = Buffer.from(typeof body === 'string' ? Buffer.from(body) : body);
  const scanned = scanUsersPage(bytes);
  const texts: string[] = [];
  for (let i = 0; i < scanned.ranges.length; i += 2) texts.push(bytes.toString('utf8', scanned.ranges[i], scanned.ranges[i + 1]));
  const nextLink = scanned.nextLink === undefined ? undefined : (JSON.parse(bytes.toString('utf8', scanned.nextLink.start, scanned.nextLink.end)) as unknown);
  return { texts, nextLink };
}

/** The message of the scan's refusal of `body`; fails the test if it reads the page. */
function refusal(body: string | Buffer): string {
  try {
    scan(body);
  } catch (e) {
    assert.ok(e instanceof PageFormatError, `a PageFormatError, not ${String(e)}`);
    return e.message;
  }
  return assert.fail(`the scan read ${JSON.stringify(String(body).slice(0, 200))}`);
}

const isPlainObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What a page is by JSON.parse: the users' values and the next link, or undefined when it is no page (not
 * UTF-8 — JSON.parse would read U+FFFD in its place —, not JSON, not an object with `value` an array of objects).
 */
function parsed(bytes: Buffer): { users: unknown[]; nextLink: unknown } | undefined {
  if (!isUtf8(bytes)) return undefined;
  try {
    const page = JSON.parse(bytes.toString('utf8')) as unknown;
    if (!isPlainObject(page)) return undefined;
    const { value, '@odata.nextLink': nextLink } = page as { value?: unknown; '@odata.nextLink'?: unknown };
    return Array.isArray(value) && value.every(isPlainObject) ? { users: value, nextLink } : undefined;
  } catch {
    return undefined;
  }
}

/** The property every body must have: the scan reads exactly what JSON.parse reads as a page, the same way. */
function assertAgrees(bytes: Buffer, label: string): boolean {
  const reference = parsed(bytes);
  let read: { texts: string[]; nextLink: unknown };
  try {
    read = scan(bytes);
  } catch (e) {
    if (!(e instanceof PageFormatError)) throw e;
    if (reference !== undefined) {
      // The one refusal JSON.parse does not share: a name it would silently take the last of.
      const duplicate = /two members named "(value|@odata\.nextLink)"/.exec(e.message);
      assert.ok(duplicate, `${label}: refused what JSON.parse reads as a page (${e.message}): ${JSON.stringify(bytes.toString('utf8').slice(0, 300))}`);
      assert.ok(bytes.toString('utf8').split(`"${duplicate[1]}"`).length > 2, `${label}: no second "${duplicate[1]}" in the page`);
    }
    return false;
  }
  assert.ok(reference, `${label}: the scan read what is no page to JSON.parse: ${JSON.stringify(bytes.toString('utf8').slice(0, 300))}`);
  assert.equal(read.texts.length, reference.users.length, `${label}: user count`);
  for (let i = 0; i < reference.users.length; i += 1) {
    assert.deepEqual(JSON.parse(read.texts[i]!), reference.users[i], `${label}: user ${i}`);
    assert.doesNotMatch(read.texts[i]!, /[\n\r]/, `${label}: user ${i} is one line`);
  }
  assert.deepEqual(read.nextLink, reference.nextLink, `${label}: next link`);
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
  assert.deepEqual(scan(body), { texts, nextLink: link });
  assert.equal(assertAgrees(Buffer.from(body), 'page'), true);
  // Whitespace between the users and around the page is not theirs.
  assert.deepEqual(scan(`\r\n { "value" :\t[\n ${texts[0]} ,\r\n${texts[1]} ] }\n`).texts, texts.slice(0, 2));
  assert.deepEqual(scan('{"value":[]}').texts, []);
  assert.deepEqual(scan('{"value":[{}],"@odata.nextLink":null}'), { texts: ['{}'], nextLink: null });
  // A string "value" before the real name does not confuse it; other top-level members are skipped.
  assert.deepEqual(scan(`{"x":"value","@odata.count":3,"y":[1,{"value":[]}],"value":[${texts[2]}]}`).texts, [texts[2]]);
});

test('numbers, escapes and names are stored as Graph sent them, also when the page has line breaks', () => {
  // JSON.parse + JSON.stringify would store 0, 1.2345678901234568e+22, null, 1e+21, "é", and lose the \/.
  const user = String.raw`{"id":"1","a":-0,"b":12345678901234567890123,"c":1e400,"d":1E+21,"e":"\u00e9\/","f":0.10,"g":-1.5e-0}`;
  assert.deepEqual(scan(`{"value":[${user}]}\n`).texts, [user], 'one trailing newline');
  assert.deepEqual(scan(`{"value":[${user}]}\r\n`).texts, [user], 'a trailing CRLF');
  assert.deepEqual(scan(`{\n  "value": [\n    ${user}\n  ]\n}\n`).texts, [user], 'users on lines of their own');
});

test('a pretty-printed page is read, each user stored compact with every token as sent', () => {
  const users = [
    { id: '1', displayName: 'A  B\tC', businessPhones: ['+1 555 0100', ' '], manager: { id: 'm', nested: [[], {}, [{ a: null }]] } },
    { id: '2', n: -0, big: 1e21, small: -2.5e-8, t: true, f: false, empty: '' },
  ];
  const link = `${GRAPH}/v1.0/users?$skiptoken=b`;
  for (const indent of [2, 4, '\t']) {
    const page = JSON.stringify({ '@odata.context': `${GRAPH}/v1.0/$metadata#users`, '@odata.nextLink': link, value: users }, null, indent);
    for (const text of [page, `${page}\n`, page.replace(/\n/g, '\r\n')]) {
      assert.deepEqual(scan(text), { texts: users.map((u) => JSON.stringify(u)), nextLink: link }, `indent ${JSON.stringify(indent)}`);
    }
  }
  // Hand-written: whitespace in strings stays, whitespace between tokens goes, names and numbers untouched.
  const sent = '{ "value" : [ {\r\n\t"id" :"1" , "s": " a \\t b ",\n"n"\t:\t-0.0E-00 , "a" : [ 1 , [ ] , { } ] , "q\\"" : " } ] { [ : , " } ] }';
  assert.deepEqual(scan(sent).texts, ['{"id":"1","s":" a \\t b ","n":-0.0E-00,"a":[1,[],{}],"q\\"":" } ] { [ : , "}']);
});

test('a page that is not one is a PageFormatError saying why, whatever JSON.parse would make of it', () => {
  const u = '{"id":"1"}';
  const refused: Array<[string, string | Buffer, RegExp]> = [
    ['no value array', '{"@odata.context":"x"}', /no 'value' array/],
    ['an empty object', '{}', /no 'value' array/],
    ['value not an array', '{"value":{}}', /'value' that is not an array/],
    ['value null', '{"value":null}', /'value' that is not an array/],
    ['a number element', `{"value":[${u},1]}`, /element 1 \(byte \d+\) is a number/],
    ['a string element', '{"value":["a"]}', /element 0 .* is a string/],
    ['a null element', `{"value":[${u},null]}`, /element 1 .* is null/],
    ['an array element', '{"value":[[]]}', /element 0 .* is an array/],
    ['a boolean element', '{"value":[true]}', /element 0 .* is a boolean/],
    ['a duplicate value', `{"value":[${u}],"value":[${u}]}`, /two members named "value"/],
    ['a duplicate next link', '{"@odata.nextLink":"a","@odata.nextLink":"b","value":[]}', /two members named "@odata\.nextLink"/],
    // JSON.parse would take the second, which "valu\u0065" is: the page is ambiguous.
    ['an escaped duplicate of value', `{"value":[${u}],"valu\\u0065":[{"id":"2"}]}`, /two members named "value"/],
    ['an escaped duplicate of the next link', '{"@odata.nextLink":"a","@odata.next\\u004cink":"b","value":[]}', /two members named "@odata\.nextLink"/],
    ['a top-level array', `[${u}]`, /not an object/],
    ['a top-level string', '"value"', /not an object/],
    ['an empty body', '', /empty/],
    ['only whitespace', ' \r\n\t', /empty/],
    ['a byte order mark', `\ufeff{"value":[${u}]}`, /byte order mark/],
    ['U+00A0 before the page', `\u00a0{"value":[${u}]}`, /not valid JSON: byte 0 is 0xc2/],
    ['a form feed between tokens', `{"value":[${u}\f]}`, /not valid JSON/],
    ['trailing garbage', `{"value":[${u}]}x`, /after the end of the page's object|not valid JSON/],
    ['a cut-off page', `{"value":[${u}`, /ends \(after \d+ bytes\)/],
    // Invalid UTF-8 decodes to U+FFFD: the text JSON.parse would read is not the bytes.
    ['bytes that are not UTF-8', Buffer.concat([Buffer.from('{"value":[{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]), /not valid UTF-8/],
    ['a syntax error after a non-object element', '{"value":[1,]}', /not valid JSON/],
  ];
  for (const [why, body, message] of refused) assert.match(refusal(body), message, why);
});

test('top-level names are read by their meaning: escaped names are decoded', () => {
  assert.deepEqual(scan('{"valu\\u0065":[{"id":"1"}],"@odata.next\\u004Cink":"https:\\/\\/x"}'), { texts: ['{"id":"1"}'], nextLink: 'https://x' });
  // Other top-level members are not read: their duplicates do not matter.
  assert.deepEqual(scan('{"@odata.context":"a","@odata.context":"b","value":[]}').texts, []);
  // Duplicates inside a user are stored as sent.
  assert.deepEqual(scan('{"value":[{"id":"1","id":"2"}]}').texts, ['{"id":"1","id":"2"}']);
});

test('nesting is limited only by the page: 100,000 levels are read without recursion, compacted exactly', () => {
  const depth = 100_000;
  const deep = `${'[{"a":'.repeat(depth)}1${'}]'.repeat(depth)}`;
  const spacedDeep = `${'[ {"a" :\n'.repeat(depth)}1${' }\t]'.repeat(depth)}`;
  assert.deepEqual(scan(`{"value":[{"d":${deep}}]}`).texts, [`{"d":${deep}}`]);
  assert.deepEqual(scan(`{"value":[{"d":${spacedDeep}}]}`).texts, [`{"d":${deep}}`]);
  assert.deepEqual(scan(`{"other":${spacedDeep},"value":[]}`).texts, []);
  assert.match(refusal(`{"value":[{"d":${deep.slice(0, -1)}}]}`), /not valid JSON/);
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

/** JSON whitespace (RFC 8259 §2) between tokens, at random: mostly none, sometimes runs of all four kinds. */
function randomWhitespace(next: () => number): () => string {
  return () => (next() < 0.6 ? '' : Array.from({ length: 1 + Math.floor(next() * 3) }, () => [' ', '\t', '\n', '\r\n', '  '][Math.floor(next() * 5)]).join(''));
}

/** JSON.stringify's tokens, with `ws()` between every two of them (never inside one). */
function spacedJson(v: unknown, ws: () => string): string {
  if (Array.isArray(v)) return v.length === 0 ? `[${ws()}]` : `[${ws()}${v.map((x) => spacedJson(x, ws)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (isPlainObject(v)) {
    const members = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${spacedJson(x, ws)}`);
    return members.length === 0 ? `{${ws()}}` : `{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(v);
}

/** A Graph-shaped page and its users; `spaced` puts JSON whitespace between tokens anywhere, as JSON allows. */
function randomPage(next: () => number, spaced: boolean): { bytes: Buffer; users: Array<Record<string, unknown>> } {
  const users = Array.from({ length: Math.floor(next() * 6) }, () => randomObject(next, 1));
  const page: Record<string, unknown> = { '@odata.context': `${GRAPH}/v1.0/$metadata#users` };
  if (next() < 0.7) page['@odata.nextLink'] = `${GRAPH}/v1.0/users?$skiptoken=${Math.floor(next() * 1e9)}`;
  page['value'] = users;
  const ws = randomWhitespace(next);
  return { bytes: Buffer.from(spaced ? `${ws()}${spacedJson(page, ws)}${ws()}` : JSON.stringify(page)), users };
}

test('on random valid pages, compact or with whitespace anywhere, each user is stored as its compact tokens', () => {
  const next = random(20261121);
  for (let i = 0; i < 2000; i += 1) {
    const { bytes, users } = randomPage(next, i % 2 === 1);
    assert.equal(assertAgrees(bytes, `page ${i}`), true, `page ${i} was refused: ${bytes.toString('utf8').slice(0, 300)}`);
    // Exact bytes, not only equal values: whitespace between tokens removed, every token as sent.
    assert.deepEqual(scan(bytes).texts, users.map((u) => JSON.stringify(u)), `page ${i}`);
  }
});

test('on random mutations of pages it never accepts what JSON.parse rejects, nor reads anything differently', () => {
  const next = random(7);
  const bytesOf = (s: string): number[] => [...Buffer.from(s)];
  const noise = [...bytesOf('{}[],:"\\ \t\n\r0123456789-+.eEtrufalsn/u'), 0x00, 0x0c, 0x1f, 0x7f, 0xa0, 0xc2, 0xc3, 0xa9, 0xef, 0xbb, 0xbf, 0xff];
  let checked = 0;
  let accepted = 0;
  for (let i = 0; i < 600; i += 1) {
    const page = randomPage(next, i % 3 === 0).bytes;
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
