/**
 * Typed errors. Every failure the export can meet is turned into an {@link ExportError} whose message is one
 * paragraph a user can act on (what failed, which setting or resource, how to fix it) and whose `code` a
 * program can switch on. Messages never contain secret values, keys or tokens.
 */

/** Exit code for a configuration, permission or credential problem: retrying will not help until something is changed. */
export const EXIT_CONFIG = 2;
/** Exit code for any other failure (service errors, retries exhausted, timeouts, unexpected responses). */
export const EXIT_FAILURE = 1;

export type ExportErrorCode =
  | 'InvalidSettings'
  | 'KeyVaultForbidden'
  | 'KeyVaultNotFound'
  | 'KeyVaultFailed'
  | 'IdentityUnavailable'
  | 'IdentityFailed'
  | 'CredentialMaterialInvalid'
  | 'TokenRequestRejected'
  | 'TokenRequestFailed'
  | 'GraphForbidden'
  | 'GraphUnauthorized'
  | 'GraphFailed'
  | 'GraphProtocolError'
  | 'StorageForbidden'
  | 'StorageFailed'
  | 'InvalidArguments'
  | 'SnapshotNotFound'
  | 'SnapshotUnreadable'
  | 'Unexpected';

/** Codes that mean "change the configuration, the credential or a permission" (exit code 2). */
const CONFIG_CODES: ReadonlySet<ExportErrorCode> = new Set<ExportErrorCode>([
  'InvalidSettings',
  'KeyVaultForbidden',
  'KeyVaultNotFound',
  'IdentityUnavailable',
  'CredentialMaterialInvalid',
  'TokenRequestRejected',
  'GraphForbidden',
  'StorageForbidden',
  'InvalidArguments',
  'SnapshotNotFound',
]);

export class ExportError extends Error {
  override readonly name = 'ExportError';
  readonly code: ExportErrorCode;
  /** 2 for configuration / permission / credential problems, 1 otherwise. */
  readonly exitCode: number;
  /** Extra structured detail safe to log (never secrets): e.g. the list of setting problems. */
  readonly details: readonly string[];

  constructor(code: ExportErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = CONFIG_CODES.has(code) ? EXIT_CONFIG : EXIT_FAILURE;
    this.details = options.details ?? [];
  }
}

/**
 * A failure of an Azure client as the SDK reported it, for a code's generic message: what we were doing, and
 * what came back (an HTTP status and the service's error code, or a network error code), first line only.
 */
export interface AzureFailure {
  doing: string;
  status: number | undefined;
  errorCode: string | undefined;
  message: string;
}

type Certificate = { name: string };
/** The user-assigned identity of a federated credential, and what its endpoint said (first line). */
type FederatedIdentity = { clientId: string; said: string };

const FEDERATED_WHERE =
  "A federated credential needs the function's user-assigned managed identity: it works where that identity is assigned (the function app in Azure), not on a developer machine, which uses GRAPH_CLIENT_SECRET_NAME or GRAPH_CLIENT_CERTIFICATE_NAME instead.";
type KeyVaultObject = { vaultUrl: string; kind: 'secret' | 'certificate'; name: string; settingName: string };

/**
 * Every message a user can read, one entry per code, each a function of what it needs (like MSAL's
 * `ClientAuthErrorMessages`). A code with several situations takes a discriminated `kind`. README.md's
 * "Troubleshooting" table has a row for every code (test/unit/errors.test.ts checks both ways).
 */
