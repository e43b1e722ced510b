/**
 * page-scan.ts is the only reader of Graph pages, so it must agree with JSON.parse: whatever JSON.parse reads
 * as a page (valid UTF-8, an object whose `value` is an array of objects) it reads too, with the same users
 * (each stored text parses to the parsed element) and the same next link; whatever JSON.parse rejects, it
 * rejects. Checked on hand-picked cases and on thousands of random pages — compact, and with JSON whitespace
 * anywhere (then each stored user must be exactly the compact text of the same tokens) — and byte-level
 * mutations of them (seeded, so a failure reproduces). The JSON conformance cases follow, after their own notes.
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
  const nextLink =
    scanned.nextLink === undefined
      ? undefined
      : (JSON.parse(bytes.toString('utf8', scanned.nextLink.start, scanned.nextLink.end)) as unknown);
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
      assert.ok(
        duplicate,
        `${label}: refused what JSON.parse reads as a page (${e.message}): ${JSON.stringify(bytes.toString('utf8').slice(0, 300))}`,
      );
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
  const sent =
    '{ "value" : [ {\r\n\t"id" :"1" , "s": " a \\t b ",\n"n"\t:\t-0.0E-00 , "a" : [ 1 , [ ] , { } ] , "q\\"" : " } ] { [ : , " } ] }';
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
    [
      'an escaped duplicate of the next link',
      '{"@odata.nextLink":"a","@odata.next\\u004cink":"b","value":[]}',
      /two members named "@odata\.nextLink"/,
    ],
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
    [
      'bytes that are not UTF-8',
      Buffer.concat([Buffer.from('{"value":[{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]),
      /not valid UTF-8/,
    ],
    ['a syntax error after a non-object element', '{"value":[1,]}', /not valid JSON/],
  ];
  for (const [why, body, message] of refused) assert.match(refusal(body), message, why);
});

test('top-level names are read by their meaning: escaped names are decoded', () => {
  assert.deepEqual(scan('{"valu\\u0065":[{"id":"1"}],"@odata.next\\u004Cink":"https:\\/\\/x"}'), {
    texts: ['{"id":"1"}'],
    nextLink: 'https://x',
  });
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

const PIECES = [
  'a',
  'Z',
  ' ',
  '"',
  '\\',
  '/',
  '\t',
  '\n',
  '\u0000',
  '\u001f',
  '\u007f',
  'é',
  'ß',
  'مرحبا',
  '👩‍💻',
  '🇫🇷',
  '\u2028',
  '\ud800',
  '}',
  ']',
  '{',
  '[',
  ',',
  ':',
  'null',
  '#EXT#',
  '</script>',
];
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
  return () =>
    next() < 0.6
      ? ''
      : Array.from({ length: 1 + Math.floor(next() * 3) }, () => [' ', '\t', '\n', '\r\n', '  '][Math.floor(next() * 5)]).join('');
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
    assert.deepEqual(
      scan(bytes).texts,
      users.map((u) => JSON.stringify(u)),
      `page ${i}`,
    );
  }
});

test('on random mutations of pages it never accepts what JSON.parse rejects, nor reads anything differently', () => {
  const next = random(7);
  const bytesOf = (s: string): number[] => [...Buffer.from(s)];
  const noise = [
    ...bytesOf('{}[],:"\\ \t\n\r0123456789-+.eEtrufalsn/u'),
    0x00,
    0x0c,
    0x1f,
    0x7f,
    0xa0,
    0xc2,
    0xc3,
    0xa9,
    0xef,
    0xbb,
    0xbf,
    0xff,
  ];
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

// ---------------------------------------------------------------------------------------------------------
// JSON conformance of page-scan.ts, in the manner of the standard parser test suites: `y` cases are JSON
// (RFC 8259) and must be read, `n` cases are not and must be refused, `i` cases are ones RFC 8259 leaves to
// the implementation — each says what we do and why. The cases are written here (not copied from any suite).
//
// How a case is put in a page: a value-level case T is the value of a user's member, `{"value":[{"x":T}]}`
// (and, when T is an object, also a user itself, `{"value":[T]}`); a page-level case is the whole body. A read
// case must store the user with JSON's whitespace between tokens removed and nothing else changed: exactly
// `{"x":T}` when T has no whitespace byte, else the same bytes once all whitespace is dropped, the same value
// to JSON.parse, and one line. A refused case must be refused by JSON.parse as well (checking the table),
// unless its bytes are not UTF-8 (which JSON.parse cannot see: it reads U+FFFD in their place).
//
// Our `i` choices:
// - numbers of any size or precision (`1e400`, `12345678901234567890123`, `1e-400`): read, stored as sent.
//   §6 lets an implementation limit range and precision; we never convert a number, so need no limit.
// - escapes of lone or reversed surrogates (`"\uD800"`) and of noncharacters (`"\uFFFF"`): read, stored as
//   sent. §8.2 calls their behaviour unpredictable; the grammar allows them, and we keep the escape as is.
// - duplicate names inside a user: read, stored as sent (§4: unpredictable for a reader of the value; we do
//   not read it). Duplicate `value` or `@odata.nextLink` at the top: refused (see page-scan.ts).
// - nesting: any depth (§9 allows a limit; we need none: no recursion).
// - bytes that are not UTF-8 (overlong forms, encoded surrogates, beyond U+10FFFF, truncated sequences,
//   stray continuation bytes), UTF-16 text, a byte order mark: refused. §8.1: JSON exchanged between systems
//   MUST be UTF-8 and MUST NOT start with a BOM; storing U+FFFD instead of what was sent is not exact.

type Text = string | Buffer;

/** Value-level cases that are JSON. */
const Y_VALUES: Array<[string, Text]> = [
  // arrays
  ['empty array', '[]'],
  ['empty array with whitespace', '[ \t\r\n]'],
  ['nested empty arrays', '[[],[[]]]'],
  ['array of numbers', '[1,2,3]'],
  ['array of mixed values', '["a",null,true,false,0,{}]'],
  ['array with whitespace everywhere', ' [ 1 , [ 2 , [ 3 ] ] ] '],
  ['array of objects', '[{"a":[]},{}]'],
  ['array with line breaks', '[\n1,\r\n2\r]'],
  // objects
  ['empty object', '{}'],
  ['empty object with whitespace', '{ \n }'],
  ['one member', '{"a":1}'],
  ['empty name', '{"":0}'],
  ['deep objects', '{"a":{"b":{"c":{}}}}'],
  ['two members', '{"a":1,"b":2}'],
  ['whitespace around names, colons and commas', '{ "a" : 1 , "b" : [ ] }'],
  ['escaped name', String.raw`{"\u00e9\n":1}`],
  ['raw non-ASCII name', '{"é中😀":1}'],
  ['brackets inside strings', String.raw`{"a":"}","b":"]","c":"{[","d":"\"}"}`],
  ['JSON inside a string', String.raw`{"a":"{\"b\": [1, 2]}"}`],
  // numbers
  ['zero', '0'],
  ['negative zero', '-0'],
  ['one', '1'],
  ['minus one', '-1'],
  ['integer', '123'],
  ['fraction', '1.5'],
  ['negative fraction', '-1.5'],
  ['zero point zero', '0.0'],
  ['negative zero point zero', '-0.0'],
  ['exponent', '1e10'],
  ['capital exponent', '1E10'],
  ['exponent with plus', '1e+10'],
  ['negative exponent', '1e-10'],
  ['fraction and exponent', '1.5e-10'],
  ['zero exponent', '0e0'],
  ['capital zero exponent with plus', '0E+0'],
  ['negative zero with negative exponent', '-0e-0'],
  ['exponent with leading zeros', '1e001'],
  ['trailing zeros kept', '0.10'],
  ['fraction with exponent', '123.456e78'],
  ['beyond 2^53', '9007199254740993'],
  // strings
  ['empty string', '""'],
  ['space', '" "'],
  ['spaces kept', '"  a  b  "'],
  ['escaped quote', String.raw`"\""`],
  ['escaped backslash', String.raw`"\\"`],
  ['escaped slash', String.raw`"\/"`],
  ['control escapes', String.raw`"\b\f\n\r\t"`],
  ['escaped NUL', String.raw`"\u0000"`],
  ['escaped unit separator', String.raw`"\u001f"`],
  ['escaped ASCII', String.raw`"\u0041"`],
  ['escaped capital hex', String.raw`"\u00E9\u00e9"`],
  ['escaped surrogate pair', String.raw`"\uD83D\uDE00"`],
  ['raw two-byte UTF-8', '"é"'],
  ['raw three-byte UTF-8', '"中文"'],
  ['raw four-byte UTF-8', '"😀"'],
  ['escaped line and paragraph separators', String.raw`"\u2028\u2029"`],
  ['raw line and paragraph separators', '"\u2028\u2029"'],
  ['raw DEL', '"\u007f"'],
  ['raw U+FFFD', '"\ufffd"'],
  ['raw no-break space inside a string', '"a\u00a0b"'],
  ['apostrophe', `"'"`],
  ['escaped backslash before a quote', String.raw`"a\\\"b"`],
  ['escaped closing tag', String.raw`"<\/script>"`],
  ['escaped quote by code', String.raw`"\u0022"`],
  ['string ending in an escaped backslash', String.raw`"a\\"`],
  // literals
  ['true', 'true'],
  ['false', 'false'],
  ['null', 'null'],
  // whitespace
  ['all four whitespace characters in an array', '[ \t\n\r1 \t\n\r]'],
  ['all four whitespace characters in an object', '{ \t\n\r"a" \t\n\r: \t\n\r1 \t\n\r}'],
];

