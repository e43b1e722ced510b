/**
 * Lists every user with `GET /v1.0/users`: `$select`, optional `$filter`, `$top=999`, then each
 * `@odata.nextLink` as given until there is none. Transient failures (429/503/504, 5xx, resets,
 * timeouts) are retried by the HTTP pipeline; a 401 mid-run gets one fresh token; an expired
 * `$skiptoken` restarts the listing from the first page (the caller discards what it had). A `$filter` that
 * Graph serves only as an advanced query is refused on the first page; the listing then starts again as one.
 *
 * Pages are sequential (each names the next), so a run cannot beat pages × Graph's latency; to get close,
 * the next page is requested as soon as the first bytes of the current one have arrived — Graph writes
 * `@odata.nextLink` ahead of `value` — so page n's transfer, its parse and the caller's work on it all
 * overlap Graph's work on page n+1. Only the page the listing is waiting for may start the next request,
 * so at most one request runs ahead: two pages' bodies are held at once (plus whatever the caller keeps).
 */
import { exportError, type ExportError } from './errors.js';
import { describeAzureError } from './azure-errors.js';
import type { HttpClientWithRetries, HttpResult, StreamedResult } from './http.js';
import { PageFormatError, scanUsersPage } from './page-scan.js';
import type { TokenProvider } from './token.js';

export const PAGE_SIZE = 999;

/**
 * A page's users: where each user's JSON text lies in the bytes of Graph's response (read by page-scan.ts),
 * stored as those bytes, never decoded, parsed or serialised again.
 */
export interface PageUsers {
  count: number;
  elements: PageElements;
}

export type UsersPage = PageUsers & {
  /** 0-based index of the page in the (current) listing. */
  index: number;
  /** True on the first page of a listing restarted after an expired `$skiptoken`: drop everything before it. */
  restarted: boolean;
};

/** A page's response bytes and, for its i-th user, the range `ranges[2i]` to `ranges[2i + 1]` of them. */
export interface PageElements {
  bytes: Buffer;
  ranges: Uint32Array;
}

export interface ListUsersOptions {
  graphEndpoint: string;
  select: readonly string[];
  filter?: string | undefined;
  tokens: TokenProvider;
  http: HttpClientWithRetries;
  /** How many times an expired `$skiptoken` may restart the listing. */
  maxRestarts?: number;
  onTokenRefresh?: () => void;
  /** Called when the listing starts again as an advanced query (its results are eventually consistent). */
  onAdvancedQuery?: (consistencyLevel: ConsistencyLevel) => void;
  log?: (message: string) => void;
}

type FetchedPage = PageUsers & { nextLink: string | undefined };

/** A 200 response whose body has not been parsed yet. */
interface RawPage {
  url: string;
  result: StreamedResult;
}

class ExpiredPageTokenError extends Error {}

/**
 * An advanced query's `ConsistencyLevel` header value. Graph serves some filters (`ne`, `not`, `endsWith`, some
 * properties) only with `ConsistencyLevel: eventual` and `$count=true`, from a separately indexed store whose
 * answers are eventually consistent ("Advanced query capabilities on Microsoft Entra ID objects",
 * https://learn.microsoft.com/graph/aad-advanced-queries).
 */
export type ConsistencyLevel = 'eventual';

/**
 * Graph refused the listing's first page with 400 `Request_UnsupportedQuery` while it was not an advanced query:
 * the listing may succeed as one. Carries the error to report if it is not retried.
 */
class AdvancedQueryMayHelp extends Error {
  constructor(
    readonly refusal: Error,
    readonly graphSaid: string,
  ) {
    super(refusal.message);
  }
}

/** The listing's first request; as an advanced query it adds `$count=true` (required with the header, see above). */
export function firstPageUrl(
  graphEndpoint: string,
  select: readonly string[],
  filter: string | undefined,
  consistencyLevel?: ConsistencyLevel,
): string {
  const url = new URL('/v1.0/users', graphEndpoint);
  url.searchParams.set('$select', select.join(','));
  if (filter) url.searchParams.set('$filter', filter);
  url.searchParams.set('$top', String(PAGE_SIZE));
  if (consistencyLevel !== undefined) url.searchParams.set('$count', 'true');
  return url.toString();
}

