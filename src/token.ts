/**
 * Microsoft Graph tokens with MSAL's client-credentials flow.
 *
 * One `ConfidentialClientApplication` per credential, kept at module scope: a warm Functions instance
 * reuses it across invocations, so its in-memory token cache saves a token request per run.
 * `GRAPH_AUTHORITY_HOST` is trusted as given: we read its OpenID configuration ourselves and hand it to
 * MSAL as authority metadata, so MSAL does no instance discovery against login.microsoftonline.com
 * (sovereign clouds, test tenants) and an unknown tenant surfaces as its real AADSTS90002 answer.
 */
import { AuthError, ConfidentialClientApplication, LogLevel, type Configuration } from '@azure/msal-node';
import { ExportError, exportError } from './errors.js';
import { describeAzureError } from './azure-errors.js';
import { HttpClientWithRetries, msalNetworkModule } from './http.js';
import type { GraphCredential } from './credential.js';
import { federatedMismatch } from './federated-credential.js';
import type { ExportSettings } from './settings.js';
import { createTransport, type Transport } from './transport.js';

export interface TokenProvider {
  /** A Graph access token; `forceRefresh` skips MSAL's cache (after a 401 mid-run). */
  getToken(options?: { forceRefresh?: boolean }): Promise<string>;
}

type TokenSettings = Pick<ExportSettings, 'tenantId' | 'clientId' | 'authorityHost' | 'graphEndpoint' | 'credential' | 'requestTimeoutMs'>;

// Module-scope cache, deliberately: see the file comment. Keyed by everything that identifies the
// credential (a secret by its hash, never its value), so a rotated credential gets a new application.
const applications = new Map<string, Promise<ConfidentialClientApplication>>();

/** How long before its expiry a token is no longer handed out from this run's cache (MSAL's own margin). */
const EXPIRY_MARGIN_MS = 5 * 60_000;

export interface TokenProviderOptions {
  /** MSAL's warnings. */
  log?: (message: string) => void;
  /** Token requests get the same proxy, timeouts and bounded retries as Graph calls; default: from the settings. */
  transport?: Transport;
}

export function graphTokenProvider(
  settings: TokenSettings,
  credential: GraphCredential,
  options: TokenProviderOptions = {},
): TokenProvider {
  const key = [
    settings.authorityHost,
    settings.tenantId.toLowerCase(),
    settings.clientId.toLowerCase(),
    credential.kind,
    credential.fingerprint,
    settings.requestTimeoutMs,
  ].join('|');
  const scopes = [`${settings.graphEndpoint}/.default`];
  // The token every page request of this run uses, until MSAL would renew it: asking MSAL's cache for each
  // of a million-user run's thousand pages costs ~0.4 ms each, on the path from one page to the next.
  let current: { accessToken: string; renewAt: number } | undefined;
  return {
    async getToken(request = {}) {
      if (request.forceRefresh === true) current = undefined;
      if (current !== undefined && Date.now() < current.renewAt) return current.accessToken;
      let pending = applications.get(key);
      if (!pending) {
        pending = createApplication(
          settings,
          credential,
          new HttpClientWithRetries((options.transport ?? createTransport(settings)).token),
          options.log,
        );
        applications.set(key, pending);
        // A failed creation (e.g. the authority was unreachable) must not be cached.
        pending.catch(() => applications.delete(key));
      }
      const app = await pending;
      try {
        const result = await app.acquireTokenByClientCredential({ scopes, skipCache: request.forceRefresh === true });
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

async function createApplication(
  settings: TokenSettings,
  credential: GraphCredential,
  http: HttpClientWithRetries,
  log?: (message: string) => void,
): Promise<ConfidentialClientApplication> {
  const authority = `${settings.authorityHost}/${settings.tenantId}`;
  const metadata = await readAuthorityMetadata(authority, settings, http);
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
      networkClient: msalNetworkModule(http),
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

async function readAuthorityMetadata(authority: string, settings: TokenSettings, http: HttpClientWithRetries): Promise<string> {
  const url = `${authority}/v2.0/.well-known/openid-configuration`;
  let status: number;
  let body: string;
  try {
    ({ status, body } = await http.send('GET', url));
  } catch (e) {
    throw describeAzureError(
      e,
      `reading the OpenID configuration of ${authority} (GRAPH_AUTHORITY_HOST, GRAPH_TENANT_ID)`,
      'TokenRequestFailed',
    );
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
  throw status >= 500 || status === 429
    ? exportError('TokenRequestFailed', { kind: 'openIdConfiguration', url, status })
    : exportError('TokenRequestRejected', {
        kind: 'openIdConfiguration',
        url,
        status,
        authorityHost: settings.authorityHost,
        tenantId: settings.tenantId,
      });
}

function tokenError(e: unknown, settings: TokenSettings, credential: GraphCredential): ExportError {
  if (e instanceof ExportError) return e;
  // MSAL's errors (ServerError for the token endpoint's answers) are AuthErrors: errorMessage is what Entra said.
  const auth = e instanceof AuthError ? e : undefined;
  const text =
    [auth?.errorMessage, e instanceof Error ? e.message : undefined].find((t): t is string => typeof t === 'string' && t.length > 0) ??
    String(e);
  // Entra's transient answers (5xx, throttling) also carry AADSTS codes: they are failures, not rejections.
  const transient = /temporarily_unavailable|server_error|throttl/i.test(`${auth?.errorCode ?? ''} ${text}`);
  if (/AADSTS\d+/.test(text) && !transient) return aadstsError(text, settings, credential);
  return exportError(
    'TokenRequestFailed',
    { kind: 'token', authorityHost: settings.authorityHost, clientId: settings.clientId, message: text.split('\n')[0]! },
    { cause: e },
  );
}

/** Entra's refusal of a token request, by its AADSTS code. */
function aadstsError(description: string, settings: TokenSettings, credential?: GraphCredential): ExportError {
  const code = /AADSTS(\d+)/.exec(description)?.[1] ?? '';
  const summary = description.split(/\r?\n| Trace ID:/)[0]!.trim();
  if (!code)
    return exportError('TokenRequestFailed', {
      kind: 'rejectedWithoutCode',
      summary,
      app: `app ${settings.clientId} in tenant ${settings.tenantId}`,
    });
  const thumbprint = credential?.kind === 'certificate' ? credential.thumbprintSha256 : undefined;
  const federated = credential?.kind === 'federated' ? federatedMismatch(credential, settings) : undefined;
  const { clientId, tenantId, authorityHost, graphEndpoint } = settings;
  return exportError('TokenRequestRejected', {
    kind: 'aadsts',
    code,
    summary,
    clientId,
    tenantId,
    authorityHost,
    graphEndpoint,
    thumbprint,
    federated,
  });
}