/** Value-level cases that are not JSON. */
const N_VALUES: Array<[string, Text]> = [
  // arrays
  ['unclosed array', '['],
  ['close without open', ']'],
  ['trailing comma in array', '[1,]'],
  ['leading comma in array', '[,1]'],
  ['double comma in array', '[1,,2]'],
  ['missing comma in array', '[1 2]'],
  ['colon in array', '[1:2]'],
  ['array closed by brace', '[1}'],
  ['unclosed array with a string', '["a"'],
  ['inner array unclosed', '[[]'],
  ['extra close', '[]]'],
  ['only a comma', '[,]'],
  ['comma and whitespace', '[ , ]'],
  // objects
  ['unclosed object', '{'],
  ['name without value', '{"a"}'],
  ['colon without value', '{"a":}'],
  ['missing colon', '{"a" 1}'],
  ['unquoted name', '{a:1}'],
  ['single-quoted name', "{'a':1}"],
  ['trailing comma in object', '{"a":1,}'],
  ['leading comma in object', '{,"a":1}'],
  ['double comma in object', '{"a":1,,"b":2}'],
  ['double colon', '{"a"::1}'],
  ['number as name', '{1:1}'],
  ['null as name', '{null:1}'],
  ['missing comma in object', '{"a":1 "b":2}'],
  ['object closed by bracket', '{"a":1]'],
  ['equals instead of colon', '{"a"=1}'],
  ['semicolon instead of comma', '{"a":1;"b":2}'],
  ['block comment', '{"a":/*c*/1}'],
  ['line comment', '{"a":1//c\n}'],
  // numbers
  ['leading zero', '01'],
  ['negative leading zero', '-01'],
  ['double zero', '00'],
  ['leading zero with fraction', '012.5'],
  ['dot without digits', '1.'],
  ['fraction without integer', '.5'],
  ['negative fraction without integer', '-.5'],
  ['plus sign', '+1'],
  ['minus alone', '-'],
  ['double minus', '--1'],
  ['minus then space', '- 1'],
  ['exponent without digits', '1e'],
  ['exponent with plus and no digits', '1e+'],
  ['exponent with minus and no digits', '1e-'],
  ['capital exponent without digits', '1E'],
  ['dot then exponent', '1.e1'],
  ['zero dot then exponent', '0.e1'],
  ['two dots', '1.2.3'],
  ['fractional exponent', '1e1.5'],
  ['two exponents', '1e1e1'],
  ['hexadecimal', '0x1'],
  ['capital hexadecimal', '0X1F'],
  ['NaN', 'NaN'],
  ['negative NaN', '-NaN'],
  ['Infinity', 'Infinity'],
  ['negative Infinity', '-Infinity'],
  ['digit separator', '1_000'],
  ['space inside a number', '1 000'],
  ['fullwidth digit', '１'],
  ['letter after exponent', '1ea'],
  ['dot alone', '.'],
  ['exponent alone', 'e1'],
  ['zero with empty exponent', '0e'],
  ['exponent then fraction', '1.5e'],
  // strings
  ['unterminated string', '"abc'],
  ['single-quoted string', "'a'"],
  ['raw tab in a string', '"a\tb"'],
  ['raw line feed in a string', '"a\nb"'],
  ['raw carriage return in a string', '"a\rb"'],
  ['raw NUL in a string', '"a\u0000b"'],
  ['raw unit separator in a string', '"\u001f"'],
  ['unknown escape x', String.raw`"\x41"`],
  ['unknown escape a', String.raw`"\a"`],
  ['escaped apostrophe', String.raw`"\'"`],
  ['escaped zero', String.raw`"\0"`],
  ['capital U escape', String.raw`"\U0041"`],
  ['u escape without digits', String.raw`"\u"`],
  ['u escape with one digit', String.raw`"\u1"`],
  ['u escape with two digits', String.raw`"\u12"`],
  ['u escape with three digits', String.raw`"\u123"`],
  ['u escape with a non-hex digit', String.raw`"\u12G4"`],
  ['second half of a pair cut', String.raw`"\uD83D\u"`],
  ['backslash at the end', '"\\'],
  ['escaped closing quote, unterminated', String.raw`"a\"`],
  ['backslash then space', String.raw`"\ "`],
  ['escaped raw line feed', '"\\\n"'],
  // literals
  ['tru', 'tru'],
  ['nul', 'nul'],
  ['fals', 'fals'],
  ['capital True', 'True'],
  ['NULL', 'NULL'],
  ['FALSE', 'FALSE'],
  ['true with a suffix', 'truex'],
  ['null with a suffix', 'nulll'],
  ['undefined', 'undefined'],
  ['t', 't'],
  // whitespace that is not JSON's, between tokens
  ['form feed', '[\f1]'],
  ['vertical tab', '[\v1]'],
  ['no-break space', '[\u00a01]'],
  ['line separator', '[\u20281]'],
  ['paragraph separator', '[\u20291]'],
  ['zero width no-break space', '[\ufeff1]'],
  ['zero width space', '[\u200b1]'],
  ['ideographic space', '[\u30001]'],
  ['no-break space after a value', '[1\u00a0]'],
  // structure
  ['no value', ''],
  ['only whitespace', ' '],
  ['two numbers', '1 2'],
  ['two strings', '"a" "b"'],
  ['two arrays', '[] []'],
  ['two objects', '{}{}'],
  ['hash', '#'],
  ['HTML', '<html>'],
  ['comment before a value', '/**/1'],
];