export const ErrorMessages = {
  InvalidSettings: (
    p:
      | { kind: 'settings'; problems: readonly string[] }
      | { kind: 'graphQuery'; said: string }
      | { kind: 'graphFilter'; said: string; consistencyLevel: string },
  ): string => {
    if (p.kind === 'settings')
      return `Invalid settings (${p.problems.length} problem${p.problems.length === 1 ? '' : 's'}): ${p.problems.join(' ')}`;
    if (p.kind === 'graphQuery') {
      return `Microsoft Graph rejected the users query (HTTP 400 ${p.said}). Check USERS_SELECT (property names of microsoft.graph.user) and USERS_FILTER (an OData $filter Graph supports on users).`;
    }
    return `Microsoft Graph does not support USERS_FILTER even as an advanced query (ConsistencyLevel: ${p.consistencyLevel}, $count=true): HTTP 400 ${p.said}. Change USERS_FILTER to a filter Graph supports on users (operators per property: https://learn.microsoft.com/graph/aad-advanced-queries), and check USERS_SELECT if Graph's message names a selected property.`;
  },
  KeyVaultForbidden: (p: KeyVaultObject & { disabled: boolean }): string =>
    p.disabled
      ? `Key Vault ${p.vaultUrl} refused to read the ${p.kind} '${p.name}' (${p.settingName}): it is disabled. Enable it, or point ${p.settingName} at an enabled one.`
      : `Key Vault ${p.vaultUrl} refused to read the ${p.kind} '${p.name}' (${p.settingName}) with HTTP 403: the function's identity lacks the 'Key Vault Secrets User' role on the vault (or on that ${p.kind}). Assign it, e.g. az role assignment create --role "Key Vault Secrets User" --assignee <identity principal id> --scope <vault resource id>; new role assignments can take a few minutes to apply. The vault must also use Azure RBAC (not access policies).`,
  KeyVaultNotFound: (p: KeyVaultObject): string =>
    `Key Vault ${p.vaultUrl} has no ${p.kind} '${p.name}' (HTTP 404): check ${p.settingName} and KEY_VAULT_URL, or create it (scripts/provision-${p.kind}.sh).`,
  KeyVaultFailed: (p: AzureFailure): string => azureFailed(p),
  IdentityUnavailable: (
    p:
      | { kind: 'noIdentity'; doing: string; message: string }
      | { kind: 'refused'; doing: string; status: number; message: string }
      | (FederatedIdentity & { kind: 'federatedNotAssigned' | 'federatedNoEndpoint' | 'federatedRefused' })
      | (FederatedIdentity & { kind: 'federatedAudienceUnknown'; audience: string; authorityHost: string }),
  ): string => {
    switch (p.kind) {
      case 'noIdentity':
        return `${capitalise(p.doing)} failed: no Azure identity could get a token. In Azure, give the function app a managed identity (a user-assigned one needs AZURE_CLIENT_ID set to its client ID); locally, sign in with 'az login' (or azd auth login). (${p.message})`;
      case 'refused':
        return `${capitalise(p.doing)} failed: the managed identity endpoint refused a token (HTTP ${p.status}). Check that the identity exists and is assigned to the function app, and that AZURE_CLIENT_ID is its client ID. (${p.message})`;
      case 'federatedNotAssigned':
        return `The managed-identity endpoint has no identity with client ID ${p.clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID) for this function app. Assign that user-assigned identity to the function app (az functionapp identity assign --identities <its resource ID>) and set GRAPH_FEDERATED_IDENTITY_CLIENT_ID to its client ID; only a user-assigned identity can be an app's federated credential, not the system-assigned one. (${p.said})`;
      case 'federatedAudienceUnknown':
        return `Getting the token of managed identity ${p.clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID) for the token-exchange audience ${p.audience} failed: its cloud does not know that audience (AADSTS500011). The audience follows GRAPH_AUTHORITY_HOST ('${p.authorityHost}'): set GRAPH_AUTHORITY_HOST to the login host of the cloud the identity and the app are in (a federated credential works only within one cloud). (${p.said})`;
      case 'federatedNoEndpoint':
        return `No managed identity could give the token of ${p.clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID): this environment has no identity endpoint (IDENTITY_ENDPOINT). ${FEDERATED_WHERE} (${p.said})`;
      case 'federatedRefused':
        return `The managed-identity endpoint refused the token of ${p.clientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID): check that it is the client ID of a user-assigned identity assigned to the function app. ${FEDERATED_WHERE} (${p.said})`;
    }
  },
  IdentityFailed: (
    p:
      | { kind: 'endpointFailing'; doing: string; failing: string }
      | { kind: 'refused'; doing: string; status: number | undefined; message: string },
  ): string =>
    p.kind === 'endpointFailing'
      ? `${capitalise(p.doing)} failed: the managed identity endpoint kept failing (${p.failing}) after all retries, so no token could be had for it. This is usually transient on the platform's side; the run will be retried.`
      : `${capitalise(p.doing)} failed: the managed identity endpoint refused a token${p.status ? ` (HTTP ${p.status})` : ''}. (${p.message})`,
  CredentialMaterialInvalid: (
    p:
      | { kind: 'secretIsCertificate'; name: string; contentType: string }
      | { kind: 'secretEmpty'; name: string }
      | (Certificate & { kind: 'certificateUnusable'; what: string })
      | (Certificate & { kind: 'keyNotRsa'; keyType: string }),
  ): string => {
    switch (p.kind) {
      case 'secretIsCertificate':
        return `Key Vault secret '${p.name}' (GRAPH_CLIENT_SECRET_NAME) holds a certificate (${p.contentType}), not a client secret: set GRAPH_CLIENT_CERTIFICATE_NAME=${p.name} instead and unset GRAPH_CLIENT_SECRET_NAME.`;
      case 'secretEmpty':
        return `Key Vault secret '${p.name}' (GRAPH_CLIENT_SECRET_NAME) is empty: store the app's client secret value in it (scripts/provision-secret.sh).`;
      case 'certificateUnusable':
        return `Key Vault certificate '${p.name}' (GRAPH_CLIENT_CERTIFICATE_NAME): ${p.what}. The certificate must be exportable, with an RSA private key, stored by Key Vault as PFX (application/x-pkcs12, no password) or PEM (application/x-pem-file): create it with scripts/provision-certificate.sh, or import it with \`az keyvault certificate import\`.`;
      case 'keyNotRsa':
        return `Key Vault certificate '${p.name}' (GRAPH_CLIENT_CERTIFICATE_NAME) has a key of type ${p.keyType}, but Microsoft Entra client assertions are signed with RSA (PS256) and need an RSA key. Create the certificate in Key Vault with key type RSA, 2048 bits or more (scripts/provision-certificate.sh does; or az keyvault certificate create with a policy whose keyProperties are {"keyType": "RSA", "keySize": 2048, "exportable": true}), register it on the app, and point GRAPH_CLIENT_CERTIFICATE_NAME at it.`;
    }
  },
  TokenRequestRejected: (
    p:
      | ({ kind: 'aadsts'; code: string; summary: string } & AadstsContext)
      | { kind: 'openIdConfiguration'; url: string; status: number; authorityHost: string; tenantId: string },
  ): string => {
    if (p.kind === 'openIdConfiguration') {
      return `Reading the OpenID configuration ${p.url} failed with HTTP ${p.status}: check GRAPH_AUTHORITY_HOST ('${p.authorityHost}') and GRAPH_TENANT_ID ('${p.tenantId}').`;
    }
    const advice = aadstsAdvice(p);
    return advice
      ? `Microsoft Entra rejected the token request with AADSTS${p.code}: ${advice} (${p.summary})`
      : `Microsoft Entra rejected the token request for app ${p.clientId} in tenant ${p.tenantId}: ${p.summary}. Look the code up at https://login.microsoftonline.com/error?code=${p.code}.`;
  },
  TokenRequestFailed: (
    p:
      | { kind: 'rejectedWithoutCode'; summary: string; app: string }
      | { kind: 'openIdConfiguration'; url: string; status: number }
      | { kind: 'token'; authorityHost: string; clientId: string; message: string }
      | (AzureFailure & { kind: 'azure' }),
  ): string => {
    switch (p.kind) {
      case 'rejectedWithoutCode':
        return `Microsoft Entra rejected the token request for ${p.app}: ${p.summary}. Look the code up at https://login.microsoftonline.com/error?code=.`;
      case 'openIdConfiguration':
        return `Reading the OpenID configuration ${p.url} failed with HTTP ${p.status} after all retries: the authority (GRAPH_AUTHORITY_HOST) is unavailable or throttling; try again later.`;
      case 'token':
        return `Getting a Microsoft Graph token from ${p.authorityHost} for app ${p.clientId} failed: ${p.message}. Check that GRAPH_AUTHORITY_HOST is reachable (network, proxy, NODE_EXTRA_CA_CERTS) and try again.`;
      case 'azure':
        return azureFailed(p);
    }
  },
  GraphForbidden: (p: { said: string; clientId: string; authorityHost: string; tenantId: string }): string =>
    `Microsoft Graph refused to list users (HTTP 403 ${p.said}): app ${p.clientId} lacks the User.Read.All application permission with admin consent. Add User.Read.All (Application) under API permissions and grant admin consent, e.g. at ${p.authorityHost}/${p.tenantId}/adminconsent?client_id=${p.clientId}`,
  GraphUnauthorized: (p: { said: string; where: string; graphEndpoint: string; authorityHost: string }): string =>
    `Microsoft Graph rejected the access token twice (HTTP 401 ${p.said}) on ${p.where}. Check that GRAPH_ENDPOINT (${p.graphEndpoint}) is the Graph of the cloud of GRAPH_AUTHORITY_HOST (${p.authorityHost}).`,
  GraphFailed: (
    p:
      | { kind: 'pageTokenExpired'; times: number }
      | { kind: 'notGraph'; where: string; status: number; contentType: string | undefined; graphEndpoint: string }
      | { kind: 'status'; where: string; status: number; said: string }
      | (AzureFailure & { kind: 'azure' }),
  ): string => {
    switch (p.kind) {
      case 'pageTokenExpired':
        return `Microsoft Graph expired the listing's page token ${p.times} times; the tenant may be too large to list before page tokens expire. Try again, or narrow USERS_FILTER.`;
      case 'notGraph':
        return `Listing users from Microsoft Graph failed on ${p.where}: HTTP ${p.status} with a ${p.contentType ?? 'non-JSON'} body, not Graph's JSON error — a proxy or gateway between here and ${p.graphEndpoint} answered instead of Graph. Check HTTPS_PROXY / NO_PROXY and the network path.`;
      case 'status':
        return `Listing users from Microsoft Graph failed on ${p.where} with HTTP ${p.status} (${p.said})${p.status === 429 || p.status >= 500 ? ' after all retries; try again later' : ''}.`;
      case 'azure':
        return azureFailed(p);
    }
  },
  GraphProtocolError: (
    p:
      | { kind: 'nextLinkRepeated'; index: number }
      | { kind: 'notJson'; where: string; contentType: string | undefined; index: number; detail: string }
      | { kind: 'pageFormat'; where: string; index: number; detail: string }
      | { kind: 'nextLinkNotString'; where: string }
      | { kind: 'nextLinkNotAbsolute'; where: string }
      | { kind: 'nextLinkOtherHost'; origin: string; graphEndpoint: string },
  ): string => {
    switch (p.kind) {
      case 'nextLinkRepeated':
        return `Microsoft Graph returned, on page ${p.index}, an @odata.nextLink it had already returned; following it would list the same users again without end, so the export stops.`;
      case 'notJson':
        return `Microsoft Graph answered ${p.where} with HTTP 200 but a body that is not JSON (${p.contentType ?? 'no content type'}); a proxy in between may have replaced it. Page ${p.index} of the listing ${p.detail}.`;
      case 'pageFormat':
        return `Microsoft Graph answered ${p.where} (page ${p.index} of the listing) with a page that ${p.detail}; the export stops rather than store an incomplete directory.`;
      case 'nextLinkNotString':
        return `Microsoft Graph returned an @odata.nextLink that is not a string on ${p.where}.`;
      case 'nextLinkNotAbsolute':
        return `Microsoft Graph returned an @odata.nextLink that is not an absolute URL on ${p.where}.`;
      case 'nextLinkOtherHost':
        return `Microsoft Graph returned an @odata.nextLink to ${p.origin}, which is not GRAPH_ENDPOINT (${p.graphEndpoint}); the export refuses to send its token to another host.`;
    }
  },
  StorageForbidden: (p: { doing: string; errorCode: string; account: string }): string =>
    `Blob Storage refused ${p.doing} (HTTP 403 ${p.errorCode}): the function's identity lacks the 'Storage Blob Data Contributor' role on ${p.account} (or on the export container). Assign it, e.g. az role assignment create --role "Storage Blob Data Contributor" --assignee <identity principal id> --scope <storage account or container resource id>; with a connection string in EXPORT_STORAGE, check its key or SAS.`,
  StorageFailed: (p: { kind: 'latestConflicts'; blob: string } | (AzureFailure & { kind: 'azure' })): string =>
    p.kind === 'latestConflicts'
      ? `Writing ${p.blob} kept conflicting with other writers; the snapshot itself is complete.`
      : azureFailed(p),
  // `npm run changes` (src/changes-cli.ts, src/compare-snapshots.ts).
  InvalidArguments: (
    p:
      | { kind: 'usage'; problem: string }
      | { kind: 'notRunId'; which: string; runId: string }
      | { kind: 'noId'; which: string; runId: string; select: string }
      | { kind: 'otherTenants'; older: string; newer: string; olderTenant: string; newerTenant: string }
      | { kind: 'out'; out: string; message: string },
  ): string => {
    switch (p.kind) {
      case 'usage':
        return `${p.problem} Usage: npm run changes -- <olderRunId> <newerRunId> [--out FILE].`;
      case 'notRunId':
        return `The ${p.which} runId '${p.runId}' is not a runId: a runId looks like 20261202T020000Z-1a2b3c4d (the runId field of a manifest, or a folder name under snapshots/<yyyy>/<MM>/<dd>/).`;
      case 'noId':
        return `The ${p.which} snapshot ${p.runId} was exported without id (its select is ${p.select}), so its users cannot be matched with another snapshot's: compare snapshots exported with id in USERS_SELECT.`;
      case 'otherTenants':
        return `The snapshots ${p.older} and ${p.newer} are of different tenants (${p.olderTenant}, ${p.newerTenant}): there is nothing to compare.`;
      case 'out':
        return `Cannot write the report to --out ${p.out}: ${p.message}. Name a file in a folder that exists and is writable.`;
    }
  },
  SnapshotNotFound: (p: { which: string; runId: string; blob: string; container: string; url: string }): string =>
    `No snapshot with the ${p.which} runId '${p.runId}': ${p.blob} does not exist in container '${p.container}' (${p.url}). Check the runId and EXPORT_CONTAINER / EXPORT_STORAGE.`,
  SnapshotUnreadable: (p: { which: string; why: string }): string =>
    `The ${p.which} snapshot cannot be read: ${p.why}. Compare another snapshot, or run the export again for a new one.`,
  Unexpected: (p: { kind: 'thrown'; description: string } | { kind: 'storagePipeline' }): string =>
    p.kind === 'thrown'
      ? `The export failed unexpectedly: ${p.description}. If it persists, report it with the log of this run.`
      : 'This version of @azure/storage-blob has no client pipeline to add the per-attempt timeout to; pin the version in package-lock.json.',
} as const satisfies Record<ExportErrorCode, (p: never) => string>;

