/**
 * The export's settings (README "Settings"): read from the environment — app settings in Azure, the
 * `Values` of `local.settings.json` under Core Tools — validated together so that every problem is
 * reported at once, each naming the setting and the form it expects.
 */
import { CronExpressionParser } from 'cron-parser';
import { exportError } from './errors.js';

export type ExportFormat = 'json' | 'ndjson';
export type ExportCompression = 'none' | 'gzip';

/** A credential read from Key Vault: a client secret, or a certificate's key and chain. */
export type KeyVaultCredentialSetting = { kind: 'secret'; name: string } | { kind: 'certificate'; name: string };

export type CredentialSetting =
  | KeyVaultCredentialSetting
  /** Secretless: the client ID of the user-assigned managed identity the app trusts (README "Secretless"). */
  | { kind: 'federated'; managedIdentityClientId: string };

export type StorageSetting = { kind: 'connectionString'; connectionString: string } | { kind: 'identity'; blobServiceUri: string };

export interface ExportSettings {
  tenantId: string;
  clientId: string;
  /** Undefined only with a federated credential, which reads nothing from Key Vault. */
  keyVaultUrl: string | undefined;
  credential: CredentialSetting;
  /** Origin of the Entra authority, without a trailing slash. */
  authorityHost: string;
  /** Origin of Microsoft Graph, without a trailing slash. */
  graphEndpoint: string;
  select: string[];
  filter: string | undefined;
  storage: StorageSetting;
  container: string;
  format: ExportFormat;
  compression: ExportCompression;
  schedule: string;
  /** Client ID of a user-assigned managed identity, when one is used. */
  managedIdentityClientId: string | undefined;
  /**
   * EXPORT_REQUEST_TIMEOUT_SECONDS in ms: the longest one attempt of any call (Key Vault, managed identity,
   * token endpoint, Graph, Storage) may take, and the longest pause between two attempts.
   */
  requestTimeoutMs: number;
}

/** Every setting the code reads (the infra checks assert the Bicep sets them). */
export const SETTING_NAMES = [
  'GRAPH_TENANT_ID',
  'GRAPH_CLIENT_ID',
  'KEY_VAULT_URL',
  'GRAPH_CLIENT_SECRET_NAME',
  'GRAPH_CLIENT_CERTIFICATE_NAME',
  'GRAPH_FEDERATED_IDENTITY_CLIENT_ID',
  'GRAPH_AUTHORITY_HOST',
  'GRAPH_ENDPOINT',
  'USERS_SELECT',
  'USERS_FILTER',
  'EXPORT_STORAGE',
  'EXPORT_STORAGE__blobServiceUri',
  'EXPORT_CONTAINER',
  'EXPORT_FORMAT',
  'EXPORT_COMPRESSION',
  'EXPORT_SCHEDULE',
  'AZURE_CLIENT_ID',
] as const;
export type SettingName = (typeof SETTING_NAMES)[number];

/**
 * Optional operational tuning, deliberately outside SETTING_NAMES (README "Settings": the contract, which the Bicep must
 * set): the defaults are right in Azure; tests and unusual networks change them.
 */
export const TUNING_SETTING_NAMES = ['EXPORT_REQUEST_TIMEOUT_SECONDS'] as const;
export type TuningSettingName = (typeof TUNING_SETTING_NAMES)[number];

/** Default and bounds of EXPORT_REQUEST_TIMEOUT_SECONDS. */
export const REQUEST_TIMEOUT_SECONDS = { default: 100, min: 1, max: 3600 } as const;

export const DEFAULTS = {
  GRAPH_AUTHORITY_HOST: 'https://login.microsoftonline.com',
  GRAPH_ENDPOINT: 'https://graph.microsoft.com',
  USERS_SELECT:
    'id,userPrincipalName,displayName,givenName,surname,mail,jobTitle,department,officeLocation,mobilePhone,businessPhones,accountEnabled,userType,createdDateTime',
  EXPORT_CONTAINER: 'user-exports',
  EXPORT_FORMAT: 'json',
  EXPORT_COMPRESSION: 'none',
  EXPORT_SCHEDULE: '0 0 2 * * *',
} as const satisfies Partial<Record<SettingName, string>>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const KEY_VAULT_OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_.@]*$/;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates every setting. Throws one {@link ExportError} `InvalidSettings` listing all problems.
 * Empty values count as unset (local.settings.json templates leave optional settings as "").
 */
