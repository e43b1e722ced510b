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
