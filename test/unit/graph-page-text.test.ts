/**
 * The two shortcuts graph.ts takes on a page's raw body — reading the next link off its start (to ask for
 * the next page before parsing) and cutting out each user's own JSON bytes (to store them without
 * re-serialising) — must never disagree with a full parse; in any doubt they give up (undefined), and the
 * parsed values are used instead.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { earlyNextLink, elementRanges } from '../../src/graph.js';

/** The elements elementRanges cuts out of `body` (sent as UTF-8, or as the given bytes), as text. */
function elementTexts(body: string | Buffer, expected: number): string[] | undefined {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const ranges = elementRanges(bytes, expected);
  if (ranges === undefined) return undefined;
  const texts: string[] = [];
  for (let i = 0; i < ranges.length; i += 2) texts.push(bytes.toString('utf8', ranges[i], ranges[i + 1]));
  return texts;
}

const GRAPH = 'https://graph.microsoft.com';

test("the next link is read off the start of a page, only when it goes to GRAPH_ENDPOINT", () => {
  const link = `${GRAPH}/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQAAAD8`;
  const page = (next: string, rest = ',"value":[]}'): string => `{"@odata.context":"${GRAPH}/v1.0/$metadata#users(id)","@odata.nextLink":${JSON.stringify(next)}${rest}`;
  assert.equal(earlyNextLink(page(link), GRAPH), link);
  // JSON escapes in the link are decoded as the parse would.
  assert.equal(earlyNextLink(page(link).replace(/\//g, '\\/'), GRAPH), link);
  assert.equal(earlyNextLink(`{"@odata.nextLink":${JSON.stringify(link)},"value":[]}`, GRAPH), link);
  // Another host never gets the token, not even early.
  assert.equal(earlyNextLink(page('https://evil.example/v1.0/users?$skiptoken=x'), GRAPH), undefined);
  assert.equal(earlyNextLink(page('not a url'), GRAPH), undefined);
  // Not at the start (another order, or the last page): left to the full parse.
  assert.equal(earlyNextLink(`{"value":[],"@odata.nextLink":${JSON.stringify(link)}}`, GRAPH), undefined);
  assert.equal(earlyNextLink(`{"@odata.context":"x","value":[{"id":"1"}]}`, GRAPH), undefined);
  assert.equal(earlyNextLink('<html>proxy error</html>', GRAPH), undefined);
});

test("each user's text is cut out of a page exactly as sent", () => {
  const users = [
    { id: '1', displayName: 'Zoë "Z" \\ O\'Brien', businessPhones: [], nested: { a: [1, { b: '}]' }] } },
    { id: '2', displayName: 'مرحبا 👩‍💻', mail: null, accountEnabled: true },
    { id: '3', displayName: 'ends with a backslash \\', jobTitle: '[{' },
  ];
  const texts = users.map((u) => JSON.stringify(u));
  const body = `{"@odata.context":"${GRAPH}/v1.0/$metadata#users","@odata.nextLink":"${GRAPH}/v1.0/users?$skiptoken=a","value":[${texts.join(',')}]}`;
  assert.deepEqual(elementTexts(body, 3), texts);
  assert.deepEqual(elementTexts(`{"value":[ ${texts[0]} , ${texts[1]} ]}`, 2), texts.slice(0, 2));
  assert.deepEqual(elementTexts('{"value":[]}', 0), []);
  // A string value "value" before the real key does not confuse it.
  assert.deepEqual(elementTexts(`{"x":"value","value":[${texts[2]}]}`, 1), [texts[2]]);
});

test('in any doubt, no texts: the parsed users are serialised instead', () => {
  const u = '{"id":"1"}';
  assert.equal(elementTexts(`{"value":[${u}]}`, 2), undefined, 'count differs from the parse');
  assert.equal(elementTexts(`{"value":[${u}],"value":[${u}]}`, 1), undefined, 'duplicate value key');
  assert.equal(elementTexts('{"value":[1,2]}', 2), undefined, 'not objects');
  assert.equal(elementTexts('{"value":["a","b"]}', 2), undefined, 'not objects');
  assert.equal(elementTexts(`{"value":[\n${u}\n]}`, 1), undefined, 'line breaks could split an ndjson line');
  assert.equal(elementTexts('{"value":[{"id":"1}]}', 1), undefined, 'unterminated string');
  assert.equal(elementTexts(`{"value":[${u},${u}]}`, 1), undefined, 'more elements than the parse saw');
  // The parse takes the last of duplicate keys, and "valu\u0065" is "value" to it.
  assert.equal(elementTexts(`{"value":[${u}],"valu\u0065":[{"id":"2"}]}`, 1), undefined, 'an escaped top-level key');
  // Invalid UTF-8 decodes to U+FFFD: the text that was parsed is not the bytes.
  const invalid = Buffer.concat([Buffer.from('{"value":[{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
  assert.equal(JSON.parse(invalid.toString('utf8')).value.length, 1);
  assert.equal(elementTexts(invalid, 1), undefined, 'bytes that are not UTF-8');
});