export function readSettings(env: Env = process.env): ExportSettings {
  const problems: string[] = [];
  const get = settingGetter(env);
  const required = (name: SettingName, form: string): string | undefined => {
    const value = get(name);
    if (value === undefined) problems.push(`${name} is missing: set it to ${form}.`);
    return value;
  };
  const oneOf = <T extends string>(name: SettingName, allowed: readonly T[], fallback: T): T => {
    const value = get(name)?.toLowerCase() ?? fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    problems.push(`${name} is '${get(name)}': expected one of ${allowed.map((a) => `'${a}'`).join(', ')}.`);
    return fallback;
  };

  const tenantId = required('GRAPH_TENANT_ID', 'the directory (tenant) ID, a GUID, or a verified domain such as contoso.onmicrosoft.com');
  if (tenantId !== undefined) {
    if (['common', 'organizations', 'consumers'].includes(tenantId.toLowerCase())) {
      problems.push(`GRAPH_TENANT_ID is '${tenantId}': the client-credentials flow needs a specific tenant ID (GUID) or verified domain.`);
    } else if (!GUID.test(tenantId) && !DOMAIN.test(tenantId)) {
      problems.push(`GRAPH_TENANT_ID is '${tenantId}': expected a tenant ID (GUID) or a verified domain such as contoso.onmicrosoft.com.`);
    }
  }

  const clientId = required('GRAPH_CLIENT_ID', 'the application (client) ID of the app registration holding User.Read.All, a GUID');
  if (clientId !== undefined && !GUID.test(clientId)) {
    problems.push(
      `GRAPH_CLIENT_ID is '${clientId}': expected the application (client) ID, a GUID like 00000000-0000-0000-0000-000000000000.`,
    );
  }

  const credentialProblems: string[] = [];
  const credential = readCredential(get, clientId, credentialProblems);
  // Only the credentials held in Key Vault need it: not required once GRAPH_FEDERATED_IDENTITY_CLIENT_ID is set,
  // even alongside another credential setting (that conflict is reported on its own).
  const needsVault = get('GRAPH_FEDERATED_IDENTITY_CLIENT_ID') === undefined;
  const vaultSetting = needsVault
    ? required('KEY_VAULT_URL', 'the vault URI, e.g. https://contoso-kv.vault.azure.net/')
    : get('KEY_VAULT_URL');
  const keyVaultUrl = parseOrigin('KEY_VAULT_URL', vaultSetting, problems, 'https://contoso-kv.vault.azure.net/');
  problems.push(...credentialProblems);

  const authorityHost = parseOrigin(
    'GRAPH_AUTHORITY_HOST',
    get('GRAPH_AUTHORITY_HOST') ?? DEFAULTS.GRAPH_AUTHORITY_HOST,
    problems,
    DEFAULTS.GRAPH_AUTHORITY_HOST,
  );
  const graphEndpoint = parseOrigin('GRAPH_ENDPOINT', get('GRAPH_ENDPOINT') ?? DEFAULTS.GRAPH_ENDPOINT, problems, DEFAULTS.GRAPH_ENDPOINT);

  const select = (get('USERS_SELECT') ?? DEFAULTS.USERS_SELECT)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const badProperties = select.filter((p) => !PROPERTY_NAME.test(p));
  if (select.length === 0 || badProperties.length > 0) {
    problems.push(
      `USERS_SELECT is '${get('USERS_SELECT')}': expected a comma-separated list of user property names, e.g. id,userPrincipalName,displayName.`,
    );
  }

  const { storage, container } = readStorage(get, problems);

  const format = oneOf<ExportFormat>('EXPORT_FORMAT', ['json', 'ndjson'], 'json');
  const compression = oneOf<ExportCompression>('EXPORT_COMPRESSION', ['none', 'gzip'], 'none');

  const schedule = get('EXPORT_SCHEDULE') ?? DEFAULTS.EXPORT_SCHEDULE;
  try {
    // Six fields, as the Functions host's NCRONTAB reads them ("Timer trigger for Azure Functions", NCRONTAB
    // expressions: https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions).
    // cron-parser checks each field; its strict mode is not used because it also refuses a day of month and a day
    // of week together, which NCRONTAB accepts — a schedule the host runs must not fail the run here.
    const fields = schedule.trim().split(/\s+/).length;
    if (fields !== 6) throw new Error(`${fields} field${fields === 1 ? '' : 's'}`);
    CronExpressionParser.parse(schedule, { strict: false });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    problems.push(
      `EXPORT_SCHEDULE is '${schedule}': expected an NCRONTAB expression with six fields {second} {minute} {hour} {day} {month} {day-of-week}, e.g. '0 0 2 * * *' for 02:00 UTC daily (${why}).`,
    );
  }

  const { managedIdentityClientId, requestTimeoutMs } = readAccess(get, problems);

  if (problems.length > 0) {
    throw exportError('InvalidSettings', { kind: 'settings', problems }, { details: problems });
  }
  return {
    tenantId: tenantId!,
    clientId: clientId!,
    keyVaultUrl,
    credential: credential!,
    authorityHost: authorityHost!,
    graphEndpoint: graphEndpoint!,
    select,
    filter: get('USERS_FILTER'),
    storage,
    container,
    format,
    compression,
    schedule,
    managedIdentityClientId,
    requestTimeoutMs,
  };
}

