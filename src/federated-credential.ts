/**
 * Secretless (README "Secretless"): the Graph app trusts the function's user-assigned managed identity as a
 * federated identity credential. MSAL's client assertion is that identity's token for the cloud's
 * token-exchange audience, asked of the managed-identity endpoint through `@azure/identity` each time MSAL
 * needs one ("Configure an application to trust a managed identity",
 * https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 * Nothing is stored, nothing is read from Key Vault, nothing is rotated.
 */
import { ManagedIdentityCredential, type TokenCredentialOptions } from '@azure/identity';
import type { ClientAssertionCallback } from '@azure/msal-node';
import { describeAzureError } from './azure-errors.js';
import { exportError, type ExportError, type FederatedMismatch } from './errors.js';

/** The claims of the identity's token that Entra compares with the app's federated identity credentials. */
export interface AssertionClaims {
  iss: string | undefined;
  sub: string | undefined;
  aud: string | undefined;
  /**
   * The identity's Azure resource ID, when the token carries it (`xms_mirid`: managed identities' tokens do, but the
   * access-token claims reference does not list it, so it only adds a hint to an error Entra already returned).
   */
  resourceId: string | undefined;
}

export interface FederatedCredential {
  kind: 'federated';
  managedIdentityClientId: string;
  /** The token-exchange audience of the cloud of GRAPH_AUTHORITY_HOST. */
  audience: string;
  /** Handed to MSAL as `auth.clientAssertion`: called for every token request MSAL sends. */
  clientAssertion: ClientAssertionCallback;
  /** What the last assertion said (read, not verified: Entra verifies it), to name the values to register. */
  lastAssertion(): AssertionClaims | undefined;
  fingerprint: string;
}

/**
 * The audience the identity's token must carry, by cloud: `api://AzureADTokenExchange` (global service),
 * `api://AzureADTokenExchangeUSGov` (US Government), `api://AzureADTokenExchangeChina` (21Vianet) — "Configure an
 * application to trust a managed identity", *audiences*. The cloud is told by the authority's host, under each
 * name MSAL knows for it (@azure/msal-common src/authority/AuthorityMetadata.ts, the instance-discovery aliases).
 * Entra names no audience for any other host (a test tenant, a private authority): those get the global one.
 */
export function tokenExchangeAudience(authorityHost: string): string {
  const host = new URL(authorityHost).hostname.toLowerCase();
  if (['login.microsoftonline.us', 'login.usgovcloudapi.net'].includes(host)) return 'api://AzureADTokenExchangeUSGov';
  if (['login.partner.microsoftonline.cn', 'login.chinacloudapi.cn'].includes(host)) return 'api://AzureADTokenExchangeChina';
  return 'api://AzureADTokenExchange';
}

/**
 * The federated credential for `managedIdentityClientId`. `transport` is the identity client's HTTP client and
 * retries (the same bounds as every other call of the run).
 */
export function federatedCredential(
  settings: { managedIdentityClientId: string; authorityHost: string },
  transport: TokenCredentialOptions,
): FederatedCredential {
  const { managedIdentityClientId, authorityHost } = settings;
  const audience = tokenExchangeAudience(authorityHost);
  const identity = new ManagedIdentityCredential({ ...transport, clientId: managedIdentityClientId });
  let last: AssertionClaims | undefined;
  return {
    kind: 'federated',
    managedIdentityClientId,
    audience,
    // @azure/identity keeps the identity's token and fetches a new one once it is within 5 minutes of its expiry
    // (msal-node's ManagedIdentityApplication cache, tokenRenewalOffsetSeconds), so each call hands MSAL a token
    // that is still valid: MSAL calls this for every token request it sends (ClientApplication.getClientAssertion).
    clientAssertion: async () => {
      try {
        const token = await identity.getToken(`${audience}/.default`);
        last = readClaims(token.token);
        return token.token;
      } catch (e) {
        throw identityError(e, managedIdentityClientId, audience, authorityHost);
      }
    },
    lastAssertion: () => last,
    fingerprint: `${managedIdentityClientId}|${audience}`,
  };
}

/** The token's payload, decoded without verifying it: only to tell the user what Entra compared. */
function readClaims(jwt: string): AssertionClaims | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return { iss: text(payload['iss']), sub: text(payload['sub']), aud: text(payload['aud']), resourceId: text(payload['xms_mirid']) };
  } catch {
    return undefined;
  }
}

function identityError(e: unknown, clientId: string, audience: string, authorityHost: string): ExportError {
  const doing = `getting the token of managed identity ${clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID) for the token-exchange audience ${audience}`;
  const described = describeAzureError(e, doing, 'TokenRequestFailed');
  if (described.code !== 'IdentityFailed' && described.code !== 'IdentityUnavailable') return described;
  const all = errorText(e);
  const said = firstLine(all.split(' | ')[0] ?? all);
  // No App Service identity endpoint here (a developer machine): the identity library tried the VM one.
  if (process.env['IDENTITY_ENDPOINT'] === undefined)
    return exportError('IdentityUnavailable', { kind: 'federatedNoEndpoint', clientId, said }, { cause: e });
  if (described.code === 'IdentityFailed') return described;
  if (/AADSTS500011/.test(all))
    return exportError('IdentityUnavailable', { kind: 'federatedAudienceUnknown', clientId, said, audience, authorityHost }, { cause: e });
  // App Service's answer for a client_id that is no identity of the app.
  if (/Unable to load the proper Managed Identity/i.test(all))
    return exportError('IdentityUnavailable', { kind: 'federatedNotAssigned', clientId, said }, { cause: e });
  return exportError('IdentityUnavailable', { kind: 'federatedRefused', clientId, said }, { cause: e });
}

/** Everything an identity error says, its inner errors included (the endpoint's answer sits in a nested error). */
function errorText(e: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (x: unknown): void => {
    if (!x || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const err = x as { message?: unknown; errors?: unknown; cause?: unknown; errorMessage?: unknown };
    for (const m of [err.message, err.errorMessage]) if (typeof m === 'string') parts.push(m);
    for (const inner of [...(Array.isArray(err.errors) ? (err.errors as unknown[]) : []), err.cause]) visit(inner);
  };
  visit(e);
  return parts.join(' | ');
}

function firstLine(text: string): string {
  return (text.split(/\r?\n/)[0] ?? '').trim();
}

/**
 * What Entra compared when it refused the credential (the claims of the last token presented), or, when it could
 * not be read, what they should be: for the message naming the values the app's federated credential must have.
 */
export function federatedMismatch(credential: FederatedCredential, app: { tenantId: string; authorityHost: string }): FederatedMismatch {
  const claims = credential.lastAssertion();
  const resourceId = claims?.resourceId;
  return {
    identityClientId: credential.managedIdentityClientId,
    issuer: claims?.iss ?? `${app.authorityHost}/${app.tenantId}/v2.0`,
    subject: claims?.sub ?? `<the principal (object) ID of managed identity ${credential.managedIdentityClientId}>`,
    audience: claims?.aud ?? credential.audience,
    systemAssigned:
      resourceId !== undefined && !/\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//i.test(resourceId)
        ? resourceId
        : undefined,
  };
}
