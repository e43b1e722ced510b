/**
 * Microsoft Graph tokens with MSAL's client-credentials flow.
 *
 * One `ConfidentialClientApplication` per credential, kept at module scope: a warm Functions instance
 * reuses it across invocations, so its in-memory token cache saves a token request per run.
 * `GRAPH_AUTHORITY_HOST` is trusted as given: we read its OpenID configuration ourselves and hand it to
 * MSAL as authority metadata, so MSAL does no instance discovery against login.microsoftonline.com
 * (sovereign clouds, test tenants) and an unknown tenant surfaces as its real AADSTS90002 answer.
 */
import { ConfidentialClientApplication, LogLevel, type Configuration } from '@azure/msal-node';
import { ExportError } from './errors.js';
import { describeAzureError } from './azure-errors.js';
import { HttpClientWithRetries, msalNetworkModule, retryBounds } from './http.js';
import type { GraphCredential } from './credential.js';
import { federatedMismatchAdvice } from './federated-credential.js';
import type { ExportSettings } from './settings.js';

export interface TokenProvider {
  /** A Graph access token; `forceRefresh` skips MSAL's cache (after a 401 mid-run). */
  getToken(options?: { forceRefresh?: boolean }): Promise<string>;
}

type TokenSettings = Pick<ExportSettings, 'tenantId' | 'clientId' | 'authorityHost' | 'graphEndpoint' | 'credential' | 'requestTimeoutMs'>;

// Module-scope cache, deliberately: see the file comment. Keyed by everything that identifies the
// credential (a secret by its hash, never its value), so a rotated credential gets a new application.
const applications = new Map<string, Promise<ConfidentialClientApplication>>();
// Token requests get the same proxy and retry behaviour as Graph calls, on their own client (one per
// request timeout, which is part of the application's key).
const tokenHttpClients = new Map<number, HttpClientWithRetries>();
function tokenHttp(settings: TokenSettings): HttpClientWithRetries {
  const timeoutMs = settings.requestTimeoutMs;
  let client = tokenHttpClients.get(timeoutMs);
  if (!client) {
    client = new HttpClientWithRetries({ maxRetries: 4, ...retryBounds(timeoutMs) });
    tokenHttpClients.set(timeoutMs, client);
  }
  return client;
}

/** How long before its expiry a token is no longer handed out from this run's cache (MSAL's own margin). */
const EXPIRY_MARGIN_MS = 5 * 60_000;

export function graphTokenProvider(settings: TokenSettings, credential: GraphCredential, log?: (message: string) => void): TokenProvider {
  const key = [settings.authorityHost, settings.tenantId.toLowerCase(), settings.clientId.toLowerCase(), credential.kind, credential.fingerprint, settings.requestTimeoutMs].join('|');
  const scopes = [`${settings.graphEndpoint}/.default`];
  // The token every page request of this run uses, until MSAL would renew it: asking MSAL's cache for each
  // of a million-user run's thousand pages costs ~0.4 ms each, on the path from one page to the next.
  let current: { accessToken: string; renewAt: number } | undefined;
  return {
    async getToken(options = {}) {
      if (options.forceRefresh === true) current = undefined;
      if (current !== undefined && Date.now() < current.renewAt) return current.accessToken;
      let pending = applications.get(key);
      if (!pending) {
        pending = createApplication(settings, credential, log);
        applications.set(key, pending);
        // A failed creation (e.g. the authority was unreachable) must not be cached.
        pending.catch(() => applications.delete(key));
      }
      const app = await pending;
      try {
        const result = await app.acquireTokenByClientCredential({ scopes, skipCache: options.forceRefresh === true });
        if (!result?.accessToken) throw new Error('MSAL returned no access token');
        const expiresAt = (result.expiresOn?.getTime() ?? Date.now()) - EXPIRY_MARGIN_MS;
        current = { accessToken: result.accessToken, renewAt: Math.min(expiresAt, result.refreshOn?.getTime() ?? expiresAt) };
        return result.accessToken;
      } catch (e) {
        throw tokenError(e, settings, credential);
      }
    },
  };
}

async function createApplication(settings: TokenSettings, credential: GraphCredential, log?: (message: string) => void): Promise<ConfidentialClientApplication> {
  const authority = `${settings.authorityHost}/${settings.tenantId}`;
  const metadata = await readAuthorityMetadata(authority, settings);
  const auth: Configuration['auth'] = {
    clientId: settings.clientId,
    authority,
    knownAuthorities: [new URL(settings.authorityHost).host],
    authorityMetadata: metadata,
  };
  if (credential.kind === 'secret') {
    auth.clientSecret = credential.clientSecret;
  } else if (credential.kind === 'federated') {
    auth.clientAssertion = credential.clientAssertion;
  } else {
    auth.clientCertificate = { thumbprintSha256: credential.thumbprintSha256, privateKey: credential.privateKeyPem, x5c: credential.x5c };
  }
  return new ConfidentialClientApplication({
    auth,
    system: {
      networkClient: msalNetworkModule(tokenHttp(settings)),
      loggerOptions: {
        logLevel: LogLevel.Error,
        piiLoggingEnabled: false,
        loggerCallback: (_level, message, containsPii) => {
          if (!containsPii) log?.(`MSAL: ${message}`);
        },
      },
    },
  });
}

