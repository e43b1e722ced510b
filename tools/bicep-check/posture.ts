/**
 * Security posture and the contract with the code: storage without shared keys or public access, Key Vault
 * with RBAC, soft delete and purge protection, Application Insights and Log Analytics without local auth,
 * the alerts, Flex Consumption on Node 22 with identity-based host storage, every setting the code reads
 * (and nothing it would misread), and least-privilege role assignments that grant every permission the
 * code needs at the right scope — and no Owner, Contributor or User Access Administrator.
 *
 * Values are followed through variables, module parameters and outputs (Project.trace), so a setting is
 * checked against where its value really comes from (e.g. AZURE_CLIENT_ID against the user-assigned
 * identity's clientId), not against a name.
 */
import { finding, type Finding } from './findings.js';
import type { BicepFile, Loc, ParamDecl, ResourceDecl, Value } from './parse.js';
import { CLOUDS, DOD_GRAPH, toggleTrailingSlashes } from './clouds.js';
import { FLEX_DEPRECATED_APP_SETTINGS, FLEX_DEPRECATED_SITE_PROPERTIES, FLEX_DEPRECATIONS_SOURCE, flexDeprecation } from './flex.js';
import { appSettingItems } from './app-settings.js';
import { checkCredentialTypes, CREDENTIAL_SETTINGS, KEY_VAULT_CREDENTIAL_SETTINGS } from './credential.js';
import { describe, evaluateAppSettings, EvaluationError, Evaluator, type BicepValue, type Deployment } from './evaluate.js';
import { TABLES, unknownColumns } from './kql.js';
import { describeSource, ruleSource } from './rules.js';
import { Project, prop, valueText } from './project.js';

export interface PostureOptions {
  /** The setting names the code reads (src/settings.ts SETTING_NAMES). */
  settingNames: readonly string[];
  /** The code's defaults (src/settings.ts DEFAULTS), to compare with the Bicep parameter defaults. */
  settingDefaults?: Readonly<Record<string, string>>;
  /** The entry file (azd's main.bicep). */
  entry?: string;
  /** Name of the timer function the alerts watch. */
  functionName?: string;
}