/** What the catalogue entry of `code` needs. */
export type ErrorParams<C extends ExportErrorCode> = Parameters<(typeof ErrorMessages)[C]>[0];

/** The ExportError of `code`, its message from the catalogue. */
export function exportError<C extends ExportErrorCode>(
  code: C,
  params: ErrorParams<C>,
  options: { cause?: unknown; details?: readonly string[] } = {},
): ExportError {
  const message = (ErrorMessages[code] as (p: ErrorParams<C>) => string)(params);
  return new ExportError(code, message, options);
}

/** What the AADSTS advice is written from: the app, its cloud and, when set, its certificate or federated identity. */
interface AadstsContext {
  clientId: string;
  tenantId: string;
  authorityHost: string;
  graphEndpoint: string;
  thumbprint: string | undefined;
  federated?: FederatedMismatch | undefined;
}

/** The AADSTS codes users meet, with what they mean and what to change; undefined for any other. */
function aadstsAdvice(p: { code: string } & AadstsContext): string | undefined {
  const app = `app ${p.clientId} in tenant ${p.tenantId}`;
  const federatedAdvice = p.federated !== undefined ? federatedMismatchAdvice(p.code, p.clientId, p.federated) : undefined;
  if (federatedAdvice !== undefined) return federatedAdvice;
  const certHint = p.thumbprint !== undefined ? ` (certificate SHA-256 thumbprint ${p.thumbprint})` : '';
  switch (p.code) {
    case '7000215':
      return `The client secret stored in Key Vault is not a valid secret of ${app}: it is mistyped or was deleted. Create a new client secret on the app registration and store its value in the Key Vault secret named by GRAPH_CLIENT_SECRET_NAME (scripts/provision-secret.sh) — or better, use a certificate.`;
    case '7000222':
      return `The client secret stored in Key Vault has expired for ${app}. Create a new client secret on the app registration and store it in the Key Vault secret named by GRAPH_CLIENT_SECRET_NAME (scripts/provision-secret.sh).`;
    case '700027':
      return `The certificate from Key Vault${certHint} is not registered on ${app} (or its signature was rejected). Upload its public part to the app registration: az ad app credential reset --id ${p.clientId} --cert @cert.pem --append (scripts/provision-certificate.sh does it).`;
    case '700016':
      return `GRAPH_CLIENT_ID '${p.clientId}' is not an application in tenant '${p.tenantId}'. Check GRAPH_CLIENT_ID and GRAPH_TENANT_ID; a multi-tenant app must first be consented in that tenant.`;
    case '90002':
      return `GRAPH_TENANT_ID '${p.tenantId}' is not a tenant known to ${p.authorityHost}. Check GRAPH_TENANT_ID (the directory ID or a verified domain) and, for sovereign clouds, GRAPH_AUTHORITY_HOST.`;
    case '7000216':
      return `The token request for ${app} carried no client credential. Set GRAPH_CLIENT_CERTIFICATE_NAME, GRAPH_CLIENT_SECRET_NAME or GRAPH_FEDERATED_IDENTITY_CLIENT_ID.`;
    case '500011':
      return `The resource ${p.graphEndpoint} is not known to tenant '${p.tenantId}'. Check GRAPH_ENDPOINT (it must match the cloud of GRAPH_AUTHORITY_HOST).`;
    default:
      return undefined;
  }
}