/** Page-level cases that are pages. */
const Y_PAGES: Array<[string, Text, number]> = [
  ['empty value', '{"value":[]}', 0],
  ['spaces around the page', ' {"value":[]} ', 0],
  ['line breaks around the page', '\r\n{"value":[]}\r\n', 0],
  ['another member after value', '{"value":[],"@odata.count":0}', 0],
  ['context then value', '{"@odata.context":"x","value":[{}]}', 1],
  ['whitespace between users', '{"value" : [ { } , { } ] }', 2],
  ['escaped name value', String.raw`{"valu\u0065":[{}]}`, 1],
];

/** Page-level cases that are not JSON. */
const N_PAGES: Array<[string, Text]> = [
  ['empty body', ''],
  ['a space', ' '],
  ['a line break', '\r\n'],
  ['byte order mark', '\ufeff{"value":[]}'],
  ['trailing U+FEFF', '{"value":[]}\ufeff'],
  ['trailing letter', '{"value":[]}x'],
  ['extra brace', '{"value":[]}}'],
  ['second object', '{"value":[]} {}'],
  ['trailing comma', '{"value":[]},'],
  ['trailing NUL', '{"value":[]}\u0000'],
  ['trailing form feed', '{"value":[]}\f'],
  ['leading no-break space', '\u00a0{"value":[]}'],
  ['unclosed page', '{"value":[]'],
  ['unclosed value', '{"value":[}'],
  ['name without value', '{"value"}'],
  ['trailing comma in page', '{"value":[],}'],
  ['unquoted value name', '{value:[]}'],
  ['single-quoted value name', "{'value':[]}"],
  ['trailing block comment', '{"value":[]}/* */'],
  ['trailing line comment', '{"value":[]}//'],
];