/** What `npm run changes` needs: where the snapshots are and how to reach them, read and checked as for the export. */
export type StorageSettings = Pick<ExportSettings, 'storage' | 'container' | 'managedIdentityClientId' | 'requestTimeoutMs'>;

/** Reads only the storage settings (EXPORT_STORAGE / EXPORT_STORAGE__blobServiceUri, EXPORT_CONTAINER, AZURE_CLIENT_ID). */
export function readStorageSettings(env: Env = process.env): StorageSettings {
  const problems: string[] = [];
  const get = settingGetter(env);
  const { storage, container } = readStorage(get, problems);
  const access = readAccess(get, problems);
  if (problems.length > 0) {
    throw exportError('InvalidSettings', { kind: 'settings', problems }, { details: problems });
  }
  return { storage, container, ...access };
}

type Getter = (name: SettingName | TuningSettingName) => string | undefined;

/** Empty values count as unset (local.settings.json templates leave optional settings as ""). */
function settingGetter(env: Env): Getter {
  return (name) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
}

function readStorage(get: Getter, problems: string[]): { storage: StorageSetting; container: string } {
  const connectionString = get('EXPORT_STORAGE');
  const blobServiceUri = get('EXPORT_STORAGE__blobServiceUri');
  let storage: StorageSetting = { kind: 'connectionString', connectionString: '' };
  if (connectionString !== undefined && blobServiceUri !== undefined) {
    problems.push(
      'EXPORT_STORAGE and EXPORT_STORAGE__blobServiceUri are both set: set exactly one — a connection string, or the blob service URI for the managed identity (recommended in Azure).',
    );
  } else if (connectionString === undefined && blobServiceUri === undefined) {
    problems.push(
      'EXPORT_STORAGE__blobServiceUri or EXPORT_STORAGE is missing: set EXPORT_STORAGE__blobServiceUri to https://<account>.blob.core.windows.net (managed identity), or EXPORT_STORAGE to a connection string (UseDevelopmentStorage=true for Azurite).',
    );
  } else if (connectionString !== undefined) {
    if (!/^UseDevelopmentStorage=true/i.test(connectionString) && !/(^|;)\s*(AccountName|BlobEndpoint)\s*=/i.test(connectionString)) {
      problems.push(
        'EXPORT_STORAGE is not a storage connection string: expected DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net, a BlobEndpoint=...;SharedAccessSignature=... string, or UseDevelopmentStorage=true.',
      );
    }
    storage = { kind: 'connectionString', connectionString };
  } else {
    // A path is allowed here: Azurite and Azure Stack put the account name in the path.
    const uri = parseOrigin('EXPORT_STORAGE__blobServiceUri', blobServiceUri, problems, 'https://<account>.blob.core.windows.net', {
      allowPath: true,
    });
    storage = { kind: 'identity', blobServiceUri: uri ?? '' };
  }

  const container = get('EXPORT_CONTAINER') ?? DEFAULTS.EXPORT_CONTAINER;
  if (!CONTAINER_NAME.test(container)) {
    problems.push(
      `EXPORT_CONTAINER is '${container}': a container name has 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.`,
    );
  }

  return { storage, container };
}

