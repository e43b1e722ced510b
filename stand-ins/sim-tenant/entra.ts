/**
 * The Entra ID authority (`GRAPH_AUTHORITY_HOST`): OpenID discovery, instance discovery, JWKS, and the v2.0 token
 * endpoint for the client-credentials grant with a client secret or a certificate assertion (private_key_jwt).
 *
 * Validation follows Entra's order and answers with its status codes and AADSTS bodies, so the product's error
 * handling is exercised against what it will really receive.
 */
import type http from 'node:http';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { type SimContext, accessTokenIssuer, isThisTenant, v2Issuer } from './context.js';
import type { AppRegistration, RegisteredCertificate } from './directory.js';
import { AADSTS, aadError, aadTimestamp } from './errors.js';
import { applyCommonFault } from './faults.js';
import { type Handler, readBody, sendJson } from './http.js';
import { decodeJwt, nowSeconds, verifyJwtSignature } from './jwt.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Clock skew Entra tolerates on assertion times. */
const SKEW_S = 300;
/** Longest assertion lifetime accepted (MSAL issues 10 minutes). */
const MAX_ASSERTION_LIFETIME_S = 600;

type AadFailure = { status: number; error: string; code: number; message: string };
const fail = (status: number, error: string, detail: { code: number; message: string }): AadFailure => ({ status, error, ...detail });

