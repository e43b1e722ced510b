/**
 * Turns errors thrown by the Azure SDKs (core-rest-pipeline's RestError, @azure/identity's credential
 * errors, network errors) into an {@link ExportError} that says what we were doing and what came back.
 * Only the first line of a service message is kept: it is the useful part and never carries secrets.
 */
import { ExportError, statusOf, type ExportErrorCode } from './errors.js';

export function describeAzureError(e: unknown, doing: string, code: ExportErrorCode): ExportError {
  if (e instanceof ExportError) return e;
  const err = e as { name?: unknown; message?: unknown; code?: unknown };
  const name = typeof err.name === 'string' ? err.name : '';
  const message = typeof err.message === 'string' ? firstLine(err.message) : String(e);
  const status = statusOf(e);
  const errorCode = typeof err.code === 'string' ? err.code : undefined;

  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') {
    const failing = managedIdentityEndpointFailure(e);
    if (failing) {
      // The identity is there, but its endpoint kept failing: a transient platform problem, not a setting.
      return new ExportError(
        'IdentityFailed',
        `${capitalise(doing)} failed: the managed identity endpoint kept failing (${failing}) after all retries, so no token could be had for it. This is usually transient on the platform's side; the run will be retried.`,
        { cause: e },
      );
    }
    return new ExportError(
      'IdentityUnavailable',
      `${capitalise(doing)} failed: no Azure identity could get a token. In Azure, give the function app a managed identity (a user-assigned one needs AZURE_CLIENT_ID set to its client ID); locally, sign in with 'az login' (or azd auth login). (${message})`,
      { cause: e },
    );
  }
  if (name === 'AuthenticationError') {
    const permanent = status !== undefined && status >= 400 && status < 500;
    return new ExportError(
      permanent ? 'IdentityUnavailable' : 'IdentityFailed',
      `${capitalise(doing)} failed: the managed identity endpoint refused a token${status ? ` (HTTP ${status})` : ''}. ${permanent ? 'Check that the identity exists and is assigned to the function app, and that AZURE_CLIENT_ID is its client ID. ' : ''}(${message})`,
      { cause: e },
    );
  }
  if (status !== undefined) {
    return new ExportError(code, `${capitalise(doing)} failed with HTTP ${status}${errorCode ? ` ${errorCode}` : ''}: ${message}`, { cause: e });
  }
  const network = errorCode && /^E[A-Z_]+$/.test(errorCode);
  return new ExportError(
    code,
    `${capitalise(doing)} failed: ${message}${errorCode && !message.includes(errorCode) ? ` (${errorCode})` : ''}.${network ? ' Check the URL, DNS, the network path and any proxy (HTTPS_PROXY / NO_PROXY).' : ''}`,
    { cause: e },
  );
}

/**
 * When DefaultAzureCredential failed because the managed-identity endpoint answered 5xx / 429 or not at
 * all (MSAL's ServerError with the HTTP status, or its network_error, under the identity library's
 * CredentialUnavailableError), what it got; undefined when no identity is configured or it was refused.
 */
function managedIdentityEndpointFailure(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (x: unknown, underManagedIdentity: boolean): string | undefined => {
    if (!x || typeof x !== 'object' || seen.has(x)) return undefined;
    seen.add(x);
    const err = x as { message?: unknown; status?: unknown; errorCode?: unknown; errors?: unknown; cause?: unknown };
    const mi = underManagedIdentity || (typeof err.message === 'string' && err.message.startsWith('ManagedIdentityCredential'));
    if (mi && typeof err.status === 'number' && (err.status >= 500 || err.status === 429)) return `HTTP ${err.status}`;
    if (mi && err.errorCode === 'network_error') return 'no usable answer: a network error, a timeout or a body that is not a token';
    for (const inner of [...(Array.isArray(err.errors) ? (err.errors as unknown[]) : []), err.cause]) {
      const found = visit(inner, mi);
      if (found) return found;
    }
    return undefined;
  };
  return visit(e, false);
}

function firstLine(text: string): string {
  return (text.split(/\r?\n/)[0] ?? '').trim();
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
