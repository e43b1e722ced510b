/**
 * Microsoft Graph `GET /v1.0/users`: bearer validation (audience, issuer, lifetime, app roles), the query options
 * Graph accepts on users ($top 1..999, $select, $filter, $count, $skiptoken), advanced queries (a filter Graph
 * serves only with `ConsistencyLevel: eventual` + `$count=true` is refused without them, on every page) and
 * server-driven paging through an opaque, tamper-proof `$skiptoken`. Users are generated on the fly from the
 * skiptoken's offset, so a page costs the same at user 1,999,000 as at user 0, whatever the tenant size.
 */
import type http from 'node:http';
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type SimContext, accessTokenIssuer } from './context.js';
import { type GraphErrorBody, graphDefaultError, graphError } from './errors.js';
import { type Fault, applyCommonFault } from './faults.js';
import { type Handler, sendJson } from './http.js';
import { bearerToken } from './jwt.js';
import { type CompiledFilter, UnsupportedFilterError, canonicalPropertyName, compileFilter, projectUser } from './users.js';

/** App roles that allow listing users (application permissions). */
export const USER_LIST_ROLES: readonly string[] = [
  'User.Read.All',
  'User.ReadBasic.All',
  'User.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 999;
const ODATA_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** Where a listing stands: the next user index to scan, the page index, and which listing it belongs to. */
interface PagePosition {
  /** Index (in the whole population) of the first user of the page. */
  offset: number;
  /** 0-based page index within the listing. */
  page: number;
  /** Random id of the listing (a fresh one per first page), so a restarted listing gets fresh skiptokens. */
  listing: string;
  /** The $filter the listing was started with: a skiptoken is only valid with the same filter. */
  filter: string;
}

/** base64url( HMAC-SHA256(key, json)[0..16] || json ): opaque to clients, and any tampering is detected. */
class SkipTokenCodec {
  private readonly key = randomBytes(32);

  encode(pos: PagePosition): string {
    const json = Buffer.from(JSON.stringify({ o: pos.offset, p: pos.page, l: pos.listing, f: pos.filter }));
    return Buffer.concat([this.mac(json), json]).toString('base64url');
  }

  decode(token: string): PagePosition | undefined {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= 16) return undefined;
    const json = raw.subarray(16);
    if (!timingSafeEqual(raw.subarray(0, 16), this.mac(json))) return undefined;
    try {
      const v = JSON.parse(json.toString('utf8')) as { o: number; p: number; l: string; f: string };
      return { offset: v.o, page: v.p, listing: v.l, filter: v.f };
    } catch {
      return undefined;
    }
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.key).update(data).digest().subarray(0, 16);
  }
}

class GraphRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface ListingQuery {
  top: number;
  topGiven: boolean;
  select: string[];
  selectText: string | undefined;
  filter: string;
  predicate: ((u: Record<string, unknown>) => boolean) | undefined;
  /** `$count` as given (carried into the nextLink), if it was. */
  countText: string | undefined;
  /** Whether the first page carries `@odata.count`: `$count=true` with `ConsistencyLevel: eventual`. */
  count: boolean;
  position: PagePosition | undefined;
}

/**
 * Whether the request carries `ConsistencyLevel: eventual` ("Advanced query capabilities on Microsoft Entra ID
 * objects", https://learn.microsoft.com/graph/aad-advanced-queries). Header names are case-insensitive (RFC 9110).
 */
function isEventual(req: http.IncomingMessage): boolean {
  return headerValue(req, 'consistencylevel')?.trim().toLowerCase() === 'eventual';
}