export function openIdConfiguration(ctx: SimContext): Record<string, unknown> {
  const base = `${ctx.authorityHost}/${ctx.tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${ctx.graphEndpoint}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'preferred_username',
      'name',
      'tid',
      'ver',
      'at_hash',
      'c_hash',
      'email',
    ],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: 'NA',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: new URL(ctx.graphEndpoint).host,
    rbac_url: 'https://pas.windows.net',
  };
}

export function createEntraHandler(ctx: SimContext): Handler {
  const host = new URL(ctx.authorityHost).host;

  const sendAad = (res: http.ServerResponse, req: http.IncomingMessage, f: AadFailure): void => {
    const correlationId = header(req, 'client-request-id');
    sendJson(
      res,
      f.status,
      aadError({
        error: f.error,
        code: f.code,
        message: f.message,
        authorityHost: ctx.authorityHost,
        ...(correlationId !== undefined ? { correlationId } : {}),
      }),
      noStore(correlationId),
    );
  };

  /** Applies an injected fault, if one matches; true when the response is taken care of. */
  const injected = (target: 'openid' | 'token', nth: number, req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const fault = ctx.faults.take(target, { nth });
    if (fault === undefined) return false;
    const correlationId = header(req, 'client-request-id');
    return applyCommonFault(fault, res, (status) =>
      aadError({
        error: status >= 500 || status === 429 ? 'temporarily_unavailable' : 'invalid_request',
        ...(status >= 500 || status === 429 ? AADSTS.transient() : AADSTS.malformedRequest()),
        authorityHost: ctx.authorityHost,
        ...(correlationId !== undefined ? { correlationId } : {}),
      }),
    );
  };

  return async (req, res, url) => {
    const segments = url.pathname.split('/').filter((s) => s !== '');
    const tenant = decodeURIComponent(segments[0] ?? '');
    const rest = segments.slice(1).join('/');

    if (
      req.method === 'GET' &&
      (rest === 'v2.0/.well-known/openid-configuration' ||
        rest === 'discovery/instance' ||
        rest === 'discovery/v2.0/keys' ||
        rest === 'discovery/keys')
    ) {
      ctx.stats.openid++;
      if (injected('openid', ctx.stats.openid, req, res)) return;
      if (rest === 'discovery/instance') {
        // Instance discovery (MSAL calls it unless the host is in knownAuthorities): this host is its own cloud.
        sendJson(res, 200, instanceDiscovery(ctx, host, url));
        return;
      }
      if (rest.startsWith('discovery/') && rest.endsWith('keys')) {
        sendJson(res, 200, ctx.signer.jwks());
        return;
      }
      if (!isThisTenant(ctx, tenant)) {
        sendAad(res, req, fail(400, 'invalid_tenant', AADSTS.tenantNotFound(tenant)));
        return;
      }
      sendJson(res, 200, openIdConfiguration(ctx));
      return;
    }

    if (req.method === 'POST' && rest === 'oauth2/v2.0/token') {
      ctx.stats.token++;
      if (injected('token', ctx.stats.token, req, res)) return;
      const outcome = await tokenRequest(ctx, req, tenant);
      if ('status' in outcome) {
        sendAad(res, req, outcome);
        return;
      }
      ctx.stats.tokensIssued++;
      sendJson(res, 200, outcome, noStore(header(req, 'client-request-id')));
      return;
    }

    sendJson(res, 404, { error: 'not_found', error_description: `sim-tenant: no such authority endpoint ${url.pathname}` });
  };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function noStore(correlationId: string | undefined): Record<string, string> {
  return {
    'Cache-Control': 'no-store, no-cache',
    Pragma: 'no-cache',
    'x-ms-request-id': randomUUID(),
    ...(correlationId !== undefined ? { 'client-request-id': correlationId } : {}),
  };
}

function instanceDiscovery(ctx: SimContext, host: string, url: URL): Record<string, unknown> {
  // The tenant MSAL asks about comes in `authorization_endpoint` (https://host/<tenant>/oauth2/v2.0/authorize).
  let tenant = ctx.tenantId;
  const endpoint = url.searchParams.get('authorization_endpoint');
  if (endpoint !== null) {
    try {
      tenant = new URL(endpoint).pathname.split('/').filter((s) => s !== '')[0] ?? tenant;
    } catch {
      // keep the tenant id
    }
  }
  return {
    tenant_discovery_endpoint: `${ctx.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}

interface TokenSuccess {
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
}

async function tokenRequest(ctx: SimContext, req: http.IncomingMessage, tenant: string): Promise<TokenSuccess | AadFailure> {
  if (!isThisTenant(ctx, tenant)) return fail(400, 'invalid_request', AADSTS.tenantNotFound(tenant));

  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  const raw = await readBody(req);
  const form = contentType.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : new URLSearchParams();
  const param = (name: string): string | undefined => {
    const v = form.get(name);
    return v === null || v === '' ? undefined : v;
  };

  // client_secret_basic: credentials in the Authorization header (each part form-url-encoded).
  let basicId: string | undefined;
  let basicSecret: string | undefined;
  const auth = req.headers.authorization;
  if (auth !== undefined && /^Basic\s+/i.test(auth)) {
    const decoded = Buffer.from(auth.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      basicId = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
      basicSecret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' '));
    }
  }

  const grantType = param('grant_type');
  if (grantType === undefined) return fail(400, 'invalid_request', AADSTS.missingParameter('grant_type'));
  if (grantType !== 'client_credentials') return fail(400, 'unsupported_grant_type', AADSTS.unsupportedGrantType(grantType));

  const clientId = param('client_id') ?? basicId;
  if (clientId === undefined) return fail(400, 'invalid_request', AADSTS.missingParameter('client_id'));
  const app = ctx.directory.app(clientId);
  if (app === undefined) return fail(400, 'unauthorized_client', AADSTS.appNotFound(clientId, ctx.tenantDomain));

  const scope = param('scope');
  if (scope === undefined) return fail(400, 'invalid_request', AADSTS.missingParameter('scope'));
  const scopeCheck = checkScope(ctx, scope);
  if (scopeCheck !== undefined) return scopeCheck;

  const assertion = param('client_assertion');
  const secret = param('client_secret') ?? basicSecret;
  let credentialKind: '1' | '2';
  let federated = false;
  if (assertion !== undefined || param('client_assertion_type') !== undefined) {
    if (param('client_assertion_type') !== JWT_BEARER || assertion === undefined)
      return fail(400, 'invalid_request', AADSTS.assertionTypeInvalid());
    federated = isFederatedAssertion(app, assertion);
    const problem = federated ? checkFederatedAssertion(ctx, app, assertion) : checkAssertion(ctx, app, assertion, tenant);
    if (problem !== undefined) return problem;
    credentialKind = '2';
  } else if (secret !== undefined) {
    const problem = checkSecret(app, secret);
    if (problem !== undefined) return problem;
    credentialKind = '1';
  } else {
    return fail(401, 'invalid_client', AADSTS.noCredential());
  }

  const now = nowSeconds();
  const accessToken = ctx.signer.issue({
    aud: ctx.graphEndpoint,
    iss: accessTokenIssuer(ctx.tenantId),
    iat: now,
    nbf: now,
    exp: now + ctx.accessTokenLifetimeSeconds,
    aio: randomUUID(),
    app_displayname: app.displayName,
    appid: app.clientId,
    appidacr: credentialKind,
    idp: accessTokenIssuer(ctx.tenantId),
    idtyp: 'app',
    oid: app.objectId,
    ...(app.roles.length > 0 ? { roles: [...app.roles] } : {}),
    sub: app.objectId,
    tenant_region_scope: 'NA',
    tid: ctx.tenantId,
    ver: '1.0',
  });
  if (federated) ctx.stats.federatedTokensIssued++;
  return {
    token_type: 'Bearer',
    expires_in: ctx.accessTokenLifetimeSeconds,
    ext_expires_in: ctx.accessTokenLifetimeSeconds,
    access_token: accessToken,
  };
}

