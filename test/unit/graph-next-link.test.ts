/**
 * The shortcut graph.ts takes on a page's first bytes — reading the next link off its start, to ask for the
 * next page before the page has arrived — must never disagree with a full read; in any doubt it gives up
 * (undefined), and the link read with the whole page is followed. (Cutting the users out of a page:
 * page-scan.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { earlyNextLink } from '../../src/graph.js';

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

test('only what the full read accepts is read early: JSON whitespace, valid JSON strings, UTF-8', () => {
  const link = `${GRAPH}/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQAAAD8`;
  const head = (before: string, context = `"${GRAPH}/v1.0/$metadata#users"`): string => `${before}{"@odata.context":${context},"@odata.nextLink":${JSON.stringify(link)},"value":[`;
  // RFC 8259 §2's whitespace — space, tab, LF, CR — anywhere between the tokens: read early.
  assert.equal(earlyNextLink(` \t\r\n{ \n"@odata.context" :\t"x" ,\r\n "@odata.nextLink"\n:\n${JSON.stringify(link)}`, GRAPH), link);
  // Whitespace to `\s` but not to JSON (page-scan refuses the page): never read early.
  for (const space of ['\u00a0', '\u2028', '\u2029', '\ufeff', '\u000b', '\u000c', '\u3000', '\u1680']) {
    const code = `U+${space.charCodeAt(0).toString(16).padStart(4, '0')}`;
    assert.equal(earlyNextLink(head(space), GRAPH), undefined, `${code} before the page`);
    assert.equal(earlyNextLink(`{"@odata.nextLink":${space}${JSON.stringify(link)}}`, GRAPH), undefined, `${code} before the link`);
  }
  // Strings JSON does not allow, in the context or the link: a raw control character, an unknown escape, a short \u.
  for (const bad of ['"a\tb"', '"a\u0001"', '"\\x41"', '"\\u12"', '"\\u12G4"', '"\\\'"']) {
    assert.equal(earlyNextLink(head('', bad), GRAPH), undefined, `context ${bad}`);
    assert.equal(earlyNextLink(`{"@odata.nextLink":${bad.replace(/^"/, `"${link}`)}}`, GRAPH), undefined, `link ${bad}`);
  }
  // Valid escapes are fine.
  assert.equal(earlyNextLink(head('', '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"'), GRAPH), link);
  // U+FFFD: what decoding made of bytes that are not UTF-8 (page-scan refuses those); left to the full read.
  assert.equal(earlyNextLink(head('', '"\ufffd"'), GRAPH), undefined);
});