export function createGraphHandler(ctx: SimContext): Handler {
  const tokens = new SkipTokenCodec();
  /** Skiptokens an `expire-skiptoken` fault has expired: they keep failing, as real expired ones do. */
  const expired = new Set<string>();
  /** `@odata.count` per `$filter` and generation of the users (the whole listing's number of matching users), computed once. */
  const matchCounts = new Map<string, number>();
  const wwwAuthenticate = `Bearer realm="", authorization_uri="${ctx.authorityHost}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`;

  return async (req, res, url) => {
    const arrived = performance.now();
    ctx.stats.graph++;
    const eventual = isEventual(req);
    if (eventual) ctx.stats.graphEventual++;
    const ids = { requestId: randomUUID(), clientRequestId: headerValue(req, 'client-request-id') ?? randomUUID() };
    const idHeaders = { 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId };
    const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}): void =>
      sendJson(res, status, graphError(code, message, ids), { ...idHeaders, ...headers });

    const path = url.pathname.replace(/\/+$/, '');
    if (path !== '/v1.0/users') {
      const segment = path
        .split('/')
        .filter((s) => s !== '')
        .slice(1)
        .join('/');
      if (path.startsWith('/v1.0/') || path.startsWith('/beta/'))
        fail(400, 'BadRequest', `Resource not found for the segment '${decodeURIComponent(segment)}'.`);
      else fail(404, 'NotFound', 'Invalid version.');
      return;
    }

    const query = new Map<string, string>();
    const repeated = new Set<string>();
    for (const [k, v] of url.searchParams) {
      const key = k.toLowerCase();
      if (query.has(key)) repeated.add(key);
      else query.set(key, v);
    }
    const skiptoken = query.get('$skiptoken');
    const knownPosition = skiptoken === undefined ? undefined : tokens.decode(skiptoken);
    const pageIndex = skiptoken === undefined ? 0 : knownPosition?.page;

    // pageLatencyMs is the time from the request's arrival to the answer's first bytes, page building included
    // (the timer runs while the page is built and encoded), as a latency measured from the client would be.
    const latency = ctx.servers.delay(ctx.pageLatencyMs);
    const answerable = async (): Promise<boolean> => {
      await latency;
      return !ctx.servers.isClosed;
    };

    const fault = ctx.faults.take('graph', { nth: ctx.stats.graph, ...(pageIndex !== undefined ? { page: pageIndex } : {}) });
    if (fault !== undefined && !(await answerable())) return;
    if (fault !== undefined) {
      if (applyCommonFault(fault, res, (status) => graphErrorForStatus(status, ids), idHeaders)) return;
      if (fault.kind === 'invalid-token') {
        fail(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.', {
          'WWW-Authenticate': wwwAuthenticate,
        });
        return;
      }
      if (fault.kind === 'expire-skiptoken') {
        if (skiptoken !== undefined) expired.add(skiptoken);
        const expiredError = expiredPageToken();
        fail(expiredError.status, expiredError.code, expiredError.message);
        return;
      }
    }

    if (req.method !== 'GET') {
      if (!(await answerable())) return;
      fail(405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request uri.');
      return;
    }

    try {
      const roles = authenticate(ctx, req, wwwAuthenticate);
      const q = parseListingQuery(query, repeated, knownPosition, expired, eventual);
      if (!roles.some((r) => USER_LIST_ROLES.includes(r))) {
        throw new GraphRequestError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
      }
      const respond = servePage(ctx, res, q, idHeaders, tokens, fault, matchCounts);
      if (await answerable()) respond(arrived);
    } catch (err) {
      if (!(err instanceof GraphRequestError)) throw err;
      if (await answerable()) fail(err.status, err.code, err.message, err.headers);
    }
  };
}

