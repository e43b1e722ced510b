/**
 * The App Service / Functions managed-identity endpoint (`IDENTITY_ENDPOINT`, protocol 2019-08-01): plain http on
 * 127.0.0.1, guarded by the `X-IDENTITY-HEADER` secret, issuing tokens for the resources this tenant knows
 * (Key Vault, Storage, its Graph) on behalf of the function's system-assigned identity or a user-assigned one
 * selected by `client_id`. Any other resource fails as Entra fails it (AADSTS500011).
 */
import { randomUUID } from 'node:crypto';
import { KEY_VAULT_RESOURCE, STORAGE_RESOURCE, type SimContext, accessTokenIssuer, v2Issuer } from './context.js';
import type { ManagedIdentity } from './directory.js';
import { AADSTS, appServiceMsiError } from './errors.js';
import { applyCommonFault } from './faults.js';
import { type Handler, sendJson } from './http.js';
import { nowSeconds } from './jwt.js';

export const MSI_PATH = '/msi/token';
export const MSI_API_VERSION = '2019-08-01';
/** Managed-identity access tokens live about 24 hours (the sim's default; see managedIdentityTokenLifetimeSeconds). */
export const MI_TOKEN_LIFETIME_S = 86_399;
const SUBSCRIPTION = '00000000-0000-0000-0000-00000000c0de';

export function createManagedIdentityHandler(ctx: SimContext, identityHeader: string): Handler {
  return async (req, res, url) => {
    if (url.pathname !== MSI_PATH) {
      sendJson(res, 404, appServiceMsiError(404, 'Not Found'));
      return;
    }
    ctx.stats.msi++;
    const fault = ctx.faults.take('msi', { nth: ctx.stats.msi });
    if (
      fault !== undefined &&
      applyCommonFault(fault, res, (status) => appServiceMsiError(status, status >= 500 ? 'An unexpected error occurred.' : 'Bad Request'))
    )
      return;

    if (req.method !== 'GET') {
      sendJson(res, 405, appServiceMsiError(405, 'Method Not Allowed'));
      return;
    }
    const presented = req.headers['x-identity-header'];
    if (presented === undefined || presented === '') {
      sendJson(res, 400, appServiceMsiError(400, "The request is missing the 'X-IDENTITY-HEADER' header."));
      return;
    }
    if (presented !== identityHeader) {
      sendJson(res, 401, appServiceMsiError(401, "The 'X-IDENTITY-HEADER' header is not valid."));
      return;
    }
    const q = url.searchParams;
    const apiVersion = q.get('api-version');
    if (apiVersion !== MSI_API_VERSION) {
      sendJson(
        res,
        400,
        appServiceMsiError(400, `The api-version '${apiVersion ?? ''}' is not supported. Supported versions: ${MSI_API_VERSION}.`),
      );
      return;
    }
    const resource = q.get('resource');
    if (resource === null || resource === '') {
      sendJson(res, 400, appServiceMsiError(400, "The 'resource' query parameter is required."));
      return;
    }
    // The token-exchange audience of this tenant's cloud only: another cloud's is not a resource here (AADSTS500011).
    const known = [KEY_VAULT_RESOURCE, STORAGE_RESOURCE, ctx.graphEndpoint, ctx.tokenExchangeAudience].map(normalResource);
    if (!known.includes(normalResource(resource))) {
      const { code, message } = AADSTS.resourceNotFound(resource, ctx.tenantDomain);
      sendJson(res, 400, appServiceMsiError(400, `AADSTS${code}: ${message}`));
      return;
    }
    const identity = selectIdentity(ctx, q);
    if (identity === undefined) {
      sendJson(res, 400, appServiceMsiError(400, 'Unable to load the proper Managed Identity.'));
      return;
    }

    const now = nowSeconds();
    const exp = now + ctx.managedIdentityTokenLifetimeSeconds;
    const resourceId =
      identity.kind === 'system'
        ? `/subscriptions/${SUBSCRIPTION}/resourcegroups/sim-rg/providers/Microsoft.Web/sites/sim-func`
        : `/subscriptions/${SUBSCRIPTION}/resourcegroups/sim-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-${identity.clientId.slice(0, 8)}`;
    const exchange = normalResource(resource) === normalResource(ctx.tokenExchangeAudience);
    // For the token-exchange audience, a v2.0 token: `iss` the tenant's v2.0 issuer, `sub` the identity's principal
    // (object) ID, `aud` the exchange audience — the three values a federated identity credential trusting the identity
    // names ("Configure an application to trust a managed identity"); `azp`/`azpacr` are the v2.0 names of
    // `appid`/`appidacr` ("Access token claims reference", https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
    const claims = exchange
      ? {
          aud: resource,
          iss: v2Issuer(ctx),
          iat: now,
          nbf: now,
          exp,
          aio: randomUUID(),
          azp: identity.clientId,
          azpacr: '2',
          idtyp: 'app',
          oid: identity.principalId,
          sub: identity.principalId,
          tid: ctx.tenantId,
          ver: '2.0',
          xms_mirid: resourceId,
        }
      : {
          aud: resource,
          iss: accessTokenIssuer(ctx.tenantId),
          iat: now,
          nbf: now,
          exp,
          aio: randomUUID(),
          appid: identity.clientId,
          appidacr: '2',
          idp: accessTokenIssuer(ctx.tenantId),
          idtyp: 'app',
          oid: identity.principalId,
          sub: identity.principalId,
          tid: ctx.tenantId,
          ver: '1.0',
          xms_mirid: resourceId,
        };
    const accessToken = ctx.signer.issue(claims);
    if (exchange) ctx.stats.exchangeTokensIssued++;
    sendJson(res, 200, {
      access_token: accessToken,
      expires_on: String(exp),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    });
  };
}

/** System-assigned unless `client_id` (or `principal_id` / `object_id`) names a user-assigned identity. */
function selectIdentity(ctx: SimContext, q: URLSearchParams): ManagedIdentity | undefined {
  const clientId = q.get('client_id');
  if (clientId !== null) return ctx.directory.identity(clientId);
  const principalId = q.get('principal_id') ?? q.get('object_id');
  if (principalId !== null) return ctx.directory.identityByPrincipal(principalId);
  if (q.get('mi_res_id') !== null) return undefined;
  return ctx.directory.systemIdentity;
}

/** Entra matches a resource URI case-insensitively and with or without its trailing slash. */
function normalResource(resource: string): string {
  return resource.toLowerCase().replace(/\/+$/, '');
}