const bytes = (...b: number[]): Buffer => Buffer.from(b);
const inString = (...b: number[]): Buffer => Buffer.concat([Buffer.from('"a'), bytes(...b), Buffer.from('b"')]);

/** Implementation-defined cases: what we do. */
const I_VALUES: Array<[string, Text, 'read' | 'refuse']> = [
  ['huge exponent', '1e400', 'read'],
  ['huge negative', '-1e400', 'read'],
  ['tiny exponent', '1e-400', 'read'],
  ['very huge exponent', '123123e100000', 'read'],
  ['big integer', '12345678901234567890123', 'read'],
  ['below int64', '-9223372036854775809', 'read'],
  ['many digits after the point', `0.${'0'.repeat(80)}1`, 'read'],
  ['escaped lone high surrogate', String.raw`"\uD800"`, 'read'],
  ['escaped lone low surrogate', String.raw`"\uDFFF"`, 'read'],
  ['two escaped high surrogates', String.raw`"\uD800\uD800"`, 'read'],
  ['escaped reversed pair', String.raw`"\uDC00\uD800"`, 'read'],
  ['escaped high surrogate then text', String.raw`"\uD800abc"`, 'read'],
  ['escaped noncharacter FFFE', String.raw`"\uFFFE"`, 'read'],
  ['escaped noncharacter FFFF', String.raw`"\uFFFF"`, 'read'],
  ['raw U+FFFF (valid UTF-8)', inString(0xef, 0xbf, 0xbf), 'read'],
  ['raw U+10FFFF (valid UTF-8)', inString(0xf4, 0x8f, 0xbf, 0xbf), 'read'],
  ['duplicate names inside a user', '{"a":1,"a":2}', 'read'],
  ['10,000 nested arrays', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, 'read'],
  ['10,000 nested objects', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, 'read'],
  ['byte FF', inString(0xff), 'refuse'],
  ['byte FE', inString(0xfe), 'refuse'],
  ['stray continuation byte', inString(0x80), 'refuse'],
  ['overlong two-byte /', inString(0xc0, 0xaf), 'refuse'],
  ['overlong three-byte', inString(0xe0, 0x80, 0xaf), 'refuse'],
  ['overlong NUL', inString(0xc0, 0x80), 'refuse'],
  ['UTF-8-encoded high surrogate', inString(0xed, 0xa0, 0x80), 'refuse'],
  ['UTF-8-encoded surrogate pair', inString(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80), 'refuse'],
  ['beyond U+10FFFF', inString(0xf4, 0x90, 0x80, 0x80), 'refuse'],
  ['five-byte sequence', inString(0xf8, 0x88, 0x80, 0x80, 0x80), 'refuse'],
  ['truncated three-byte sequence', inString(0xe2, 0x82), 'refuse'],
  ['lead byte then ASCII', inString(0xc3, 0x28), 'refuse'],
  ['invalid byte outside a string', Buffer.concat([Buffer.from('[1,'), bytes(0xff), Buffer.from(']')]), 'refuse'],
];