/** As reported from large tenants (microsoftgraph/msgraph-sdk-dotnet#2254, msgraph-sdk-java#368): HTTP 400. */
function expiredPageToken(): GraphRequestError {
  return new GraphRequestError(
    400,
    'Directory_ExpiredPageToken',
    'The specified page token value has expired and can no longer be included in your request.',
  );
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function graphErrorForStatus(status: number, ids: { requestId: string; clientRequestId: string }): GraphErrorBody {
  const { code, message } = graphDefaultError(status);
  return graphError(code, message, ids);
}

/** Validates the bearer token like Graph's front door; returns the app roles it carries. */
function authenticate(ctx: SimContext, req: http.IncomingMessage, wwwAuthenticate: string): string[] {
  const unauthorized = (message: string): GraphRequestError =>
    new GraphRequestError(401, 'InvalidAuthenticationToken', message, { 'WWW-Authenticate': wwwAuthenticate });
  const check = ctx.signer.check(bearerToken(req.headers.authorization));
  if (!check.ok) {
    switch (check.reason) {
      case 'missing':
        throw unauthorized('Access token is empty.');
      case 'expired':
        throw unauthorized('Lifetime validation failed, the token is expired.');
      case 'not-yet-valid':
        throw unauthorized('Lifetime validation failed, the token is not yet valid.');
      default:
        throw unauthorized('Access token validation failure.');
    }
  }
  const aud = check.claims['aud'];
  if (typeof aud !== 'string' || aud.replace(/\/$/, '').toLowerCase() !== ctx.graphEndpoint.toLowerCase()) {
    throw unauthorized('Access token validation failure. Invalid audience.');
  }
  if (check.claims['tid'] !== ctx.tenantId || check.claims['iss'] !== accessTokenIssuer(ctx.tenantId)) {
    throw unauthorized('Access token validation failure. Invalid issuer.');
  }
  const roles = check.claims['roles'];
  return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
}

/**
 * `position` is the skiptoken already decoded (undefined when it is absent or not one of ours); `eventual`: the
 * request carries `ConsistencyLevel: eventual`.
 */
function parseListingQuery(
  query: Map<string, string>,
  repeated: Set<string>,
  position: PagePosition | undefined,
  expired: Set<string>,
  eventual: boolean,
): ListingQuery {
  const unsupported = (message: string): GraphRequestError => new GraphRequestError(400, 'Request_UnsupportedQuery', message);
  for (const key of repeated) {
    // OData: a system query option may be given once.
    if (key.startsWith('$'))
      throw new GraphRequestError(
        400,
        'BadRequest',
        `Query option '${key}' was specified more than once, but it must be specified at most once.`,
      );
  }
  for (const key of query.keys()) {
    if (!key.startsWith('$')) continue; // Graph ignores unknown plain parameters
    if (key === '$skip') throw unsupported("'$skip' is not supported by the service.");
    if (!['$top', '$select', '$filter', '$count', '$skiptoken'].includes(key)) throw unsupported('Unsupported Query.');
  }

  let top = DEFAULT_PAGE_SIZE;
  const topText = query.get('$top');
  if (topText !== undefined) {
    const n = /^\s*\d+\s*$/.test(topText) ? Number(topText) : NaN;
    if (!(n >= 1 && n <= MAX_PAGE_SIZE)) {
      throw unsupported(`Invalid page size specified: '${topText}'. Must be between 1 and ${MAX_PAGE_SIZE} inclusive.`);
    }
    top = n;
  }

  const selectText = query.get('$select');
  const select = (selectText ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of select) {
    if (canonicalPropertyName(name) === undefined) {
      throw new GraphRequestError(400, 'Request_BadRequest', `Could not find a property named '${name}' on type 'microsoft.graph.user'.`);
    }
  }

  // OData: `$count` is true or false (OData URL Conventions 4.01, "System Query Option $count"). Graph's body for
  // another value is not documented: status 400 is the fact here, code and message are the sim's own (tests assert
  // the status only).
  const countText = query.get('$count');
  if (countText !== undefined && !/^(true|false)$/i.test(countText.trim())) {
    throw new GraphRequestError(400, 'BadRequest', `Invalid value '${countText}' for the query option '$count': it must be true or false.`);
  }
  const countTrue = countText?.trim().toLowerCase() === 'true';
  // The advanced query parameters are the header and `$count=true`, both; without the header Graph "silently
  // ignores the $count query parameter" ("Advanced query capabilities…", error handling for advanced queries).
  const advanced = eventual && countTrue;

  const filter = (query.get('$filter') ?? '').trim();
  let predicate: ((u: Record<string, unknown>) => boolean) | undefined;
  if (filter !== '') {
    let compiled: CompiledFilter;
    try {
      compiled = compileFilter(filter);
    } catch (err) {
      if (err instanceof UnsupportedFilterError) throw unsupported(err.message);
      throw err;
    }
    // Refused on every page, nextLinks included: Graph does not carry the header over from the first request
    // (the docs: "If a property or query parameter in the URL is supported only in advanced queries but either
    // the ConsistencyLevel header or the $count=true query string is missing, the request returns an error").
    if (compiled.needsAdvancedQuery !== undefined && !advanced) throw unsupported(compiled.needsAdvancedQuery);
    predicate = compiled.predicate;
  }

  const skiptoken = query.get('$skiptoken');
  if (skiptoken !== undefined) {
    if (expired.has(skiptoken)) {
      throw expiredPageToken();
    }
    if (position === undefined || position.filter !== filter) {
      throw new GraphRequestError(400, 'Request_BadRequest', 'Invalid Skip Token.');
    }
  }
  return {
    top,
    topGiven: topText !== undefined,
    select,
    selectText: select.length > 0 ? select.join(',') : undefined,
    filter,
    predicate,
    countText,
    count: advanced,
    position: skiptoken === undefined ? undefined : position,
  };
}

/** Builds one page of the listing; the returned function sends it (after the page latency; `arrived` is when its request came, from performance.now()). */
function servePage(
  ctx: SimContext,
  res: http.ServerResponse,
  q: ListingQuery,
  idHeaders: Record<string, string>,
  tokens: SkipTokenCodec,
  fault: Fault | undefined,
  matchCounts: Map<string, number>,
): (arrived: number) => void {
  const start = q.position?.offset ?? 0;
  const listing = q.position?.listing ?? randomBytes(8).toString('hex');
  const page = q.position?.page ?? 0;

  const key = `${ctx.users.generation}|${start}|${q.top}|${q.selectText ?? ''}|${q.filter}`;
  let rendered = ctx.pageCache?.get(key);
  if (rendered === undefined) {
    // Collect `top` matching users from `start`; then find the next match, which is where the next page begins
    // (so there is a nextLink exactly when another user follows, and no page is ever empty).
    const items: string[] = [];
    const users = ctx.users;
    const end = users.slotCount;
    let i = start;
    for (; i < end && items.length < q.top; i++) {
      const user = users.user(i);
      if (user !== undefined && (q.predicate === undefined || q.predicate(user))) items.push(JSON.stringify(projectUser(user, q.select)));
    }
    // Slots of users who left are gaps to skip too, so that no page is empty.
    for (; i < end; i++) {
      const user = users.user(i);
      if (user !== undefined && (q.predicate === undefined || q.predicate(user))) break;
    }
    rendered = { users: Buffer.from(items.join(',')), next: i };
    ctx.pageCache?.set(key, rendered);
  }
  const i = rendered.next;

  const base = `${ctx.graphEndpoint}/v1.0`;
  const context = `${base}/$metadata#users${q.selectText !== undefined ? `(${q.selectText})` : ''}`;
  let nextLink: string | undefined;
  // A foreign-nextlink fault makes even the last page point somewhere else.
  if (i < ctx.users.slotCount || fault?.kind === 'foreign-nextlink') {
    const skiptoken = tokens.encode({ offset: i, page: page + 1, listing, filter: q.filter });
    const carried: string[] = [];
    if (q.topGiven) carried.push(`$top=${q.top}`);
    if (q.selectText !== undefined) carried.push(`$select=${encodeURIComponent(q.selectText)}`);
    if (q.filter !== '') carried.push(`$filter=${encodeURIComponent(q.filter)}`);
    if (q.countText !== undefined) carried.push(`$count=${encodeURIComponent(q.countText)}`);
    const host = fault?.kind === 'foreign-nextlink' ? `https://evil.localhost:${new URL(ctx.graphEndpoint).port}` : ctx.graphEndpoint;
    nextLink = `${host}/v1.0/users?${[...carried, `$skiptoken=${skiptoken}`].join('&')}`;
  }

  // Graph emits @odata.context, then @odata.count, then @odata.nextLink, then value (as in "List channel
  // messages", microsoft-graph-docs-contrib api-reference/v1.0/api/channel-list-messages.md, and "List users"
  // example 4 for context, count, value). @odata.count — the number of matching users in the whole listing —
  // only on the first page: "The @odata.count property is only returned on the first page of the results"
  // (Microsoft's answer in microsoftgraph/microsoft-graph-docs-contrib#1031). The page is encoded now, while
  // the latency runs, so that answering costs no more than writing it out.
  let head = `{"@odata.context":${JSON.stringify(context)}`;
  const servesValue = fault?.kind !== 'no-value';
  if (q.count && q.position === undefined) head += `,"@odata.count":${matchCount(ctx, q, matchCounts)}`;
  if (servesValue) {
    if (nextLink !== undefined) head += `,"@odata.nextLink":${JSON.stringify(nextLink)}`;
    head += ',"value":[';
  }
  const headBytes = Buffer.from(head);
  const users = servesValue ? rendered.users : Buffer.alloc(0);
  const tail = Buffer.from(servesValue ? ']}' : '}');
  return (arrived) => {
    res.writeHead(200, {
      'Content-Type': ODATA_JSON,
      'Content-Length': headBytes.length + users.length + tail.length,
      'Cache-Control': 'no-cache',
      'OData-Version': '4.0',
      ...idHeaders,
    });
    // Streamed as Graph streams it (odata.streaming=true): the head, with the next link, leaves at once, the
    // users follow. Over a network the body takes a while to arrive; here its first bytes mark the latency.
    // The rest is written on the next turn of the event loop: Node holds (corks) a response's writes until
    // the end of the current tick, so head and rest written together would leave as one.
    res.write(headBytes);
    if (servesValue) {
      ctx.stats.graphPagesServed++;
      ctx.stats.graphPageFirstByteMs += performance.now() - arrived;
    }
    setImmediate(() => {
      res.write(users);
      res.end(tail);
    });
  };
}

/** How many users the listing's filter matches, all pages together (the value of `@odata.count`). */
function matchCount(ctx: SimContext, q: ListingQuery, cache: Map<string, number>): number {
  if (q.predicate === undefined) return ctx.users.userCount;
  // Per filter and generation of the users (changes.ts): a change set changes the count.
  const key = `${ctx.users.generation}|${q.filter}`;
  let count = cache.get(key);
  if (count === undefined) {
    count = 0;
    const end = ctx.users.slotCount;
    for (let i = 0; i < end; i++) {
      const user = ctx.users.user(i);
      if (user !== undefined && q.predicate(user)) count++;
    }
    cache.set(key, count);
  }
  return count;
}