/**
 * What Entra compared when it refused a federated credential: the claims of the identity's token (read, not
 * verified), or what they should be when it could not be read.
 */
export interface FederatedMismatch {
  identityClientId: string;
  issuer: string;
  subject: string;
  audience: string;
  /** The identity's Azure resource ID when its token names a system-assigned identity's (not a user-assigned one). */
  systemAssigned: string | undefined;
}

/**
 * Entra's "No matching federated identity record" family — 70021 (any), 700211 (issuer), 700212 (audience), 700213
 * (subject), 7002138 (subject matching only case-insensitively) — and the values the app's credential must have.
 */
function federatedMismatchAdvice(code: string, clientId: string, f: FederatedMismatch): string | undefined {
  const which: Record<string, string> = {
    '70021': 'issuer, subject or audience',
    '700211': 'issuer',
    '700212': 'audience',
    '700213': 'subject',
    '7002138': 'subject (its case)',
  };
  const part = which[code];
  if (part === undefined) return undefined;
  const parameters = JSON.stringify({ name: 'entra-users-export', issuer: f.issuer, subject: f.subject, audiences: [f.audience] });
  const systemAssigned =
    f.systemAssigned !== undefined
      ? ` The token came from a system-assigned identity (${f.systemAssigned}): only a user-assigned identity can be an app's federated credential — create one, assign it to the function app and set GRAPH_FEDERATED_IDENTITY_CLIENT_ID to its client ID.`
      : '';
  return (
    `app ${clientId} has no federated identity credential matching the token of managed identity ${f.identityClientId} (GRAPH_FEDERATED_IDENTITY_CLIENT_ID): check its ${part}.${systemAssigned} ` +
    `The credential must have issuer '${f.issuer}', subject '${f.subject}' (the identity's principal (object) ID, case-sensitive) and audience '${f.audience}': ` +
    `az ad app federated-credential create --id ${clientId} --parameters '${parameters}' (or correct the existing one; scripts/provision-federated.sh does it). A new credential can take a few minutes to apply.`
  );
}