/** Client credentials need exactly one scope, `<resource>/.default`, and the resource must be Graph here. */
function checkScope(ctx: SimContext, scope: string): AadFailure | undefined {
  const scopes = scope.split(' ').filter((s) => s !== '');
  const only = scopes[0];
  if (scopes.length !== 1 || only === undefined || !only.endsWith('/.default'))
    return fail(400, 'invalid_scope', AADSTS.invalidScope(scope));
  const resource = only.slice(0, -'/.default'.length).replace(/\/+$/, '');
  if (resource.toLowerCase() !== ctx.graphEndpoint.toLowerCase())
    return fail(400, 'invalid_resource', AADSTS.resourceNotFound(resource, ctx.tenantDomain));
  return undefined;
}

function checkSecret(app: AppRegistration, secret: string): AadFailure | undefined {
  const presented = Buffer.from(secret);
  const match = app.secrets.find((s) => {
    const stored = Buffer.from(s.value);
    return stored.length === presented.length && timingSafeEqual(stored, presented);
  });
  if (match === undefined) return fail(401, 'invalid_client', AADSTS.invalidSecret(app.clientId));
  if (match.expired) return fail(401, 'invalid_client', AADSTS.expiredSecret(app.clientId));
  return undefined;
}

const certWindow = (c: RegisteredCertificate): [string, string] =>
  [c.x509.validFrom, c.x509.validTo].map((s) => new Date(s).toISOString()) as [string, string];

/** private_key_jwt: header, key lookup by thumbprint, signature, x5c, certificate validity, then the claims. */
function checkAssertion(ctx: SimContext, app: AppRegistration, assertion: string, pathTenant: string): AadFailure | undefined {
  const jwt = decodeJwt(assertion);
  if (jwt === undefined) return fail(400, 'invalid_request', AADSTS.assertionMalformed());
  const alg = jwt.header['alg'];
  if (alg !== 'PS256' && alg !== 'RS256') return fail(400, 'invalid_request', AADSTS.assertionMalformed());

  // x5t#S256 is the SHA-256 thumbprint (base64url of the digest); x5t the legacy SHA-1 one.
  const s256 = jwt.header['x5t#S256'];
  const s1 = jwt.header['x5t'];
  const presented =
    typeof s256 === 'string' ? Buffer.from(s256, 'base64url') : typeof s1 === 'string' ? Buffer.from(s1, 'base64url') : Buffer.alloc(0);
  const thumbprint = presented.toString('hex').toUpperCase();
  const cert =
    presented.length === 0 ? undefined : app.certificates.find((c) => (typeof s256 === 'string' ? c.sha256 : c.sha1).equals(presented));
  if (cert === undefined) return fail(401, 'invalid_client', AADSTS.keyNotFound(thumbprint, app.clientId));

  const [start, end] = certWindow(cert);
  if (!verifyJwtSignature(jwt, alg, cert.x509.publicKey)) return fail(401, 'invalid_client', AADSTS.badSignature(thumbprint, start, end));

  const x5c = jwt.header['x5c'];
  if (x5c !== undefined) {
    const leaf = Array.isArray(x5c) && typeof x5c[0] === 'string' ? Buffer.from(x5c[0], 'base64') : undefined;
    if (leaf === undefined || !leaf.equals(cert.x509.raw)) return fail(401, 'invalid_client', AADSTS.x5cMismatch(thumbprint));
  }

  const nowMs = Date.now();
  if (nowMs < Date.parse(cert.x509.validFrom) || nowMs > Date.parse(cert.x509.validTo)) {
    return fail(401, 'invalid_client', AADSTS.keyExpired(thumbprint, start, end));
  }

  const claims = jwt.payload;
  if (claims['iss'] !== app.clientId || claims['sub'] !== app.clientId) return fail(401, 'invalid_client', AADSTS.issuerMismatch());

  const audiences = new Set(
    [
      `${ctx.authorityHost}/${ctx.tenantId}/oauth2/v2.0/token`,
      `${ctx.authorityHost}/${ctx.tenantDomain}/oauth2/v2.0/token`,
      `${ctx.authorityHost}/${pathTenant}/oauth2/v2.0/token`,
      `${ctx.authorityHost}/${ctx.tenantId}/v2.0`,
    ].map((a) => a.toLowerCase()),
  );
  const aud = claims['aud'];
  const auds = Array.isArray(aud) ? aud : [aud];
  if (!auds.some((a) => typeof a === 'string' && audiences.has(a.toLowerCase())))
    return fail(401, 'invalid_client', AADSTS.audienceMismatch());

  const now = nowSeconds();
  const exp = claims['exp'];
  const nbf = typeof claims['nbf'] === 'number' ? claims['nbf'] : typeof claims['iat'] === 'number' ? claims['iat'] : undefined;
  const from = nbf ?? now;
  if (typeof exp !== 'number' || exp + SKEW_S < now || from - SKEW_S > now || exp - from > MAX_ASSERTION_LIFETIME_S + SKEW_S) {
    const until = typeof exp === 'number' ? aadTimestamp(new Date(exp * 1000)) : 'none';
    return fail(401, 'invalid_client', AADSTS.notInTimeRange(aadTimestamp(new Date()), aadTimestamp(new Date(from * 1000)), until));
  }

  if (typeof claims['jti'] !== 'string' || claims['jti'] === '') return fail(400, 'invalid_request', AADSTS.assertionMalformed());
  return undefined;
}