const I_PAGES: Array<[string, Text, 'read' | 'refuse']> = [
  ['UTF-8 byte order mark', Buffer.concat([bytes(0xef, 0xbb, 0xbf), Buffer.from('{"value":[]}')]), 'refuse'],
  ['UTF-16LE with byte order mark', Buffer.concat([bytes(0xff, 0xfe), Buffer.from('{"value":[]}', 'utf16le')]), 'refuse'],
  ['UTF-16BE with byte order mark', Buffer.concat([bytes(0xfe, 0xff), Buffer.from('{"value":[]}', 'utf16le').swap16()]), 'refuse'],
  ['UTF-16LE without byte order mark', Buffer.from('{"value":[]}', 'utf16le'), 'refuse'],
  ['duplicate value', '{"value":[],"value":[{}]}', 'refuse'],
  ['duplicate @odata.nextLink', '{"@odata.nextLink":"a","value":[],"@odata.nextLink":"b"}', 'refuse'],
  ['duplicate other member', '{"@odata.count":1,"value":[],"@odata.count":2}', 'read'],
];

const toBuffer = (t: Text): Buffer => (typeof t === 'string' ? Buffer.from(t) : t);
const asMember = (t: Text): Buffer => Buffer.concat([Buffer.from('{"value":[{"x":'), toBuffer(t), Buffer.from('}]}')]);
const asUser = (t: Text): Buffer => Buffer.concat([Buffer.from('{"value":['), toBuffer(t), Buffer.from(']}')]);
const WHITESPACE = /[ \t\n\r]/;
const ALL_WHITESPACE = /[ \t\n\r]/g;

