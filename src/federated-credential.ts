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
import { ExportError } from './errors.js';

/** The claims of the identity's token that Entra compares with the app's federated identity credentials. */
export interface AssertionClaims {
  iss: string | undefined;
  sub: string | undefined;
  aud: string | undefined;
  /** The identity's Azure resource ID, when the token carries it (`xms_mirid`). */
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
  const described = describeAzureError(e, doing, 'IdentityFailed');
  if (described.code === 'IdentityFailed') {
    // No App Service identity endpoint here (a developer machine): the identity library fell back to the VM one.
    if (process.env['IDENTITY_ENDPOINT'] === undefined) {
      return new ExportError('IdentityFailed', `${described.message} ${LOCAL_HINT}`, { cause: e });
    }
    return described;
  }
  const all = errorText(e);
  const text = all.split(' | ')[0] ?? all;
  if (/AADSTS500011/.test(all)) {
    return new ExportError(
      'IdentityUnavailable',
      `Getting the token of managed identity ${clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID) for the token-exchange audience ${audience} failed: its cloud does not know that audience (AADSTS500011). The audience follows GRAPH_AUTHORITY_HOST ('${authorityHost}'): set GRAPH_AUTHORITY_HOST to the login host of the cloud the identity and the app are in (a federated credential works only within one cloud). (${firstLine(text)})`,
      { cause: e },
    );
  }
  if (/Unable to load the proper Managed Identity|not found|does not exist|identity not found/i.test(all)) {
    return new ExportError(
      'IdentityUnavailable',
      `The managed-identity endpoint has no identity with client ID ${clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID) for this function app. Assign that user-assigned identity to the function app (az functionapp identity assign --identities <its resource ID>) and set GRAPH_FEDERATED_IDENTITY_CLIENT_ID to its client ID; only a user-assigned identity can be an app's federated credential, not the system-assigned one. (${firstLine(text)})`,
      { cause: e },
    );
  }
  return new ExportError(
    'IdentityUnavailable',
    `${described.message} ${LOCAL_HINT}`,
    { cause: e },
  );
}

const LOCAL_HINT =
  "A federated credential needs the function's user-assigned managed identity: it works where that identity is assigned (the function app in Azure), not on a developer machine, which uses GRAPH_CLIENT_SECRET_NAME or GRAPH_CLIENT_CERTIFICATE_NAME instead.";

/** Everything an identity error says, its inner errors included (the endpoint's answer sits in a nested error). */
function errorText(e: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (x: unknown): void => {
    if (!x || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const err = x as { message?: unknown; errors?: unknown; cause?: unknown; errorMessage?: unknown };
    for (const m of [err.message, err.errorMessage]) if (typeof m === 'string') parts.push(m);
    for (const inner of [...(Array.isArray(err.errors) ? err.errors : []), err.cause]) visit(inner);
  };
  visit(e);
  return parts.join(' | ');
}

function firstLine(text: string): string {
  return (text.split(/\r?\n/)[0] ?? '').trim();
}

/**
 * What to do about Entra refusing the identity's token as the app's credential (the AADSTS7002xx "No matching
 * federated identity record" family: 70021 any, 700211 issuer, 700212 audience, 700213 subject, 7002138 subject
 * matching only case-insensitively), naming the values the app's federated identity credential must have.
 */
export function federatedMismatchAdvice(code: string, credential: FederatedCredential, app: { clientId: string; tenantId: string; authorityHost: string }): string | undefined {
  const which: Record<string, string> = { '70021': 'issuer, subject or audience', '700211': 'issuer', '700212': 'audience', '700213': 'subject', '7002138': 'subject (its case)' };
  const part = which[code];
  if (part === undefined) return undefined;
  const claims = credential.lastAssertion();
  const issuer = claims?.iss ?? `${app.authorityHost}/${app.tenantId}/v2.0`;
  const subject = claims?.sub ?? `<the principal (object) ID of managed identity ${credential.managedIdentityClientId}>`;
  const audience = claims?.aud ?? credential.audience;
  const parameters = JSON.stringify({ name: 'entra-users-export', issuer, subject, audiences: [audience] });
  const systemAssigned =
    claims?.resourceId !== undefined && !/\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//i.test(claims.resourceId)
      ? ` The token came from a system-assigned identity (${claims.resourceId}): only a user-assigned identity can be an app's federated credential — create one, assign it to the function app and set GRAPH_FEDERATED_IDENTITY_CLIENT_ID to its client ID.`
      : '';
  return (
    `app ${app.clientId} has no federated identity credential matching the token of managed identity ${credential.managedIdentityClientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID): check its ${part}.${systemAssigned} ` +
    `The credential must have issuer '${issuer}', subject '${subject}' (the identity's principal (object) ID, case-sensitive) and audience '${audience}': ` +
    `az ad app federated-credential create --id ${app.clientId} --parameters '${parameters}' (or correct the existing one; scripts/provision-federated.sh does it). A new credential can take a few minutes to apply.`
  );
}