/**
 * A client assertion issued by an identity provider rather than signed by the app itself: its `iss` is an issuer
 * URL, not the app's client ID (which a certificate assertion's `iss` must be) — workload identity federation
 * ("Workload identity federation", https://learn.microsoft.com/entra/workload-id/workload-identity-federation).
 */
function isFederatedAssertion(app: AppRegistration, assertion: string): boolean {
  const iss = decodeJwt(assertion)?.payload['iss'];
  return typeof iss === 'string' && iss !== app.clientId && /^https:\/\//i.test(iss);
}

/**
 * A managed identity's token presented as the app's credential: signed by this tenant (the only issuer the sim
 * knows), within its lifetime, and matching one of the app's federated identity credentials on issuer, then
 * subject (case-sensitive), then audience — each exactly as registered ("Configure an application to trust a
 * managed identity": "the *issuer* and *subject* values of the federated identity credential are checked against
 * the `issuer` and `subject` claims"; the subject is "case-sensitive"; the audience "appears in the `aud` claim").
 */
function checkFederatedAssertion(ctx: SimContext, app: AppRegistration, assertion: string): AadFailure | undefined {
  const jwt = decodeJwt(assertion);
  if (jwt === undefined) return fail(400, 'invalid_request', AADSTS.assertionMalformed());
  const claims = jwt.payload;
  const iss = String(claims['iss']);
  const sub = typeof claims['sub'] === 'string' ? claims['sub'] : '';
  const auds = (Array.isArray(claims['aud']) ? claims['aud'] : [claims['aud']]).filter((a): a is string => typeof a === 'string');

  // Only this tenant's own issuer can be verified here; its tokens must carry its signature.
  const signed = iss === v2Issuer(ctx) && ctx.signer.check(assertion);
  if (signed !== false && !signed.ok && (signed.reason === 'malformed' || signed.reason === 'signature')) {
    return fail(401, 'invalid_client', AADSTS.externalTokenSignature());
  }

  const byIssuer = app.federatedIdentityCredentials.filter((f) => f.issuer === iss);
  if (byIssuer.length === 0) return fail(401, 'invalid_client', AADSTS.noMatchingFederatedRecord('issuer', iss));
  const bySubject = byIssuer.filter((f) => f.subject === sub);
  if (bySubject.length === 0) {
    const caseOnly = byIssuer.some((f) => f.subject.toLowerCase() === sub.toLowerCase());
    return fail(401, 'invalid_client', caseOnly ? AADSTS.federatedSubjectCase(sub) : AADSTS.noMatchingFederatedRecord('subject', sub));
  }
  if (!bySubject.some((f) => f.audiences.some((a) => auds.includes(a)))) {
    return fail(401, 'invalid_client', AADSTS.noMatchingFederatedRecord('audience', auds.join(', ')));
  }
  if (signed === false) return fail(401, 'invalid_client', AADSTS.externalTokenSignature());

  // Lifetime: the token's own exp/nbf, with the skew Entra allows assertions; no 10-minute cap (a managed identity's
  // token lives about 24 hours).
  const now = nowSeconds();
  const exp = claims['exp'];
  const nbf = typeof claims['nbf'] === 'number' ? claims['nbf'] : now;
  if (typeof exp !== 'number' || exp + SKEW_S < now || nbf - SKEW_S > now) {
    const until = typeof exp === 'number' ? aadTimestamp(new Date(exp * 1000)) : 'none';
    return fail(401, 'invalid_client', AADSTS.notInTimeRange(aadTimestamp(new Date()), aadTimestamp(new Date(nbf * 1000)), until));
  }
  return undefined;
}