function readAccess(get: Getter, problems: string[]): { managedIdentityClientId: string | undefined; requestTimeoutMs: number } {
  const managedIdentityClientId = get('AZURE_CLIENT_ID');
  if (managedIdentityClientId !== undefined && !GUID.test(managedIdentityClientId)) {
    problems.push(
      `AZURE_CLIENT_ID is '${managedIdentityClientId}': expected the client ID (a GUID) of the user-assigned managed identity, or leave it unset for the system-assigned identity.`,
    );
  }

  const timeoutText = get('EXPORT_REQUEST_TIMEOUT_SECONDS');
  let requestTimeoutSeconds: number = REQUEST_TIMEOUT_SECONDS.default;
  if (timeoutText !== undefined) {
    const seconds = /^\d+(\.\d+)?$/.test(timeoutText) ? Number(timeoutText) : NaN;
    if (seconds >= REQUEST_TIMEOUT_SECONDS.min && seconds <= REQUEST_TIMEOUT_SECONDS.max) {
      requestTimeoutSeconds = seconds;
    } else {
      problems.push(
        `EXPORT_REQUEST_TIMEOUT_SECONDS is '${timeoutText}': expected a number of seconds from ${REQUEST_TIMEOUT_SECONDS.min} to ${REQUEST_TIMEOUT_SECONDS.max} (default ${REQUEST_TIMEOUT_SECONDS.default}), the longest one attempt of a call may take; or leave it unset.`,
      );
    }
  }

  return { managedIdentityClientId, requestTimeoutMs: Math.round(requestTimeoutSeconds * 1000) };
}

/**
 * The `schedule` of the timer binding (src/functions/exportUsers.ts), read when the Functions worker loads the
 * entry point. The host resolves a `%NAME%` schedule from the app settings ("Timer trigger for Azure
 * Functions", schedule: "put the schedule expression in an app setting and set this property to the app
 * setting name wrapped in % signs", https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#configuration)
 * and, when that setting is unset, fails to index the function: the name resolves to no value. So the binding
 * names `%EXPORT_SCHEDULE%` only when the setting is set (empty counts as unset, as in readSettings), and is
 * the default expression itself otherwise.
 *
 * The app settings are in process.env by then: the worker loads package.json "main" in startApp(), at
 * WorkerInitRequest in the process the host started with its environment, or — when a placeholder is
 * specialized — at FunctionEnvironmentReloadRequest, right after replacing process.env with the request's
 * variables (Azure/azure-functions-nodejs-worker src/startApp.ts, src/eventHandlers/WorkerInitHandler.ts,
 * src/eventHandlers/FunctionEnvironmentReloadHandler.ts; the host fills that request from its own process
 * environment, leaving out empty values: Azure/azure-functions-host
 * src/WebJobs.Script.Grpc/Channel/GrpcWorkerChannel.cs, GetFunctionEnvironmentReloadRequest).
 *
 * A set value is not validated here: the host is the judge of NCRONTAB (it also takes a TimeSpan) and names a
 * value it cannot read ("The schedule expression '…' was not recognized as a valid cron expression or timespan
 * string", Azure/azure-webjobs-sdk-extensions src/WebJobs.Extensions/Extensions/Timers/Scheduling/TimerSchedule.cs),
 * disabling only this function. Throwing here instead would fail the entry point before anything is
 * registered, and the worker then lets the host fall back to its own indexing: the function would silently
 * vanish, with the error only on the worker's stderr (azure-functions-nodejs-worker
 * src/eventHandlers/FunctionsMetadataHandler.ts: isUsingWorkerIndexing is set by the first registerFunction).
 */