export async function* listUserPages(options: ListUsersOptions): AsyncGenerator<UsersPage> {
  // Undefined until Graph refuses the filter without the advanced query parameters; then every request of the
  // listing carries them — restarts after an expired $skiptoken and nextLinks included: Graph does not carry
  // the header over from the first request.
  let consistencyLevel: ConsistencyLevel | undefined;
  let first = firstPageUrl(options.graphEndpoint, options.select, options.filter);
  const maxRestarts = options.maxRestarts ?? 3;
  let restarts = 0;
  let index = 0;
  let restarted = false;
  // Links already followed in this listing: a link that comes back would make the listing endless.
  let followed = new Set<string>([first]);
  const start = (url: string): PageFetch => new PageFetch(url, options, consistencyLevel, (link) => !followed.has(link));
  let pending: PageFetch | undefined = start(first);
  try {
    while (pending) {
      // From now on this page may request the next one as soon as its first bytes name it.
      pending.adopt();
      let raw: RawPage;
      try {
        raw = await pending.result;
      } catch (e) {
        if (e instanceof AdvancedQueryMayHelp) {
          // Only once, and only for the listing's first page (nothing has been yielded yet).
          if (index !== 0 || consistencyLevel !== undefined) throw e.refusal;
          consistencyLevel = 'eventual';
          options.log?.(
            `Microsoft Graph refused USERS_FILTER as a standard query (HTTP 400 ${e.graphSaid}); listing again as an advanced query (ConsistencyLevel: eventual, $count=true), whose results come from an index that may lag behind recent directory changes by seconds to minutes.`,
          );
          options.onAdvancedQuery?.(consistencyLevel);
          first = firstPageUrl(options.graphEndpoint, options.select, options.filter, consistencyLevel);
          followed = new Set([first]);
          pending.abort();
          pending = start(first);
          continue;
        }
        if (!(e instanceof ExpiredPageTokenError)) throw e;
        if (restarts >= maxRestarts) throw tokenExpiredTooOften(restarts + 1);
        restarts += 1;
        options.log?.(
          `Graph page token expired at page ${index}; restarting the listing from the first page (restart ${restarts} of ${maxRestarts}).`,
        );
        index = 0;
        restarted = true;
        followed = new Set([first]);
        pending.abort();
        pending = start(first);
        continue;
      }
      // The request for the next page, if this page's first bytes named one (see PageFetch). It was only
      // trusted because the link goes to GRAPH_ENDPOINT; the full parse must agree with it, otherwise it is
      // aborted and the parsed link is followed.
      const speculative: PageFetch | undefined = pending.next;
      // Sending a request takes a few promise hops (token cache, pipeline policies); when it was started
      // only just now (the link was in the last chunk), the parse below and the caller's work would hold it
      // back by their whole duration. One turn of the event loop lets it reach the wire first.
      if (speculative) await new Promise<void>((resolve) => setImmediate(resolve));
      const page = parsePage(raw.result, raw.url, index, options);
      if (page.nextLink !== undefined && followed.has(page.nextLink)) {
        throw exportError('GraphProtocolError', { kind: 'nextLinkRepeated', index });
      }
      if (page.nextLink !== undefined) followed.add(page.nextLink);
      if (speculative !== undefined && speculative.url !== page.nextLink) speculative.abort();
      if (page.nextLink === undefined) pending = undefined;
      else pending = speculative?.url === page.nextLink ? speculative : start(page.nextLink);
      const { nextLink: _link, ...pageUsers } = page;
      yield { ...pageUsers, index, restarted };
      index += 1;
      restarted = false;
    }
  } finally {
    // The listing failed, or its consumer stopped early: no request of it may go on in the background.
    pending?.abort();
  }
}

function tokenExpiredTooOften(times: number): ExportError {
  return exportError('GraphFailed', { kind: 'pageTokenExpired', times });
}

/**
 * One page request in flight, and the request for the page after it, which this one starts as soon as its
 * body's first bytes name the next link — but only once the listing waits for this page ({@link adopt}):
 * a page fetched ahead may not fetch ahead in turn, which bounds what is in flight and held to two pages.
 */