async function readAuthorityMetadata(authority: string, settings: TokenSettings): Promise<string> {
  const url = `${authority}/v2.0/.well-known/openid-configuration`;
  let status: number;
  let body: string;
  try {
    ({ status, body } = await tokenHttp(settings).send('GET', url));
  } catch (e) {
    throw describeAzureError(e, `reading the OpenID configuration of ${authority} (GRAPH_AUTHORITY_HOST, GRAPH_TENANT_ID)`, 'TokenRequestFailed');
  }
  let doc: { token_endpoint?: unknown; error_description?: unknown } | undefined;
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch {
    doc = undefined;
  }
  if (status === 200 && typeof doc?.token_endpoint === 'string') return body;
  // A 5xx / 429 after all retries is a failure to try again, even when its body carries an AADSTS code.
  if (typeof doc?.error_description === 'string' && status < 500 && status !== 429) {
    throw aadstsError(doc.error_description, settings);
  }
  throw new ExportError(
    status >= 500 || status === 429 ? 'TokenRequestFailed' : 'TokenRequestRejected',
    status >= 500 || status === 429
      ? `Reading the OpenID configuration ${url} failed with HTTP ${status} after all retries: the authority (GRAPH_AUTHORITY_HOST) is unavailable or throttling; try again later.`
      : `Reading the OpenID configuration ${url} failed with HTTP ${status}: check GRAPH_AUTHORITY_HOST ('${settings.authorityHost}') and GRAPH_TENANT_ID ('${settings.tenantId}').`,
  );
}

function tokenError(e: unknown, settings: TokenSettings, credential: GraphCredential): ExportError {
  if (e instanceof ExportError) return e;
  const err = e as { errorCode?: unknown; errorMessage?: unknown; message?: unknown };
  const text = [err.errorMessage, err.message].find((t): t is string => typeof t === 'string' && t.length > 0) ?? String(e);
  // Entra's transient answers (5xx, throttling) also carry AADSTS codes: they are failures, not rejections.
  const transient = /temporarily_unavailable|server_error|throttl/i.test(`${String(err.errorCode ?? '')} ${text}`);
  if (/AADSTS\d+/.test(text) && !transient) return aadstsError(text, settings, credential);
  return new ExportError(
    'TokenRequestFailed',
    `Getting a Microsoft Graph token from ${settings.authorityHost} for app ${settings.clientId} failed: ${text.split('\n')[0]}. Check that GRAPH_AUTHORITY_HOST is reachable (network, proxy, NODE_EXTRA_CA_CERTS) and try again.`,
    { cause: e },
  );
}

/** The AADSTS codes users meet, with what they mean and what to change (DESIGN.md error table). */
function aadstsError(description: string, settings: TokenSettings, credential?: GraphCredential): ExportError {
  const code = /AADSTS(\d+)/.exec(description)?.[1] ?? '';
  const summary = description.split(/\r?\n| Trace ID:/)[0]!.trim();
  const app = `app ${settings.clientId} in tenant ${settings.tenantId}`;
  const certHint = credential?.kind === 'certificate' ? ` (certificate SHA-256 thumbprint ${credential.thumbprintSha256})` : '';
  const advice: Record<string, string> = {
    '7000215': `The client secret stored in Key Vault is not a valid secret of ${app}: it is mistyped or was deleted. Create a new client secret on the app registration and store its value in the Key Vault secret named by GRAPH_CLIENT_SECRET_NAME (scripts/provision-secret.sh) — or better, use a certificate.`,
    '7000222': `The client secret stored in Key Vault has expired for ${app}. Create a new client secret on the app registration and store it in the Key Vault secret named by GRAPH_CLIENT_SECRET_NAME (scripts/provision-secret.sh).`,
    '700027': `The certificate from Key Vault${certHint} is not registered on ${app} (or its signature was rejected). Upload its public part to the app registration: az ad app credential reset --id ${settings.clientId} --cert @cert.pem --append (scripts/provision-certificate.sh does it).`,
    '700016': `GRAPH_CLIENT_ID '${settings.clientId}' is not an application in tenant '${settings.tenantId}'. Check GRAPH_CLIENT_ID and GRAPH_TENANT_ID; a multi-tenant app must first be consented in that tenant.`,
    '90002': `GRAPH_TENANT_ID '${settings.tenantId}' is not a tenant known to ${settings.authorityHost}. Check GRAPH_TENANT_ID (the directory ID or a verified domain) and, for sovereign clouds, GRAPH_AUTHORITY_HOST.`,
    '7000216': `The token request for ${app} carried no client credential. Set GRAPH_CLIENT_CERTIFICATE_NAME, GRAPH_CLIENT_SECRET_NAME or GRAPH_FEDERATED_IDENTITY_CLIENT_ID.`,
    '500011': `The resource ${settings.graphEndpoint} is not known to tenant '${settings.tenantId}'. Check GRAPH_ENDPOINT (it must match the cloud of GRAPH_AUTHORITY_HOST).`,
  };
  const federated = credential?.kind === 'federated' ? federatedMismatchAdvice(code, credential, settings) : undefined;
  if (federated !== undefined) advice[code] = federated;
  const message = advice[code]
    ? `Microsoft Entra rejected the token request with AADSTS${code}: ${advice[code]} (${summary})`
    : `Microsoft Entra rejected the token request for ${app}: ${summary}. Look the code up at https://login.microsoftonline.com/error?code=${code}.`;
  return new ExportError(code ? 'TokenRequestRejected' : 'TokenRequestFailed', message);
}