/** The generic message of a failed Azure call: with its HTTP status, or the network error and what to check. */
function azureFailed(p: AzureFailure): string {
  if (p.status !== undefined)
    return `${capitalise(p.doing)} failed with HTTP ${p.status}${p.errorCode ? ` ${p.errorCode}` : ''}: ${p.message}`;
  const network = p.errorCode !== undefined && /^E[A-Z_]+$/.test(p.errorCode);
  return `${capitalise(p.doing)} failed: ${p.message}${p.errorCode && !p.message.includes(p.errorCode) ? ` (${p.errorCode})` : ''}.${network ? ' Check the URL, DNS, the network path and any proxy (HTTPS_PROXY / NO_PROXY).' : ''}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function isExportError(e: unknown): e is ExportError {
  return e instanceof ExportError;
}

/** The HTTP status an Azure SDK error carries (RestError's `statusCode`), if any. */
export function statusOf(e: unknown): number | undefined {
  const status = (e as { statusCode?: unknown } | null | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A short, secret-free description of an unknown thrown value (message only, no stack, no request bodies). */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const status = statusOf(e);
    const parts = [e.message.split('\n')[0]?.trim() || e.name];
    if (typeof code === 'string' && !parts[0]!.includes(code)) parts.push(`(${code})`);
    if (status !== undefined) parts.push(`[HTTP ${status}]`);
    return parts.join(' ');
  }
  return String(e);
}
