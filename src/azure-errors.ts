/**
 * Turns errors thrown by the Azure SDKs (core-rest-pipeline's RestError, @azure/identity's credential
 * errors, network errors) into an {@link ExportError} that says what we were doing and what came back.
 * Only the first line of a service message is kept: it is the useful part and never carries secrets.
 */
import { isRestError } from '@azure/core-rest-pipeline';
import { AggregateAuthenticationError, AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { ExportError, exportError, statusOf, type ExportErrorCode } from './errors.js';

/** The codes whose generic message is an Azure call's failure. */
type AzureFailureCode = 'KeyVaultFailed' | 'TokenRequestFailed' | 'GraphFailed' | 'StorageFailed';

export function describeAzureError(e: unknown, doing: string, code: AzureFailureCode): ExportError {
  if (e instanceof ExportError) return e;
  const err = e as { message?: unknown; code?: unknown };
  const message = typeof err.message === 'string' ? firstLine(err.message) : String(e);
  // A RestError's status, or an AuthenticationError's (which is not a RestError).
  const status = isRestError(e) ? e.statusCode : statusOf(e);

  if (e instanceof CredentialUnavailableError || e instanceof AggregateAuthenticationError) {
    const failing = managedIdentityEndpointFailure(e);
    // The identity is there, but its endpoint kept failing: a transient platform problem, not a setting.
    if (failing) return exportError('IdentityFailed', { kind: 'endpointFailing', doing, failing }, { cause: e });
    return exportError('IdentityUnavailable', { kind: 'noIdentity', doing, message }, { cause: e });
  }
  if (e instanceof AuthenticationError) {
    const permanent = status !== undefined && status >= 400 && status < 500;
    return permanent
      ? exportError('IdentityUnavailable', { kind: 'refused', doing, status, message }, { cause: e })
      : exportError('IdentityFailed', { kind: 'refused', doing, status, message }, { cause: e });
  }
  const errorCode = typeof err.code === 'string' ? err.code : undefined;
  const failure = { kind: 'azure' as const, doing, status, errorCode, message };
  return exportError(code, failure, { cause: e });
}

/**
 * When DefaultAzureCredential failed because the managed-identity endpoint answered 5xx / 429 or not at
 * all (MSAL's ServerError with the HTTP status, or its network_error, under the identity library's
 * CredentialUnavailableError), what it got; undefined when no identity is configured or it was refused.
 * Read by shape, not by class: @azure/identity brings its own copy of @azure/msal-node (another major version
 * than ours), whose ServerError / AuthError are not the classes this module could import.
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
    for (const inner of [...(Array.isArray(err.errors) ? err.errors : []), err.cause]) {
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