export const ROLES = {
  keyVaultSecretsUser: { id: '4633458b-17de-408a-b874-0445c86b69e6', name: 'Key Vault Secrets User' },
  storageBlobDataOwner: { id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', name: 'Storage Blob Data Owner' },
  storageBlobDataContributor: { id: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe', name: 'Storage Blob Data Contributor' },
  monitoringMetricsPublisher: { id: '3913510d-42f4-4e42-8a64-420c390055eb', name: 'Monitoring Metrics Publisher' },
  // Deployer-only roles (the person or pipeline running the provisioning scripts).
  keyVaultCertificatesOfficer: { id: 'a4417e6f-fecd-4de8-b567-7b0420556985', name: 'Key Vault Certificates Officer' },
  keyVaultSecretsOfficer: { id: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7', name: 'Key Vault Secrets Officer' },
  storageBlobDataReader: { id: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1', name: 'Storage Blob Data Reader' },
} as const;

export const FORBIDDEN_ROLES: Record<string, string> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42e0-ab88-20f7382dd24c': 'Contributor',
  '18d7d88d-d35a-4fb5-a5c3-b773fd3c24c1': 'User Access Administrator',
};

const KNOWN_ROLE_NAMES: Record<string, string> = {
  ...Object.fromEntries(Object.values(ROLES).map((r) => [r.id, r.name])),
  ...FORBIDDEN_ROLES,
};

/** Roles of the function's identity: what it needs, where. Nothing else may be granted to it. */
const FUNCTION_ROLES = [
  {
    role: ROLES.keyVaultSecretsUser,
    scopes: ['Microsoft.KeyVault/vaults', 'Microsoft.KeyVault/vaults/secrets'],
    why: 'read the Graph credential from Key Vault',
  },
  {
    role: ROLES.storageBlobDataOwner,
    scopes: ['Microsoft.Storage/storageAccounts'],
    why: 'Functions host storage (leases, keys, timer state) and the Flex deployment package',
  },
  {
    role: ROLES.storageBlobDataContributor,
    scopes: ['Microsoft.Storage/storageAccounts/blobServices/containers'],
    why: 'write snapshots and latest.json to the export container',
  },
  {
    role: ROLES.monitoringMetricsPublisher,
    scopes: ['Microsoft.Insights/components'],
    why: 'send telemetry to Application Insights with Entra ID',
  },
];
const DEPLOYER_ROLES: string[] = [ROLES.keyVaultCertificatesOfficer.id, ROLES.keyVaultSecretsOfficer.id, ROLES.storageBlobDataReader.id];

/** App settings the platform reads (besides the code's own). */
const PLATFORM_SETTINGS = new Set([
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
]);

/**
 * Settings that would bring back shared keys / instrumentation keys (the Flex Consumption deprecations are in
 * flex.ts). Our choice (identity-only access), each backed by the doc that describes the identity alternative.
 */
const FORBIDDEN_SETTINGS: Record<string, string> = {
  // "Connecting to host storage with an identity": https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
  AzureWebJobsStorage: 'a connection string needs shared keys; use AzureWebJobsStorage__credential/__clientId/__blobServiceUri',
  // "Microsoft Entra authentication for Application Insights": with DisableLocalAuth, instrumentation-key ingestion is refused.
  APPINSIGHTS_INSTRUMENTATIONKEY: 'instrumentation-key ingestion is disabled (DisableLocalAuth); use the connection string + Entra ID',
};

const UAMI = 'Microsoft.ManagedIdentity/userAssignedIdentities';

/** The settings whose value depends on the cloud deployed to. */
const GRAPH_SETTINGS = ['GRAPH_ENDPOINT', 'GRAPH_AUTHORITY_HOST'];
/** The entry file's required parameters, for evaluating (the Graph settings do not depend on them). */
const ENTRY_PARAMETERS: Record<string, BicepValue> = { environmentName: 'posture', location: 'eastus' };

/** The app settings evaluated for a deployment, or why they could not be. */
function evaluateSettings(project: Project, deployment: Deployment, names: readonly string[]): Map<string, BicepValue> | string {
  try {
    return evaluateAppSettings(project, deployment, names);
  } catch (e) {
    if (e instanceof EvaluationError) return e.message;
    throw e;
  }
}
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function lit(v: Value | undefined): string | number | boolean | undefined {
  if (!v) return undefined;
  if (v.kind === 'string' || v.kind === 'number' || v.kind === 'bool') return v.value;
  return undefined;
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

interface Setting {
  names: string[]; // one, or the branches of a ternary
  conditional: boolean;
  cond?: string;
  value: Value | undefined;
  loc: Loc;
}

interface RoleAssignment {
  file: BicepFile;
  r: ResourceDecl;
  roleId?: string;
  scope?: ResourceDecl;
  principal: string[];
  principalType: Value | undefined;
}

type Place = Loc | { file: string; line: number };
type Deployed = { file: BicepFile; r: ResourceDecl };

/** What every posture check reads, and where its findings go. */
interface Posture {
  readonly project: Project;
  readonly options: PostureOptions;
  readonly entry: BicepFile | undefined;
  readonly entryName: string;
  /** Where a finding about something missing is reported: the entry file's first line. */
  readonly anyLoc: Place;
  readonly functionName: string;
  readonly all: Deployed[];
  /** The deployed (not `existing`) resources of a type. */
  deployed(type: string): Deployed[];
  /** Whether a trace ends at the user-assigned identity's `path` (e.g. properties.clientId). */
  isUami(trace: string[], path: string): boolean;
  /** A posture finding. */
  P(this: void, rule: string, loc: Place, message: string): void;
  /** A conventions finding. */
  C(rule: string, loc: Place, message: string): void;
}

/** The function app's siteConfig.appSettings, by name. */
interface AppSettings {
  readonly site: Deployed | undefined;
  readonly list: Setting[];
  readonly byName: Map<string, Setting[]>;
  /** Where a setting is set (the site, or the entry file, when it is not). */
  loc(name: string): Place;
  /** Where a setting's value comes from (Project.trace). */
  trace(name: string): string[];
}

export function checkPosture(project: Project, options: PostureOptions): Finding[] {
  const out: Finding[] = [];
  const posture = postureOf(project, options, out);
  checkIdentity(posture);
  checkStorage(posture);
  const settings = readAppSettings(posture);
  if (settings.site) checkAppSettings(posture, settings, settings.site);
  checkPlan(posture);
  if (settings.site) checkFunctionApp(posture, settings.site);
  checkKeyVault(posture);
  checkMonitoring(posture);
  checkAlerts(posture);
  const exportTrace = settings.trace('EXPORT_CONTAINER');
  checkRoleAssignments(posture, exportTrace);
  checkNoSharedKeys(posture);
  checkLifecycle(posture, exportTrace);
  checkConventions(posture);
  return out;
}

function postureOf(project: Project, options: PostureOptions, out: Finding[]): Posture {
  // Every finding names where its rule comes from (rules.ts): a documented fact, or our own choice.
  const sourced = (f: Finding): Finding => ({ ...f, source: describeSource(ruleSource(f.rule)) });
  const all = project.allResources();
  const entryName = options.entry ?? 'main.bicep';
  const entry = project.files.get(entryName);
  return {
    project,
    options,
    entry,
    entryName,
    anyLoc: entry ? { file: entry.file, line: 1 } : { file: entryName, line: 1 },
    functionName: options.functionName ?? 'exportUsers',
    all,
    deployed: (type) => all.filter(({ r }) => same(r.type, type) && !r.existing),
    isUami: (trace, path) => trace.some((t) => t.startsWith(`${UAMI}:${path} `)),
    P: (rule, loc, message) => void out.push(sourced(finding('posture', rule, loc, message))),
    C: (rule, loc, message) => void out.push(sourced(finding('conventions', rule, loc, message))),
  };
}

/** `<subject>: <path> must be <want> (<why>), is <value>` unless the resource's literal at `path` is `want`. */
function expectLiteral(x: Posture, rule: string, subject: string, r: ResourceDecl, path: string, want: unknown, why: string): void {
  const v = prop(r.body, path);
  if (lit(v) !== want)
    x.P(rule, v?.loc ?? r.loc, `${subject}: ${path} must be ${JSON.stringify(want)} (${why}), is ${v ? valueText(v) : 'not set'}`);
}

// --- The user-assigned identity -------------------------------------------------------------------
function checkIdentity(x: Posture): void {
  const uamis = x.deployed(UAMI);
  if (uamis.length !== 1)
    x.P(
      'identity-uami',
      x.anyLoc,
      `exactly one user-assigned managed identity is expected (found ${uamis.length}): it is used for everything`,
    );
}

// --- Storage --------------------------------------------------------------------------------------
function checkStorage(x: Posture): void {
  const accounts = x.deployed('Microsoft.Storage/storageAccounts');
  if (accounts.length === 0) x.P('storage-account', x.anyLoc, 'no storage account is deployed');
  for (const { r } of accounts) {
    const subject = `storage account ${r.symbol}`;
    expectLiteral(x, 'storage-shared-key', subject, r, 'properties.allowSharedKeyAccess', false, 'Entra ID only, no account keys');
    expectLiteral(x, 'storage-public-blob', subject, r, 'properties.allowBlobPublicAccess', false, 'no anonymous access');
    expectLiteral(x, 'storage-https', subject, r, 'properties.supportsHttpsTrafficOnly', true, 'HTTPS only');
    expectLiteral(x, 'storage-oauth-default', subject, r, 'properties.defaultToOAuthAuthentication', true, 'default to Entra ID');
    const tls = lit(prop(r.body, 'properties.minimumTlsVersion'));
    if (tls !== 'TLS1_2' && tls !== 'TLS1_3')
      x.P(
        'storage-tls',
        prop(r.body, 'properties.minimumTlsVersion')?.loc ?? r.loc,
        `storage account ${r.symbol}: properties.minimumTlsVersion must be 'TLS1_2', is ${tls ?? 'not set'}`,
      );
  }
  for (const { r } of x.deployed('Microsoft.Storage/storageAccounts/blobServices/containers')) {
    const access = prop(r.body, 'properties.publicAccess');
    if (access && lit(access) !== 'None')
      x.P('container-public-access', access.loc, `container ${r.symbol}: publicAccess must be 'None', is ${valueText(access)}`);
  }
}

// --- App settings --------------------------------------------------------------------------------
function readAppSettings(x: Posture): AppSettings {
  const sites = x.deployed('Microsoft.Web/sites');
  if (sites.length !== 1) x.P('function-app', x.anyLoc, `exactly one function app is expected (found ${sites.length})`);
  const site = sites[0];
  const list: Setting[] = [];
  if (site) {
    // Every item the list can hold, in every branch (app-settings.ts): which ones a deployment gets is checked per
    // credential type (credential.ts).
    const items = appSettingItems(site.file, prop(site.r.body, 'properties.siteConfig.appSettings'));
    if (!items)
      x.P(
        'settings-inline',
        site.r.loc,
        `function app ${site.r.symbol}: siteConfig.appSettings must be an array literal of { name, value }, concat() of such lists, or a conditional choosing between two (the check reads it)`,
      );
    else
      for (const { item } of items) {
        const name = prop(item, 'name');
        const value = prop(item, 'value');
        if (name?.kind === 'string') list.push({ names: [name.value], conditional: false, value, loc: name.loc });
        else if (name?.kind === 'ternary' && name.then.kind === 'string' && name.else.kind === 'string')
          list.push({ names: [name.then.value, name.else.value], conditional: true, cond: name.cond, value, loc: name.loc });
        else
          x.P(
            'settings-inline',
            item.loc,
            `app setting with a computed name (${valueText(name)}): use a literal, or a ternary of two literals`,
          );
      }
  }
  const byName = new Map<string, Setting[]>();
  for (const s of list) for (const n of s.names) byName.set(n, [...(byName.get(n) ?? []), s]);
  return {
    site,
    list,
    byName,
    loc: (n) => byName.get(n)?.[0]?.loc ?? site?.r.loc ?? x.anyLoc,
    trace: (n) => {
      const s = byName.get(n)?.[0];
      return s && site ? x.project.trace(site.file, s.value) : [];
    },
  };
}

function checkAppSettings(x: Posture, settings: AppSettings, site: Deployed): void {
  checkSettingNames(x, settings);
  checkSettingContract(x, settings, site);
  checkSettingSources(x, settings, site);
  checkGraphClouds(x, settings);
  checkSettingParameters(x, settings, site);
  checkCredentialChoice(x, settings, site);
}

/** Each setting once; none forbidden, deprecated on Flex, carrying a key, or read by nobody. */
function checkSettingNames(x: Posture, settings: AppSettings): void {
  const { byName } = settings;
  for (const [n, list] of byName)
    if (list.length > 1) x.P('setting-duplicate', list[1]!.loc, `app setting ${n} is set ${list.length} times`);
  for (const [n, why] of Object.entries(FORBIDDEN_SETTINGS))
    if (byName.has(n)) x.P('setting-forbidden', settings.loc(n), `app setting ${n} must not be set: ${why}`);
  // Flex Consumption deprecations (flex.ts): newer stamps refuse the site PUT that carries one.
  for (const n of byName.keys()) {
    const d = flexDeprecation(FLEX_DEPRECATED_APP_SETTINGS, n);
    if (d)
      x.P(
        'flex-deprecated',
        settings.loc(n),
        `app setting ${n} is deprecated on Flex Consumption (${d.reason}; ${FLEX_DEPRECATIONS_SOURCE})`,
      );
  }
  for (const n of byName.keys()) {
    if (/AccountKey=|SharedAccessSignature=/i.test(valueText(byName.get(n)![0]!.value)))
      x.P('setting-shared-key', settings.loc(n), `app setting ${n} carries a storage key or SAS`);
    if (
      !x.options.settingNames.includes(n) &&
      !CREDENTIAL_SETTINGS.includes(n) &&
      !PLATFORM_SETTINGS.has(n) &&
      !FORBIDDEN_SETTINGS[n] &&
      !flexDeprecation(FLEX_DEPRECATED_APP_SETTINGS, n)
    )
      x.P('setting-unknown', settings.loc(n), `app setting ${n} is neither read by the code (SETTING_NAMES) nor by the platform: a typo?`);
  }
}

/** The settings that name the Graph credential kept in Key Vault (one ternary choosing between the two). */
function credentialSettings(settings: AppSettings): Setting[] {
  return settings.list.filter((s) => s.names.some((n) => KEY_VAULT_CREDENTIAL_SETTINGS.includes(n)));
}

/**
 * The code's contract: every setting it reads is set and EXPORT_STORAGE is not. Which credential settings (and
 * KEY_VAULT_URL) each credential type gets is evaluated per type in credential.ts.
 */
function checkSettingContract(x: Posture, settings: AppSettings, site: Deployed): void {
  for (const n of x.options.settingNames) {
    if (n === 'EXPORT_STORAGE') {
      if (settings.byName.has(n))
        x.P(
          'setting-connection-string',
          settings.loc(n),
          'EXPORT_STORAGE (a connection string, shared key) must not be set in Azure: set EXPORT_STORAGE__blobServiceUri (identity-based)',
        );
      continue;
    }
    if (CREDENTIAL_SETTINGS.includes(n)) continue;
    if (!settings.byName.has(n)) x.P('setting-missing', site.r.loc, `app setting ${n} (read by the code) is not set by the Bicep`);
  }
}

/** Where the values come from: the identity, the vault, the container, Application Insights. */
function checkSettingSources(x: Posture, settings: AppSettings, site: Deployed): void {
  const expectTrace = (n: string, ok: (t: string[]) => boolean, want: string): void => {
    if (!settings.byName.has(n)) return;
    const t = settings.trace(n);
    if (!ok(t)) x.P('setting-value', settings.loc(n), `app setting ${n} must be ${want}; it comes from ${t.join(', ') || 'nothing'}`);
  };
  expectTrace('AZURE_CLIENT_ID', (t) => x.isUami(t, 'properties.clientId'), "the user-assigned identity's clientId");
  expectTrace('AzureWebJobsStorage__clientId', (t) => x.isUami(t, 'properties.clientId'), "the user-assigned identity's clientId");
  expectTrace('AzureWebJobsStorage__credential', (t) => t.length > 0 && t.every((v) => v === "'managedidentity'"), "'managedidentity'");
  const blobUri = (t: string[]): boolean =>
    t.length > 0 && t.every((v) => v.startsWith('interp:https://') && v.includes('.blob.') && v.includes('environment().suffixes.storage'));
  expectTrace('AzureWebJobsStorage__blobServiceUri', blobUri, 'https://<account>.blob.${environment().suffixes.storage}');
  expectTrace('EXPORT_STORAGE__blobServiceUri', blobUri, 'https://<account>.blob.${environment().suffixes.storage} (identity-based)');
  // '' where no vault is deployed (credentialType federated, whose settings do not include KEY_VAULT_URL: credential.ts).
  const vaultUri = (t: string[]): string[] => t.filter((v) => v !== "''");
  expectTrace(
    'KEY_VAULT_URL',
    (t) => vaultUri(t).length > 0 && vaultUri(t).every((v) => v.startsWith('Microsoft.KeyVault/vaults:properties.vaultUri ')),
    "the vault's properties.vaultUri",
  );
  expectTrace(
    'EXPORT_CONTAINER',
    (t) => t.length > 0 && t.every((v) => v.startsWith('Microsoft.Storage/storageAccounts/blobServices/containers:name ')),
    'the name of the deployed export container',
  );
  expectTrace(
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    (t) => t.some((v) => v.startsWith('Microsoft.Insights/components:properties.ConnectionString ')),
    "the Application Insights component's ConnectionString",
  );
  const authString = settings.byName.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')?.[0];
  if (!authString)
    x.P(
      'appinsights-aad',
      site.r.loc,
      'APPLICATIONINSIGHTS_AUTHENTICATION_STRING (ClientId=<identity>;Authorization=AAD) is not set: telemetry is rejected when local auth is off',
    );
  else {
    const v = authString.value;
    const parts = v?.kind === 'interp' ? v.parts : [];
    const clientExpr = parts.find((p): p is { expr: string } => typeof p !== 'string');
    const textOk = v?.kind === 'interp' && /^'ClientId=\$\{[^}]+\};Authorization=AAD'$/.test(v.text);
    if (!textOk || !clientExpr || !x.isUami(x.project.trace(site.file, clientExpr.expr), 'properties.clientId'))
      x.P(
        'appinsights-aad',
        authString.loc,
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'ClientId=${<the identity's clientId>};Authorization=AAD'",
      );
  }
}

/**
 * GRAPH_AUTHORITY_HOST / GRAPH_ENDPOINT: what the Bicep's own expressions give for environment() of each
 * documented cloud (clouds.ts, with sources), with each cloud's endpoints as documented and with their
 * trailing slashes toggled — Entra's login host and Microsoft Graph's host of that cloud
 * (https://learn.microsoft.com/graph/deployments), never Azure AD Graph (environment().graph).
 */
function checkGraphClouds(x: Posture, settings: AppSettings): void {
  for (const cloud of CLOUDS)
    for (const environment of [cloud.environment, toggleTrailingSlashes(cloud.environment)]) {
      const got = evaluateSettings(x.project, { environment, parameters: ENTRY_PARAMETERS }, GRAPH_SETTINGS);
      if (typeof got === 'string') {
        x.P(
          'setting-graph-cloud',
          settings.loc('GRAPH_ENDPOINT'),
          `GRAPH_ENDPOINT / GRAPH_AUTHORITY_HOST cannot be evaluated for ${environment.name} (environment() as documented: ${cloud.source}): ${got}`,
        );
        continue;
      }
      const want = { GRAPH_ENDPOINT: cloud.microsoftGraph, GRAPH_AUTHORITY_HOST: cloud.entraAuthority };
      for (const [n, expected] of Object.entries(want))
        if (settings.byName.has(n) && got.get(n) !== expected)
          x.P(
            'setting-graph-cloud',
            settings.loc(n),
            `deployed to ${environment.name}, app setting ${n} would be ${describe(got.get(n) ?? null)}; it must be ${expected} (https://learn.microsoft.com/graph/deployments)${n === 'GRAPH_ENDPOINT' ? '. environment().graph is Azure AD Graph (retired), not Microsoft Graph' : ''}`,
          );
    }
  // A DoD (US Government L5) tenant: same Azure environment as L4, its own Graph host, given as a parameter.
  const usGov = CLOUDS.find((c) => c.environment.name === 'AzureUSGovernment');
  if (usGov && settings.byName.has('GRAPH_ENDPOINT')) {
    const got = evaluateSettings(
      x.project,
      { environment: usGov.environment, parameters: { ...ENTRY_PARAMETERS, graphEndpoint: DOD_GRAPH } },
      ['GRAPH_ENDPOINT'],
    );
    if (typeof got === 'string' || got.get('GRAPH_ENDPOINT') !== DOD_GRAPH)
      x.P(
        'setting-graph-cloud',
        settings.loc('GRAPH_ENDPOINT'),
        `${x.entryName}'s parameter graphEndpoint = '${DOD_GRAPH}' (US Government L5, https://learn.microsoft.com/graph/deployments) must become GRAPH_ENDPOINT; got ${typeof got === 'string' ? got : describe(got.get('GRAPH_ENDPOINT') ?? null)}`,
      );
  }
}

/** The literal values a parameter's @allowed decorator lists (undefined without one). */
function allowedValues(param: ParamDecl): Array<string | number | boolean | undefined> | undefined {
  const dec = param.decorators.find((d) => d.name === 'allowed');
  return dec?.args[0]?.kind === 'array' ? dec.args[0].items.map((i) => lit(i)) : undefined;
}

/** Parameters behind the settings: allowed values and defaults that match the code. */
function checkSettingParameters(x: Posture, settings: AppSettings, site: Deployed): void {
  const { project } = x;
  const paramOf = (n: string): string | undefined => {
    const s = settings.byName.get(n)?.[0];
    return s?.value?.kind === 'expr' && site.file.params.has(s.value.text) ? s.value.text : undefined;
  };
  const checkParam = (setting: string, allowed: string[] | undefined, wantDefault: string | undefined): void => {
    const name = paramOf(setting);
    if (!name) {
      if (settings.byName.has(setting))
        x.P('setting-parameter', settings.loc(setting), `app setting ${setting} should come from a parameter`);
      return;
    }
    const chain = project.paramChain(site.file, name);
    for (const link of chain) {
      const values = allowedValues(link.param);
      if (allowed && (!values || values.length !== allowed.length || !allowed.every((a) => values.includes(a))))
        x.P(
          'setting-allowed',
          link.param.loc,
          `parameter ${link.param.name} (${setting}) must be @allowed([${allowed.map((a) => `'${a}'`).join(', ')}])`,
        );
    }
    const def = project.effectiveDefault(site.file, name);
    if (wantDefault !== undefined && lit(def) !== wantDefault)
      x.P(
        'setting-default',
        chain.at(-1)?.param.loc ?? settings.loc(setting),
        `default of ${setting} must be '${wantDefault}' (the code's default), is ${def ? valueText(def) : 'none'}`,
      );
  };
  const d = x.options.settingDefaults ?? {};
  checkParam('EXPORT_FORMAT', ['json', 'ndjson'], d.EXPORT_FORMAT ?? 'json');
  checkParam('EXPORT_COMPRESSION', ['none', 'gzip'], d.EXPORT_COMPRESSION ?? 'none');
  checkParam('EXPORT_SCHEDULE', undefined, d.EXPORT_SCHEDULE ?? '0 0 2 * * *');
  checkParam('USERS_SELECT', undefined, d.USERS_SELECT);
  const scheduleParam = paramOf('EXPORT_SCHEDULE');
  const schedule = scheduleParam && project.effectiveDefault(site.file, scheduleParam);
  if (schedule && typeof lit(schedule) === 'string' && String(lit(schedule)).trim().split(/\s+/).length !== 6)
    x.P('setting-default', schedule.loc, `EXPORT_SCHEDULE default '${lit(schedule)}' must be NCRONTAB with six fields`);
  // The export container's default name.
  const container = exportContainer(project, settings.trace('EXPORT_CONTAINER'));
  if (container) {
    const nameV = prop(container.r.body, 'name');
    const nameParam = nameV?.kind === 'expr' && container.file.params.has(nameV.text) ? nameV.text : undefined;
    const def = nameParam ? project.effectiveDefault(container.file, nameParam) : nameV;
    const want = d.EXPORT_CONTAINER ?? 'user-exports';
    if (lit(def) !== want)
      x.P('setting-default', container.r.loc, `the export container's default name must be '${want}', is ${def ? valueText(def) : 'none'}`);
  }
}

/**
 * The credential's name comes from a parameter; which credential settings each credentialType gets, and the Key Vault
 * and federated identity credential that go with it, are evaluated per type (credential.ts).
 */
function checkCredentialChoice(x: Posture, settings: AppSettings, site: Deployed): void {
  const cred = credentialSettings(settings)[0];
  if (cred) {
    const v = cred.value;
    if (v?.kind === 'expr' && site.file.params.has(v.text)) {
      const def = x.project.effectiveDefault(site.file, v.text);
      if (lit(def) !== 'graph-export-cert')
        x.P('setting-default', cred.loc, `the credential name must default to 'graph-export-cert', is ${def ? valueText(def) : 'none'}`);
    } else x.P('setting-parameter', cred.loc, 'the credential name must come from a parameter (credentialName)');
  }
  checkCredentialTypes(x.project, x.P, x.entryName);
}

// --- The function app and its plan ----------------------------------------------------------------
function checkPlan(x: Posture): void {
  for (const { r } of x.deployed('Microsoft.Web/serverfarms')) {
    if (lit(prop(r.body, 'sku.name')) !== 'FC1' || lit(prop(r.body, 'sku.tier')) !== 'FlexConsumption')
      x.P('plan-flex-consumption', r.loc, `plan ${r.symbol}: sku must be { name: 'FC1', tier: 'FlexConsumption' }`);
    if (lit(prop(r.body, 'properties.reserved')) !== true)
      x.P('plan-flex-consumption', r.loc, `plan ${r.symbol}: properties.reserved must be true (Linux)`);
  }
}

function checkFunctionApp(x: Posture, site: Deployed): void {
  checkSiteProperties(x, site);
  checkFlexScale(x, site);
  checkSiteIdentity(x, site);
  checkBasicAuth(x, site);
  checkAzdServiceTag(x, site);
}

/** Linux, HTTPS, TLS, Node 22, nothing Flex deprecates, and the deployment package read with the identity. */
function checkSiteProperties(x: Posture, { file, r }: Deployed): void {
  const subject = `function app ${r.symbol}`;
  expectLiteral(x, 'site-kind', subject, r, 'kind', 'functionapp,linux', 'Flex Consumption is Linux');
  expectLiteral(x, 'site-https-only', subject, r, 'properties.httpsOnly', true, 'no plain HTTP');
  // Flex Consumption deprecations (flex.ts) on the site's properties and siteConfig, e.g. ftpsState ("FTPS not
  // supported"): newer stamps answer the site PUT with ARM BadRequest.
  for (const path of ['properties', 'properties.siteConfig']) {
    const obj = prop(r.body, path);
    for (const p of obj?.kind === 'object' ? obj.props : []) {
      const d = flexDeprecation(FLEX_DEPRECATED_SITE_PROPERTIES, p.key);
      if (d)
        x.P(
          'flex-deprecated',
          p.keyLoc,
          `function app ${r.symbol}: ${path}.${p.key} is deprecated on Flex Consumption (${d.reason}; ${FLEX_DEPRECATIONS_SOURCE})`,
        );
    }
  }
  const tls = lit(prop(r.body, 'properties.siteConfig.minTlsVersion'));
  if (tls !== '1.2' && tls !== '1.3')
    x.P(
      'site-tls',
      prop(r.body, 'properties.siteConfig.minTlsVersion')?.loc ?? r.loc,
      `function app ${r.symbol}: siteConfig.minTlsVersion must be '1.2'`,
    );
  expectLiteral(x, 'site-runtime', subject, r, 'properties.functionAppConfig.runtime.name', 'node', 'the code is Node.js');
  expectLiteral(x, 'site-runtime', subject, r, 'properties.functionAppConfig.runtime.version', '22', 'Node 20 is end-of-life');
  expectLiteral(
    x,
    'site-deployment-storage',
    subject,
    r,
    'properties.functionAppConfig.deployment.storage.type',
    'blobContainer',
    'Flex Consumption deploys from a blob container',
  );
  expectLiteral(
    x,
    'site-deployment-storage',
    subject,
    r,
    'properties.functionAppConfig.deployment.storage.authentication.type',
    'UserAssignedIdentity',
    'no storage keys for deployment',
  );
  const uaRef = prop(r.body, 'properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId');
  if (!x.isUami(x.project.trace(file, uaRef), 'id'))
    x.P(
      'site-deployment-storage',
      uaRef?.loc ?? r.loc,
      "functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId must be the user-assigned identity's id",
    );
}

/**
 * Flex Consumption's documented ranges: maximumInstanceCount 1..1000 ("Event-driven scaling in Azure
 * Functions", Limit scale-out: https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out),
 * instanceMemoryMB 512 / 2048 / 4096 ("Flex Consumption plan", Instance sizes:
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-sizes). Both are set, and every
 * parameter the value passes through stays inside them.
 */
function checkFlexScale(x: Posture, { file, r }: Deployed): void {
  for (const key of ['instanceMemoryMB', 'maximumInstanceCount']) {
    const v = prop(r.body, `properties.functionAppConfig.scaleAndConcurrency.${key}`);
    if (!v) x.P('site-scale', r.loc, `function app ${r.symbol}: functionAppConfig.scaleAndConcurrency.${key} must be set`);
  }
  const scaleParam = (key: string): ReturnType<Project['paramChain']> => {
    const v = prop(r.body, `properties.functionAppConfig.scaleAndConcurrency.${key}`);
    return v?.kind === 'expr' && file.params.has(v.text) ? x.project.paramChain(file, v.text) : [];
  };
  for (const link of scaleParam('maximumInstanceCount')) {
    const num = (name: string): string | number | boolean | undefined => lit(link.param.decorators.find((d) => d.name === name)?.args[0]);
    const lo = num('minValue');
    const hi = num('maxValue');
    const def = lit(link.param.default);
    if (
      typeof lo !== 'number' ||
      lo < 1 ||
      typeof hi !== 'number' ||
      hi > 1000 ||
      (link.param.default && (typeof def !== 'number' || def < lo || def > hi))
    )
      x.P(
        'site-scale',
        link.param.loc,
        `parameter ${link.param.name} (${link.file.file}) must stay within Flex Consumption's maximumInstanceCount range 1..1000 (@minValue >= 1, @maxValue <= 1000, default inside): is @minValue(${lo ?? '-'}) @maxValue(${hi ?? '-'}) default ${def ?? '-'}`,
      );
  }
  for (const link of scaleParam('instanceMemoryMB')) {
    const values = allowedValues(link.param) ?? [];
    if (values.length === 0 || values.some((v) => v !== 512 && v !== 2048 && v !== 4096))
      x.P(
        'site-scale',
        link.param.loc,
        `parameter ${link.param.name} (${link.file.file}) must be @allowed among Flex Consumption's instance memory sizes 512, 2048, 4096`,
      );
  }
}

function checkSiteIdentity(x: Posture, { file, r }: Deployed): void {
  expectLiteral(
    x,
    'site-identity',
    `function app ${r.symbol}`,
    r,
    'identity.type',
    'UserAssigned',
    'the user-assigned identity is used for everything',
  );
  const ua = prop(r.body, 'identity.userAssignedIdentities');
  const keys = ua?.kind === 'object' ? ua.props : [];
  if (keys.length !== 1 || !x.isUami(x.project.trace(file, keys[0]!.key.replace(/^'\$\{|\}'$/g, '')), 'id'))
    x.P(
      'site-identity',
      ua?.loc ?? r.loc,
      "identity.userAssignedIdentities must hold exactly the user-assigned identity ('${identityId}': {})",
    );
}

function checkBasicAuth(x: Posture, { r }: Deployed): void {
  const policies = x.all.filter(({ r: p }) => same(p.type, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies'));
  for (const name of ['ftp', 'scm']) {
    const pol = policies.find(({ r: p }) => lit(prop(p.body, 'name')) === name);
    if (!pol || lit(prop(pol.r.body, 'properties.allow')) !== false)
      x.P(
        'site-basic-auth',
        pol?.r.loc ?? r.loc,
        `basic-auth publishing (${name}) must be disabled: basicPublishingCredentialsPolicies '${name}' with properties.allow false`,
      );
  }
}

function checkAzdServiceTag(x: Posture, { file, r }: Deployed): void {
  const tags = prop(r.body, 'tags');
  const m = /'azd-service-name'\s*:\s*([A-Za-z_]\w*|'[^']*')/.exec(valueText(tags));
  const svc = m ? (m[1]!.startsWith("'") ? [m[1]!] : x.project.trace(file, m[1])) : [];
  if (!svc.includes("'export'"))
    x.C(
      'azd-service-tag',
      tags?.loc ?? r.loc,
      "the function app must be tagged 'azd-service-name': 'export' (azure.yaml service) so azd deploy finds it",
    );
}

// --- Key Vault --------------------------------------------------------------------------------------
function checkKeyVault(x: Posture): void {
  for (const { file, r } of x.deployed('Microsoft.KeyVault/vaults')) {
    const subject = `key vault ${r.symbol}`;
    expectLiteral(x, 'keyvault-rbac', subject, r, 'properties.enableRbacAuthorization', true, 'Azure RBAC, not access policies');
    expectLiteral(x, 'keyvault-soft-delete', subject, r, 'properties.enableSoftDelete', true, 'deleted secrets are recoverable');
    expectLiteral(x, 'keyvault-purge-protection', subject, r, 'properties.enablePurgeProtection', true, 'no purge during retention');
    const policies = prop(r.body, 'properties.accessPolicies');
    if (policies) x.P('keyvault-rbac', policies.loc, `key vault ${r.symbol}: no accessPolicies with RBAC authorization`);
    const pna = prop(r.body, 'properties.publicNetworkAccess');
    if (!(pna?.kind === 'expr' && file.params.has(pna.text)))
      x.P('keyvault-public-network', pna?.loc ?? r.loc, `key vault ${r.symbol}: publicNetworkAccess must be set from a parameter`);
  }
  if (x.entry && !x.entry.params.has('existingKeyVaultName'))
    x.P('keyvault-existing', x.anyLoc, `${x.entryName} must offer existingKeyVaultName (use an existing vault instead of creating one)`);
}

// --- Monitoring -------------------------------------------------------------------------------------
function checkMonitoring(x: Posture): void {
  const components = x.deployed('Microsoft.Insights/components');
  if (components.length === 0) x.P('appinsights', x.anyLoc, 'no Application Insights component is deployed');
  for (const { r } of components) {
    if (lit(prop(r.body, 'properties.DisableLocalAuth')) !== true)
      x.P(
        'appinsights-local-auth',
        prop(r.body, 'properties.DisableLocalAuth')?.loc ?? r.loc,
        `Application Insights ${r.symbol}: properties.DisableLocalAuth must be true (Entra ID only)`,
      );
    if (!prop(r.body, 'properties.WorkspaceResourceId'))
      x.P('appinsights-workspace', r.loc, `Application Insights ${r.symbol}: must be workspace-based (properties.WorkspaceResourceId)`);
  }
  for (const { r } of x.deployed('Microsoft.OperationalInsights/workspaces'))
    if (lit(prop(r.body, 'properties.features.disableLocalAuth')) !== true)
      x.P(
        'loganalytics-local-auth',
        prop(r.body, 'properties.features.disableLocalAuth')?.loc ?? r.loc,
        `Log Analytics ${r.symbol}: properties.features.disableLocalAuth must be true`,
      );
}

/** An alert rule as deployed: its query evaluated, whether it watches the telemetry, its condition. */
interface AlertRule {
  r: ResourceDecl;
  query: string;
  queryLoc: Loc;
  scopeOk: boolean;
  operator: string | number | boolean | undefined;
}

/** The alert queries as deployed (evaluated: functionName, staleAfterHours... are parameters). */
function deployedAlerts(x: Posture): AlertRule[] {
  const queryEvaluator = new Evaluator(x.project, { environment: CLOUDS[0]!.environment, parameters: ENTRY_PARAMETERS });
  return x.deployed('Microsoft.Insights/scheduledQueryRules').map(({ file, r }) => {
    const q = prop(r.body, 'properties.criteria.allOf');
    const first = q?.kind === 'array' ? q.items[0] : undefined;
    const queryV = prop(first, 'query');
    let query = '';
    try {
      const v = queryV ? queryEvaluator.value(file, queryV) : '';
      query = typeof v === 'string' ? v : describe(v);
    } catch (e) {
      if (!(e instanceof EvaluationError)) throw e;
      x.P('alert-query', queryV?.loc ?? r.loc, `the query of ${r.symbol} cannot be evaluated: ${e.message}`);
    }
    const scopes = prop(r.body, 'properties.scopes');
    const scopeTrace = scopes?.kind === 'array' ? scopes.items.flatMap((s) => x.project.trace(file, s)) : [];
    const scopeOk = scopeTrace.some(
      (t) => t.startsWith('Microsoft.Insights/components:id ') || t.startsWith('Microsoft.OperationalInsights/workspaces:id '),
    );
    return { r, query, queryLoc: queryV?.loc ?? r.loc, scopeOk, operator: lit(prop(first, 'operator')) };
  });
}

function checkAlerts(x: Posture): void {
  const { functionName } = x;
  const alerts = deployedAlerts(x);
  // Every table and column an alert query reads is documented (kql.ts: Azure Monitor Logs reference); an unknown
  // column only fails when Azure evaluates the alert.
  for (const a of alerts) {
    const { tables, unknown } = unknownColumns(a.query);
    if (tables.length === 0 || unknown.length)
      x.P(
        'alert-columns',
        a.queryLoc,
        `the query of ${a.r.symbol} must read the workspace tables ${Object.keys(TABLES).join(' / ')} with their documented columns (https://learn.microsoft.com/azure/azure-monitor/reference/tables/apprequests); ${tables.length === 0 ? 'it reads none of them' : `unknown: ${unknown.join(', ')}`}`,
      );
  }
  // Our choice, from the retry policy (the timer reruns a failed execution): the failed-run alert fires on a
  // run's final failure — the latest failed request, with no attempt started after it ended — not on a
  // failed attempt that a retry then fixes.
  const fnName = new RegExp(`Name\\s*==\\s*"${functionName}"`);
  const failed = alerts.find((a) => fnName.test(a.query) && /Success\s*==\s*false/.test(a.query));
  const finalOnly =
    !!failed &&
    /arg_max\(TimeGenerated/.test(failed.query) &&
    /lastStart\s*<\s*EndedAt/.test(failed.query) &&
    /EndedAt\s*<\s*ago\(\d+m\)/.test(failed.query);
  if (!failed || !failed.scopeOk || failed.operator !== 'GreaterThan' || !finalOnly)
    x.P(
      'alert-failed-run',
      failed?.r.loc ?? x.anyLoc,
      `a log alert must fire when a run of ${functionName} fails for good: the latest AppRequests row with Name == "${functionName}" and Success == false, ended longer ago than the retry policy's longest wait, with no attempt started after it (lastStart < EndedAt); operator GreaterThan`,
    );
  const stale = alerts.find((a) => /export completed/.test(a.query) && /ago\(26h\)/.test(a.query));
  if (!stale || !stale.scopeOk || stale.operator !== 'LessThan')
    x.P(
      'alert-stale-snapshot',
      stale?.r.loc ?? x.anyLoc,
      "a log alert must fire when no snapshot completed in 26 hours: a query over ago(26h) counting 'export completed' traces, operator LessThan",
    );
  const groups = x.deployed('Microsoft.Insights/actionGroups');
  if (!groups.some(({ r }) => prop(r.body, 'properties.emailReceivers')))
    x.P('alert-action-group', x.anyLoc, 'an optional e-mail action group for the alerts is expected');
}

// --- Role assignments --------------------------------------------------------------------------------
function checkRoleAssignments(x: Posture, exportTrace: string[]): void {
  const assignments = roleAssignments(x);
  for (const a of assignments) checkRoleAssignment(x, a);
  checkFunctionRoles(x, assignments, exportTrace);
}

function roleAssignments(x: Posture): RoleAssignment[] {
  return x.all
    .filter(({ r }) => same(r.type, 'Microsoft.Authorization/roleAssignments') && !r.existing)
    .map(({ file, r }) => {
      const scopeV = prop(r.body, 'scope');
      const scope = scopeV?.kind === 'expr' ? x.project.resource(file, scopeV.text) : undefined;
      return {
        file,
        r,
        roleId: roleIdOf(file, prop(r.body, 'properties.roleDefinitionId')),
        scope,
        principal: x.project.trace(file, prop(r.body, 'properties.principalId')),
        principalType: prop(r.body, 'properties.principalType'),
      };
    });
}

/** One assignment: a known least-privilege role, a deterministic name, one resource's scope, the right principal. */
function checkRoleAssignment(x: Posture, a: RoleAssignment): void {
  const loc = prop(a.r.body, 'properties.roleDefinitionId')?.loc ?? a.r.loc;
  if (!a.roleId) {
    x.P(
      'role-unresolved',
      loc,
      `role assignment ${a.r.symbol}: roleDefinitionId must be subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '<guid>') with a literal GUID (or a variable holding one)`,
    );
    return;
  }
  if (FORBIDDEN_ROLES[a.roleId])
    x.P('role-forbidden', loc, `role assignment ${a.r.symbol}: ${FORBIDDEN_ROLES[a.roleId]} (${a.roleId}) is far broader than needed`);
  else if (!Object.values(ROLES).some((role) => role.id === a.roleId))
    x.P('role-not-allowed', loc, `role assignment ${a.r.symbol}: role ${a.roleId} is not one of the least-privilege roles this app needs`);
  const name = prop(a.r.body, 'name');
  if (!(name?.kind === 'expr' && /^guid\(/.test(name.text)))
    x.P('role-name', name?.loc ?? a.r.loc, `role assignment ${a.r.symbol}: name must be a deterministic guid(...)`);
  if (!a.scope)
    x.P(
      'role-scope',
      a.r.loc,
      `role assignment ${a.r.symbol}: scope must be the one resource it applies to (scope: <resource>), never a whole resource group or subscription`,
    );
  if (x.isUami(a.principal, 'properties.principalId')) {
    if (lit(a.principalType) !== 'ServicePrincipal')
      x.P(
        'role-principal-type',
        a.principalType?.loc ?? a.r.loc,
        `role assignment ${a.r.symbol}: principalType must be 'ServicePrincipal' for the managed identity`,
      );
    if (!FUNCTION_ROLES.some((need) => need.role.id === a.roleId))
      x.P(
        'role-not-allowed',
        loc,
        `role assignment ${a.r.symbol}: the function's identity must not get ${KNOWN_ROLE_NAMES[a.roleId] ?? a.roleId}`,
      );
  } else if (!DEPLOYER_ROLES.includes(a.roleId) || !a.r.condition)
    x.P(
      'role-principal',
      a.r.loc,
      `role assignment ${a.r.symbol}: only the managed identity gets roles, plus optional (conditional) deployer roles; principal comes from ${a.principal.join(', ')}`,
    );
}

/** Every role the function's identity needs, at the right scope (the export container: the one EXPORT_CONTAINER names). */
function checkFunctionRoles(x: Posture, assignments: RoleAssignment[], exportTrace: string[]): void {
  for (const need of FUNCTION_ROLES) {
    const candidates = assignments.filter((a) => a.roleId === need.role.id && x.isUami(a.principal, 'properties.principalId'));
    const ok = candidates.filter((a) => a.scope && need.scopes.some((s) => same(s, a.scope!.type)));
    if (ok.length === 0) {
      x.P(
        'role-missing',
        candidates[0]?.r.loc ?? x.anyLoc,
        `the function's identity needs ${need.role.name} (${need.role.id}) on ${need.scopes.join(' or ')} to ${need.why}${candidates.length ? `; found it on ${candidates.map((c) => c.scope?.type ?? 'no resource').join(', ')}` : ''}`,
      );
      continue;
    }
    if (need.role.id === ROLES.storageBlobDataContributor.id && exportTrace.length) {
      // The container in the scope must be the one EXPORT_CONTAINER names.
      const good = ok.some((a) => x.project.trace(a.file, prop(a.scope!.body, 'name')).some((n) => exportTrace.includes(n)));
      if (!good) x.P('role-missing', ok[0]!.r.loc, `${need.role.name} must be scoped to the container EXPORT_CONTAINER names`);
    }
    if (need.role.id === ROLES.keyVaultSecretsUser.id && ok.some((a) => a.r.condition) && !ok.some((a) => !a.r.condition) && ok.length < 2)
      x.P(
        'role-missing',
        ok[0]!.r.loc,
        `${need.role.name} is only granted conditionally: grant it on the vault or on the secret in every case`,
      );
  }
}

// --- No shared keys anywhere; no forbidden role GUIDs in any string --------------------------------
function checkNoSharedKeys(x: Posture): void {
  for (const f of x.project.files.values()) {
    f.text.split('\n').forEach((line, i) => {
      const code = stripComment(line);
      if (/\blist(Keys|AccountSas|ServiceSas|ConnectionStrings)\s*\(/.test(code) || /AccountKey=|SharedAccessSignature=/.test(code))
        x.P(
          'no-shared-keys',
          { file: f.file, line: i + 1 },
          'storage keys, SAS or connection strings must not be read or passed (Entra ID only)',
        );
      for (const g of code.match(GUID) ?? [])
        if (FORBIDDEN_ROLES[g.toLowerCase()])
          x.P('role-forbidden', { file: f.file, line: i + 1 }, `${FORBIDDEN_ROLES[g.toLowerCase()]} (${g}) must not be granted`);
    });
  }
}

// --- Lifecycle: snapshots expire, latest.json stays -----------------------------------------------
function checkLifecycle(x: Posture, exportTrace: string[]): void {
  const { project } = x;
  const container = exportContainer(project, exportTrace);
  const policies = x.deployed('Microsoft.Storage/storageAccounts/managementPolicies');
  let lifecycleOk = false;
  for (const { file, r } of policies) {
    const rulesV = prop(r.body, 'properties.policy.rules');
    for (const rule of rulesV?.kind === 'array' ? rulesV.items : []) {
      const del = prop(rule, 'definition.actions.baseBlob.delete');
      if (!del) continue;
      const prefixes = prop(rule, 'definition.filters.prefixMatch');
      const items = prefixes?.kind === 'array' ? prefixes.items : [];
      const rendered = items.map((i) =>
        i.kind === 'interp'
          ? i.parts.map((p) => (typeof p === 'string' ? p : `\${${p.expr}}`)).join('')
          : i.kind === 'string'
            ? i.value
            : valueText(i),
      );
      if (items.length === 0 || rendered.some((p) => !p.endsWith('/snapshots/')))
        x.P(
          'lifecycle-scope',
          prefixes?.loc ?? rule.loc,
          `lifecycle rule deletes blobs outside <container>/snapshots/ (prefixMatch ${rendered.join(', ') || 'none'}): latest.json would be deleted`,
        );
      const containerName = container && file === container.file ? valueText(prop(container.r.body, 'name')) : undefined;
      const matchesContainer =
        containerName !== undefined &&
        rendered.some((p) => p === `\${${containerName}}/snapshots/` || p === `${containerName.replace(/^'|'$/g, '')}/snapshots/`);
      const blobTypes = prop(rule, 'definition.filters.blobTypes');
      const blockOnly = blobTypes?.kind === 'array' && blobTypes.items.length === 1 && lit(blobTypes.items[0]) === 'blockBlob';
      const daysV = prop(del, 'daysAfterModificationGreaterThan');
      const days = daysV?.kind === 'expr' && file.params.has(daysV.text) ? project.effectiveDefault(file, daysV.text) : daysV;
      const daysFromParam = daysV?.kind === 'expr' && file.params.has(daysV.text);
      if (lit(prop(rule, 'enabled')) === true && matchesContainer && blockOnly && daysFromParam && lit(days) === 30) lifecycleOk = true;
    }
  }
  if (!lifecycleOk)
    x.P(
      'lifecycle-retention',
      policies[0]?.r.loc ?? x.anyLoc,
      'a lifecycle rule must delete block blobs under <exportContainer>/snapshots/ after retentionDays (a parameter, default 30): enabled, blobTypes [blockBlob], prefixMatch [<container name>/snapshots/]',
    );
}

// --- Conventions ------------------------------------------------------------------------------------
function checkConventions(x: Posture): void {
  for (const f of x.project.files.values()) {
    for (const p of f.params.values())
      if (!p.decorators.some((d) => d.name === 'description')) x.C('param-description', p.loc, `parameter ${p.name} has no @description`);
    const lines = f.text.split('\n');
    lines.forEach((line, i) => {
      const code = stripComment(line);
      for (const g of new Set((code.match(GUID) ?? []).map((m) => m.toLowerCase()))) {
        const role = KNOWN_ROLE_NAMES[g];
        if (!role || !/roleDefinition|var |:/.test(code)) continue;
        const comment = `${commentOf(line)} ${commentOf(lines[i - 1] ?? '')}`;
        if (!comment.toLowerCase().includes(role.toLowerCase()))
          x.C('role-comment', { file: f.file, line: i + 1 }, `role definition ${g} needs a one-line comment naming it (${role})`);
      }
    });
  }
  const { entry, entryName } = x;
  if (entry) {
    for (const o of entry.outputs)
      if (!/^[A-Z][A-Z0-9_]*$/.test(o.name))
        x.C('output-case', o.loc, `output ${o.name} of ${entryName} must be UPPER_SNAKE (azd environment variable)`);
    for (const n of [
      'AZURE_FUNCTION_APP_NAME',
      'AZURE_KEY_VAULT_NAME',
      'KEY_VAULT_URL',
      'AZURE_STORAGE_ACCOUNT_NAME',
      'EXPORT_CONTAINER',
      'AZURE_CLIENT_ID',
      'AZURE_RESOURCE_GROUP',
    ])
      if (!entry.outputs.some((o) => o.name === n)) x.C('required-output', x.anyLoc, `${entryName} must output ${n}`);
  }
}

function stripComment(line: string): string {
  // Good enough for this repository: `//` outside a string.
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'" && line[i - 1] !== '\\') inString = !inString;
    if (!inString && c === '/' && line[i + 1] === '/') return line.slice(0, i);
  }
  return line;
}

function commentOf(line: string): string {
  return line.slice(stripComment(line).length);
}

function roleIdOf(file: BicepFile, v: Value | undefined): string | undefined {
  if (!v) return undefined;
  const text = valueText(v);
  const direct = text.match(GUID);
  if (direct) return direct[0].toLowerCase();
  const m = /ResourceId\(\s*'Microsoft\.Authorization\/roleDefinitions'\s*,\s*([A-Za-z_]\w*)\s*\)/.exec(text);
  if (m) {
    const variable = file.vars.get(m[1]!);
    if (variable?.value.kind === 'string') return variable.value.value.match(GUID)?.[0]?.toLowerCase();
  }
  return undefined;
}

/** The container resource an EXPORT_CONTAINER trace ends at. */
function exportContainer(project: Project, trace: string[]): { file: BicepFile; r: ResourceDecl } | undefined {
  for (const t of trace) {
    const m = /^Microsoft\.Storage\/storageAccounts\/blobServices\/containers:name \[(.+)#(\w+)\]$/.exec(t);
    if (!m) continue;
    const file = project.files.get(m[1]!);
    const r = file && project.resource(file, m[2]!);
    if (file && r && !r.existing) return { file, r };
  }
  return undefined;
}