export function timerSchedule(env: Env = process.env): string {
  return env['EXPORT_SCHEDULE']?.trim() ? '%EXPORT_SCHEDULE%' : DEFAULTS.EXPORT_SCHEDULE;
}

const CREDENTIAL_SETTINGS = ['GRAPH_CLIENT_SECRET_NAME', 'GRAPH_CLIENT_CERTIFICATE_NAME', 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'] as const;

/** Exactly one of the three credential settings; undefined (with the problem recorded) otherwise. */
function readCredential(
  get: (name: SettingName) => string | undefined,
  clientId: string | undefined,
  problems: string[],
): CredentialSetting | undefined {
  const set = CREDENTIAL_SETTINGS.filter((name) => get(name) !== undefined);
  const choices =
    'the name of the Key Vault certificate (GRAPH_CLIENT_CERTIFICATE_NAME, recommended), the name of the Key Vault secret holding the client secret ' +
    '(GRAPH_CLIENT_SECRET_NAME), or, secretless, the client ID of the user-assigned managed identity the app trusts (GRAPH_FEDERATED_IDENTITY_CLIENT_ID)';
  if (set.length === 0) {
    problems.push(
      `GRAPH_CLIENT_CERTIFICATE_NAME, GRAPH_CLIENT_SECRET_NAME or GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing: set exactly one — ${choices}.`,
    );
    return undefined;
  }
  if (set.length > 1) {
    const names = set.length === 2 ? `${set[0]} and ${set[1]} are both set` : `${set[0]}, ${set[1]} and ${set[2]} are all set`;
    problems.push(`${names}: set exactly one — ${choices} — and unset the other${set.length === 2 ? '' : 's'}.`);
    return undefined;
  }
  const name = set[0]!;
  const value = get(name)!;
  if (name === 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID') {
    if (!GUID.test(value)) {
      problems.push(
        `GRAPH_FEDERATED_IDENTITY_CLIENT_ID is '${value}': expected the client ID (a GUID) of the user-assigned managed identity that the app trusts as a federated identity credential.`,
      );
      return undefined;
    }
    if (clientId !== undefined && value.toLowerCase() === clientId.toLowerCase()) {
      problems.push(
        `GRAPH_FEDERATED_IDENTITY_CLIENT_ID is the app's own client ID (GRAPH_CLIENT_ID): set it to the client ID of the user-assigned managed identity that the app trusts, not of the app.`,
      );
      return undefined;
    }
    return { kind: 'federated', managedIdentityClientId: value.toLowerCase() };
  }
  const kind = name === 'GRAPH_CLIENT_SECRET_NAME' ? 'secret' : 'certificate';
  if (!KEY_VAULT_OBJECT_NAME.test(value)) {
    problems.push(`${name} is '${value}': a Key Vault ${kind} name has 1-127 letters, digits and hyphens.`);
    return undefined;
  }
  return { kind, name: value };
}

/** Validates an https URL that names a service root and returns its origin (no trailing slash). */
function parseOrigin(
  name: SettingName,
  value: string | undefined,
  problems: string[],
  example: string,
  options: { allowPath?: boolean } = {},
): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is '${value}': not a URL; expected e.g. ${example}.`);
    return undefined;
  }
  if (url.protocol !== 'https:') {
    problems.push(`${name} is '${value}': must use https, e.g. ${example}.`);
    return undefined;
  }
  const hasPath = url.pathname !== '/' && url.pathname !== '';
  if ((hasPath && !options.allowPath) || url.search || url.hash || url.username || url.password) {
    problems.push(`${name} is '${value}': expected just the service root without a path or query, e.g. ${example}.`);
    return undefined;
  }
  return hasPath ? `${url.origin}${url.pathname.replace(/\/+$/, '')}` : url.origin;
}
