/**
 * The real services' error bodies. Clients (MSAL, the Azure SDK, the product) parse these shapes to build their
 * errors, so they must match: field names, nesting, codes, and the wording a user will eventually read.
 */
import { randomUUID } from 'node:crypto';

// ------------------------------------------------------------------------------------------ Entra (AADSTS)

export interface AadError {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

/** Entra writes timestamps as `2024-05-01 12:34:56Z`. */
/** Entra's timestamps in messages: `2026-11-21 07:13:04Z`. */
export const aadTimestamp = (d = new Date()): string => d.toISOString().slice(0, 19).replace('T', ' ') + 'Z';

/**
 * `{ error, error_description: "AADSTSnnn: ...\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ...", error_codes, ... }`.
 * The correlation id echoes the request's `client-request-id` like Entra does.
 */
export function aadError(opts: { error: string; code: number; message: string; correlationId?: string; authorityHost: string }): AadError {
  const timestamp = aadTimestamp();
  const traceId = randomUUID();
  const correlationId = opts.correlationId ?? randomUUID();
  return {
    error: opts.error,
    error_description: `AADSTS${opts.code}: ${opts.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [opts.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${opts.authorityHost}/error?code=${opts.code}`,
  };
}

export const AADSTS = {
  tenantNotFound: (tenant: string) => ({
    code: 90002,
    message: `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  }),
  missingParameter: (name: string) => ({ code: 900144, message: `The request body must contain the following parameter: '${name}'.` }),
  unsupportedGrantType: (grantType: string) => ({ code: 70003, message: `The app requested an unsupported grant type '${grantType}'.` }),
  appNotFound: (clientId: string, tenantName: string) => ({
    code: 700016,
    message: `Application with identifier '${clientId}' was not found in the directory '${tenantName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  }),
  invalidScope: (scope: string) => ({
    code: 1002012,
    message: `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
  }),
  resourceNotFound: (resource: string, tenantName: string) => ({
    code: 500011,
    message: `The resource principal named ${resource} was not found in the tenant named ${tenantName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
  }),
  invalidSecret: (clientId: string) => ({
    code: 7000215,
    message: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
  }),
  expiredSecret: (clientId: string) => ({
    code: 7000222,
    message: `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
  }),
  noCredential: () => ({
    code: 7000216,
    message: `'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.`,
  }),
  assertionTypeInvalid: () => ({
    code: 50027,
    message: `JWT token is invalid or malformed. The 'client_assertion_type' must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.`,
  }),
  assertionMalformed: () => ({ code: 50027, message: 'JWT token is invalid or malformed.' }),
  keyNotFound: (thumbprint: string, clientId: string) => ({
    code: 700027,
    message: `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`,
  }),
  badSignature: (thumbprint: string, start: string, end: string) => ({
    code: 700027,
    message: `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${thumbprint}', Found key 'Start=${start}, End=${end}']`,
  }),
  keyExpired: (thumbprint: string, start: string, end: string) => ({
    code: 700027,
    message: `Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '${thumbprint}', Found key 'Start=${start}, End=${end}']`,
  }),
  x5cMismatch: (thumbprint: string) => ({
    code: 700027,
    message: `Client assertion contains an invalid signature. [Reason - The certificate in the x5c header does not match the key used to sign the assertion., Thumbprint of key used by client: '${thumbprint}']`,
  }),
  issuerMismatch: () => ({
    code: 700021,
    message: `Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials.`,
  }),
  audienceMismatch: () => ({
    code: 700023,
    message:
      'Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials.',
  }),
  notInTimeRange: (now: string, from: string, to: string) => ({
    code: 700024,
    message: `Client assertion is not within its valid time range. Current time: ${now}, assertion valid from ${from}, expiry time of assertion ${to}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials.`,
  }),
  // Federated identity credentials ("No matching federated identity record"): one code per claim that matched no
  // credential of the app. Wording as Entra answers today — issuer: AADSTS700211 (Azure/azure-workload-identity#1200;
  // the 2025 form "No matching federated identity record found for presented assertion issuer '…'."), audience:
  // AADSTS700212, subject: AADSTS700213 ("… Check your federated identity credential Subject, Audience and Issuer
  // against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
  // dotnet/maui#31978, 2025-10), and AADSTS7002138 for a subject that matches only case-insensitively
  // (Azure/login#515, the August 2024 breaking change to case-sensitive matching).
  noMatchingFederatedRecord: (claim: 'issuer' | 'subject' | 'audience', value: string) => ({
    code: { issuer: 700211, audience: 700212, subject: 700213 }[claim],
    message: `No matching federated identity record found for presented assertion ${claim} '${value}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  }),
  federatedSubjectCase: (value: string) => ({
    code: 7002138,
    message: `No matching federated identity record found for presented assertion subject '${value}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: https://learn.microsoft.com/entra/workload-id/workload-identity-federation. See breaking change notification and remediation at: https://learn.microsoft.com/en-us/entra/identity-platform/reference-breaking-changes#august-2024.`,
  }),
  /**
   * A presented token whose signature its issuer's keys do not verify: AADSTS50027 InvalidJwtToken, "External ID
   * token from issuer failed signature verification" ("Microsoft Entra authentication and authorization error codes",
   * https://learn.microsoft.com/entra/identity-platform/reference-error-codes). The sentence is the sim's own
   * rendering of that reason: Entra's runtime wording for it is not published.
   */
  externalTokenSignature: () => ({
    code: 50027,
    message: 'Invalid JWT token. External ID token from issuer failed signature verification.',
  }),
  transient: () => ({ code: 90033, message: 'A transient error has occurred. Please try again.' }),
  malformedRequest: () => ({ code: 9002313, message: 'Invalid request. Request is malformed or invalid.' }),
} as const;

// ------------------------------------------------------------------------------------------ Microsoft Graph

export interface GraphErrorBody {
  error: { code: string; message: string; innerError: { date: string; 'request-id': string; 'client-request-id': string } };
}

export function graphError(code: string, message: string, ids: { requestId: string; clientRequestId: string }): GraphErrorBody {
  return {
    error: {
      code,
      message,
      innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId },
    },
  };
}

/** Graph's code and message for a status, for faults injected without a body. */
export function graphDefaultError(status: number): { code: string; message: string } {
  switch (status) {
    case 400:
      return { code: 'BadRequest', message: 'Bad request.' };
    case 401:
      return { code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' };
    case 403:
      return { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' };
    case 404:
      return { code: 'Request_ResourceNotFound', message: 'Resource not found.' };
    case 429:
      return { code: 'TooManyRequests', message: 'Too many requests.' };
    case 503:
      return { code: 'serviceNotAvailable', message: 'Service unavailable.' };
    case 504:
      return { code: 'UnknownError', message: 'Gateway timeout.' };
    default:
      return { code: 'UnknownError', message: '' };
  }
}

// ------------------------------------------------------------------------------------------ Key Vault

export interface KeyVaultErrorBody {
  error: { code: string; message: string; innererror?: { code: string } };
}

export function keyVaultError(code: string, message: string, innerCode?: string): KeyVaultErrorBody {
  return { error: { code, message, ...(innerCode !== undefined ? { innererror: { code: innerCode } } : {}) } };
}

export function keyVaultDefaultError(status: number): KeyVaultErrorBody {
  switch (status) {
    case 401:
      return keyVaultError('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.');
    case 403:
      return keyVaultError('Forbidden', 'Caller is not authorized to perform action on resource.', 'ForbiddenByRbac');
    case 404:
      return keyVaultError('SecretNotFound', 'A secret with (name/id) was not found in this key vault.');
    case 429:
      return keyVaultError('Throttled', 'Request was not allowed because of throttling. Please retry after some time.');
    case 503:
      return keyVaultError('ServiceUnavailable', 'The service is temporarily unavailable. Please retry after some time.');
    default:
      return keyVaultError(status >= 500 ? 'InternalServerError' : 'BadParameter', 'The request failed.');
  }
}

// ------------------------------------------------------------------------------------------ App Service managed identity

/** App Service's identity endpoint answers errors as `{ statusCode, message, correlationId }`. */
export function appServiceMsiError(statusCode: number, message: string): { statusCode: number; message: string; correlationId: string } {
  return { statusCode, message, correlationId: randomUUID() };
}

// ------------------------------------------------------------------------------------------ proxies

/** An HTML error page like the ones gateways and proxies put in front of services. */
export function htmlErrorPage(status: number, reason: string): string {
  return (
    `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n` +
    `<center><h1>${status} ${reason}</h1></center>\r\n<hr><center>Microsoft-Azure-Application-Gateway/v2</center>\r\n</body>\r\n</html>\r\n`
  );
}