class PageFetch {
  readonly result: Promise<RawPage>;
  /** The speculative request for the next page, once started. */
  next: PageFetch | undefined;
  readonly #controller = new AbortController();
  readonly #options: ListUsersOptions;
  readonly #consistencyLevel: ConsistencyLevel | undefined;
  readonly #isNew: (link: string) => boolean;
  #link: string | undefined;
  #adopted = false;

  constructor(
    readonly url: string,
    options: ListUsersOptions,
    consistencyLevel: ConsistencyLevel | undefined,
    isNew: (link: string) => boolean,
  ) {
    this.#options = options;
    this.#consistencyLevel = consistencyLevel;
    this.#isNew = isNew;
    const watch = nextLinkWatcher(options.graphEndpoint, (link) => {
      this.#link = link;
      this.#speculate();
    });
    // Marked as handled: a page the listing abandons leaves no unhandled rejection behind.
    this.result = fetchPage(url, options, consistencyLevel, this.#controller.signal, watch);
    this.result.catch(() => undefined);
  }

  adopt(): void {
    this.#adopted = true;
    this.#speculate();
  }

  /** Stops this request (if still running) and the one it started: their connections close, nothing lingers. */
  abort(): void {
    this.#controller.abort();
    this.next?.abort();
  }

  #speculate(): void {
    if (!this.#adopted || this.#link === undefined || this.next !== undefined || this.#controller.signal.aborted) return;
    // The page fetched ahead is of the same listing: the same query mode, so the same headers.
    if (this.#isNew(this.#link)) this.next = new PageFetch(this.#link, this.#options, this.#consistencyLevel, this.#isNew);
  }
}

/** How far into a body its `@odata.nextLink` is looked for (Graph's is within the first ~2 KiB). */
const NEXT_LINK_SEARCH_BYTES = 64 * 1024;

/**
 * An observer of a page body's chunks that calls `found` once the bytes so far hold a leading
 * `@odata.nextLink` to GRAPH_ENDPOINT ({@link earlyNextLink}), and stops looking after
 * {@link NEXT_LINK_SEARCH_BYTES}. Only that small head is ever joined and decoded here. A body started over
 * by a retry (offset 0) is searched afresh.
 */
function nextLinkWatcher(graphEndpoint: string, found: (link: string) => void): (chunk: Buffer, offset: number) => void {
  let head: Buffer[] = [];
  let searching = true;
  return (chunk, offset) => {
    if (offset === 0) {
      head = [];
      searching = true;
    }
    if (!searching) return;
    head.push(chunk);
    const prefix = head.length === 1 ? chunk : Buffer.concat(head);
    const link = earlyNextLink(prefix.toString('utf8', 0, Math.min(prefix.length, NEXT_LINK_SEARCH_BYTES)), graphEndpoint);
    if (link === undefined && prefix.length < NEXT_LINK_SEARCH_BYTES) return;
    searching = false;
    head = [];
    if (link !== undefined) found(link);
  };
}

/**
 * Graph's pages begin `{"@odata.context":"…","@odata.nextLink":"…","value":[` — with `"@odata.count":n` after
 * the context on an advanced query's first page (context, count, nextLink, value: "List channel messages",
 * microsoft-graph-docs-contrib api-reference/v1.0/api/channel-list-messages.md) —: the link can be read
 * without parsing the (much larger) rest. Anchored at the start, so a body of another shape costs nothing
 * and simply waits for the full parse. It accepts nothing page-scan.ts would refuse in these bytes — only
 * JSON's whitespace (RFC 8259 §2: space, tab, LF, CR; `\s` would also take U+00A0, U+2028, U+FEFF…) and only
 * valid JSON strings (§7: no raw control character, only the defined escapes) — so the full read of a page
 * that starts this way either finds the same link or refuses the page (and the early request is aborted).
 */
const WS = String.raw`[ \t\n\r]*`;
const JSON_STRING = String.raw`"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"`;
// `@odata.count` is a non-negative JSON integer (no leading zeros, which the full read would refuse).
const COUNT = String.raw`"@odata\.count"${WS}:${WS}(?:0|[1-9][0-9]*)${WS},${WS}`;
const LEADING_NEXT_LINK = new RegExp(
  String.raw`^${WS}\{${WS}(?:"@odata\.context"${WS}:${WS}${JSON_STRING}${WS},${WS})?(?:${COUNT})?"@odata\.nextLink"${WS}:${WS}(${JSON_STRING})`,
);

/** The `@odata.nextLink` at the start of a page body, if there is one and it points at GRAPH_ENDPOINT. */
export function earlyNextLink(body: string, graphEndpoint: string): string | undefined {
  const match = LEADING_NEXT_LINK.exec(body);
  // U+FFFD is what decoding made of bytes that are not UTF-8 (or a real U+FFFD): the full read decides.
  if (!match || match[0].includes('\ufffd')) return undefined;
  try {
    const link = JSON.parse(match[1]!) as string;
    return isGraphEndpoint(new URL(link), graphEndpoint) ? link : undefined;
  } catch {
    return undefined;
  }
}

/** The bearer token only ever goes to GRAPH_ENDPOINT's origin: every link followed is checked with this. */
function isGraphEndpoint(url: URL, graphEndpoint: string): boolean {
  return url.origin === new URL(graphEndpoint).origin;
}

/**
 * One page: its 200 response, body read to the end (shown to `onChunk` as it arrives), or the error that
 * ends the listing. The HTTP layer retries transient failures, before the headers and mid-body alike.
 */
async function fetchPage(
  url: string,
  options: ListUsersOptions,
  consistencyLevel: ConsistencyLevel | undefined,
  abortSignal: AbortSignal,
  onChunk: (chunk: Buffer, offset: number) => void,
): Promise<RawPage> {
  let refreshed = false;
  for (;;) {
    const token = await options.tokens.getToken({ forceRefresh: refreshed });
    let result: StreamedResult;
    try {
      result = await options.http.sendStreaming('GET', url, {
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          ...(consistencyLevel !== undefined ? { ConsistencyLevel: consistencyLevel } : {}),
        },
        abortSignal,
        onChunk,
      });
    } catch (e) {
      throw describeAzureError(e, `listing users from Microsoft Graph (${describeUrl(url)})`, 'GraphFailed');
    }
    if (result.status === 200) return { url, result };
    const error = graphError(result);
    if (result.status === 401 && !refreshed) {
      // Tokens can be revoked or expire mid-run: one fresh token, then carry on.
      refreshed = true;
      options.onTokenRefresh?.();
      options.log?.(`Graph answered 401 ${error.code ?? ''} on ${describeUrl(url)}; retrying once with a fresh token.`);
      continue;
    }
    if (result.status === 400 && url.includes('skiptoken') && isExpiredPageToken(error)) {
      throw new ExpiredPageTokenError(error.message ?? 'expired page token');
    }
    const refusal = failure(result, error, url, options, consistencyLevel);
    // Graph's message for a filter that needs an advanced query varies with the operator and the property
    // ("Operator 'endsWith' is not supported because the required parameters might be missing…" in the docs'
    // "Error handling for advanced queries", "Filter operator 'NotEqualsMatch' is not supported." or
    // "Unsupported or invalid query filter clause specified for property '…'" in reports such as
    // microsoftgraph/microsoft-graph-docs-contrib#9043 and microsoftgraph/microsoft-graph-docs#14586), and the
    // last one is also what Graph says of a filter it cannot serve at all: only the code is dependable, so any
    // Request_UnsupportedQuery to a filter is tried once more as an advanced query, whose answer is final.
    if (
      result.status === 400 &&
      error.code === 'Request_UnsupportedQuery' &&
      consistencyLevel === undefined &&
      options.filter &&
      !url.includes('skiptoken')
    ) {
      throw new AdvancedQueryMayHelp(refusal, graphSaid(error));
    }
    throw refusal;
  }
}

/**
 * A 200 page: its users and next link, read from its bytes by page-scan.ts — the one way a page is read. A
 * body it cannot read (not UTF-8, not JSON, not an object with a `value` array of objects) stops the export:
 * storing it any other way would store something other than what Graph sent.
 */
function parsePage(result: StreamedResult, url: string, index: number, options: ListUsersOptions): FetchedPage {
  const bytes = result.bytes;
  let scanned;
  try {
    scanned = scanUsersPage(bytes);
  } catch (e) {
    if (!(e instanceof PageFormatError)) throw e;
    const where = describeUrl(url);
    if (e.kind === 'not-json') {
      throw exportError('GraphProtocolError', {
        kind: 'notJson',
        where,
        contentType: result.headers['content-type'],
        index,
        detail: e.message,
      });
    }
    throw exportError('GraphProtocolError', { kind: 'pageFormat', where, index, detail: e.message });
  }
  const link =
    scanned.nextLink === undefined
      ? undefined
      : (JSON.parse(bytes.toString('utf8', scanned.nextLink.start, scanned.nextLink.end)) as unknown);
  return { count: scanned.ranges.length / 2, elements: { bytes, ranges: scanned.ranges }, nextLink: checkedNextLink(link, url, options) };
}

/** A page's `@odata.nextLink` (undefined or null: the last page), checked before anything is sent to it. */
function checkedNextLink(nextLink: unknown, url: string, options: ListUsersOptions): string | undefined {
  if (nextLink === undefined || nextLink === null) return undefined;
  if (typeof nextLink !== 'string') {
    throw exportError('GraphProtocolError', { kind: 'nextLinkNotString', where: describeUrl(url) });
  }
  let next: URL;
  try {
    next = new URL(nextLink);
  } catch {
    throw exportError('GraphProtocolError', { kind: 'nextLinkNotAbsolute', where: describeUrl(url) });
  }
  if (!isGraphEndpoint(next, options.graphEndpoint)) {
    throw exportError('GraphProtocolError', { kind: 'nextLinkOtherHost', origin: next.origin, graphEndpoint: options.graphEndpoint });
  }
  return nextLink;
}

interface GraphErrorBody {
  code: string | undefined;
  message: string | undefined;
  json: boolean;
}

function graphError(result: HttpResult): GraphErrorBody {
  try {
    const body = JSON.parse(result.body) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof body?.error?.code === 'string' ? body.error.code : undefined;
    const message = typeof body?.error?.message === 'string' ? body.error.message : undefined;
    return { code, message, json: true };
  } catch {
    return { code: undefined, message: undefined, json: false };
  }
}

function isExpiredPageToken(error: GraphErrorBody): boolean {
  return (
    error.code === 'Directory_ExpiredPageToken' ||
    /DirectoryPageTokenNotFound|page token|skiptoken/i.test(`${error.code ?? ''} ${error.message ?? ''}`)
  );
}

function graphSaid(error: GraphErrorBody): string {
  return `${error.code ?? 'error'}: ${error.message ?? ''}`.trim();
}

function failure(
  result: HttpResult,
  error: GraphErrorBody,
  url: string,
  options: ListUsersOptions,
  consistencyLevel: ConsistencyLevel | undefined,
): Error {
  const where = describeUrl(url);
  if (!error.json) {
    return exportError('GraphFailed', {
      kind: 'notGraph',
      where,
      status: result.status,
      contentType: result.headers['content-type'],
      graphEndpoint: options.graphEndpoint,
    });
  }
  const said = graphSaid(error);
  if (result.status === 403 || result.status === 401) return new GraphAccessRefused(result.status, said, where);
  if (result.status === 400 && !url.includes('skiptoken') && consistencyLevel !== undefined && options.filter) {
    return exportError('InvalidSettings', { kind: 'graphFilter', said, consistencyLevel });
  }
  if (result.status === 400 && !url.includes('skiptoken')) return exportError('InvalidSettings', { kind: 'graphQuery', said });
  return exportError('GraphFailed', { kind: 'status', where, status: result.status, said });
}

/**
 * Graph refused the app's token: 403 (no permission) or 401 (twice, with a fresh token). The listing knows
 * what Graph said; the message names the app and its authority, which the caller completes it with
 * ({@link ErrorMessages} GraphForbidden / GraphUnauthorized).
 */
export class GraphAccessRefused extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly said: string,
    readonly where: string,
  ) {
    super(`Microsoft Graph refused the token (HTTP ${status} ${said}) on ${where}`);
  }
}

/** The URL without its query (the skiptoken is long and opaque; the query was given by the settings). */
function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}${u.searchParams.has('$skiptoken') ? ' (next page)' : ''}`;
}