/** The users page-scan stores from `page` (a copy of it: the scan compacts in place). */
function stored(page: Buffer): string[] {
  const copy = Buffer.from(page);
  const { ranges } = scanUsersPage(copy);
  const users: string[] = [];
  for (let i = 0; i < ranges.length; i += 2) users.push(copy.toString('utf8', ranges[i], ranges[i + 1]));
  return users;
}

/** A read case: the one user stored is `user` with whitespace between tokens removed, and nothing else. */
function assertRead(page: Buffer, user: Buffer, label: string): void {
  let users: string[];
  try {
    users = stored(page);
  } catch (e) {
    return assert.fail(`${label}: refused (${(e as Error).message})`);
  }
  assert.equal(users.length, 1, label);
  const text = users[0]!;
  const sent = user.toString('utf8');
  if (!WHITESPACE.test(sent)) assert.equal(text, sent, `${label}: stored exactly as sent`);
  assert.equal(text.replace(ALL_WHITESPACE, ''), sent.replace(ALL_WHITESPACE, ''), `${label}: the same bytes but whitespace`);
  assert.doesNotMatch(text, /[\n\r]/, `${label}: one line`);
  if (sent.length < 1000) assert.deepEqual(JSON.parse(text), JSON.parse(sent), `${label}: the same value to JSON.parse`);
}

/** A refused case: a PageFormatError; and JSON.parse refuses it too (unless its bytes are not UTF-8). */
function assertRefused(page: Buffer, label: string): void {
  assert.throws(() => stored(page), PageFormatError, `${label}: read`);
  if (isUtf8(page))
    assert.throws(() => JSON.parse(page.toString('utf8')), SyntaxError, `${label}: the table is wrong, JSON.parse reads it`);
}

test('y: every JSON value is read, as a member of a user and, if an object, as a user', () => {
  for (const [name, value] of Y_VALUES) {
    assertRead(asMember(value), Buffer.concat([Buffer.from('{"x":'), toBuffer(value), Buffer.from('}')]), `y ${name}`);
    if (toBuffer(value).toString().trim().startsWith('{'))
      assertRead(asUser(String(value).trim()), toBuffer(String(value).trim()), `y ${name} as a user`);
  }
});

test('y: pages with whitespace, other members, escaped names are read', () => {
  for (const [name, page, users] of Y_PAGES) assert.equal(stored(toBuffer(page)).length, users, `y page ${name}`);
});

test('n: no text that is not JSON is read, as a member, as a user, or as a page', () => {
  for (const [name, value] of N_VALUES) {
    assertRefused(asMember(value), `n ${name}`);
    // (An empty case is an empty `value`, which is a page.)
    if (toBuffer(value).toString().trim() !== '') assertRefused(asUser(value), `n ${name} as a user`);
  }
  for (const [name, page] of N_PAGES) assertRefused(toBuffer(page), `n page ${name}`);
});

test('i: implementation-defined cases do what the header says', () => {
  for (const [name, value, choice] of I_VALUES) {
    const user = Buffer.concat([Buffer.from('{"x":'), toBuffer(value), Buffer.from('}')]);
    if (choice === 'read') assertRead(asMember(value), user, `i ${name}`);
    else
      assert.throws(
        () => stored(asMember(value)),
        (e: unknown) => e instanceof PageFormatError && e.kind === 'not-json',
        `i ${name}`,
      );
  }
  for (const [name, page, choice] of I_PAGES) {
    if (choice === 'read') assert.doesNotThrow(() => stored(toBuffer(page)), `i page ${name}`);
    else assert.throws(() => stored(toBuffer(page)), PageFormatError, `i page ${name}`);
  }
});
