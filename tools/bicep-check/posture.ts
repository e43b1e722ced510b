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
import type { BicepFile, Loc, ResourceDecl, Value } from './parse.js';
import { CLOUDS, DOD_GRAPH, toggleTrailingSlashes } from './clouds.js';
import { FLEX_DEPRECATED_APP_SETTINGS, FLEX_DEPRECATED_SITE_PROPERTIES, FLEX_DEPRECATIONS_SOURCE, flexDeprecation } from './flex.js';
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
  { role: ROLES.keyVaultSecretsUser, scopes: ['Microsoft.KeyVault/vaults', 'Microsoft.KeyVault/vaults/secrets'], why: 'read the Graph credential from Key Vault' },
  { role: ROLES.storageBlobDataOwner, scopes: ['Microsoft.Storage/storageAccounts'], why: 'Functions host storage (leases, keys, timer state) and the Flex deployment package' },
  { role: ROLES.storageBlobDataContributor, scopes: ['Microsoft.Storage/storageAccounts/blobServices/containers'], why: 'write snapshots and latest.json to the export container' },
  { role: ROLES.monitoringMetricsPublisher, scopes: ['Microsoft.Insights/components'], why: 'send telemetry to Application Insights with Entra ID' },
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

export function checkPosture(project: Project, options: PostureOptions): Finding[] {
  const out: Finding[] = [];
  // Every finding names where its rule comes from (rules.ts): a documented fact, or our own choice.
  const sourced = (f: Finding): Finding => ({ ...f, source: describeSource(ruleSource(f.rule)) });
  const P = (rule: string, loc: Loc | { file: string; line: number }, message: string) => out.push(sourced(finding('posture', rule, loc, message)));
  const C = (rule: string, loc: Loc | { file: string; line: number }, message: string) => out.push(sourced(finding('conventions', rule, loc, message)));
  const all = project.allResources();
  const deployed = (type: string) => all.filter(({ r }) => same(r.type, type) && !r.existing);
  const entryName = options.entry ?? 'main.bicep';
  const entry = project.files.get(entryName);
  const anyLoc = entry ? { file: entry.file, line: 1 } : { file: entryName, line: 1 };
  const functionName = options.functionName ?? 'exportUsers';
  const isUami = (trace: string[], path: string) => trace.some((t) => t.startsWith(`${UAMI}:${path} `));

  // --- The user-assigned identity -------------------------------------------------------------------
  const uamis = deployed(UAMI);
  if (uamis.length !== 1) P('identity-uami', anyLoc, `exactly one user-assigned managed identity is expected (found ${uamis.length}): it is used for everything`);

  // --- Storage --------------------------------------------------------------------------------------
  const accounts = deployed('Microsoft.Storage/storageAccounts');
  if (accounts.length === 0) P('storage-account', anyLoc, 'no storage account is deployed');
  for (const { r } of accounts) {
    const props = prop(r.body, 'properties');
    const expect = (rule: string, key: string, want: unknown, why: string) => {
      const v = prop(props, key);
      if (lit(v) !== want) P(rule, v?.loc ?? r.loc, `storage account ${r.symbol}: properties.${key} must be ${JSON.stringify(want)} (${why}), is ${v ? valueText(v) : 'not set'}`);
    };
    expect('storage-shared-key', 'allowSharedKeyAccess', false, 'Entra ID only, no account keys');
    expect('storage-public-blob', 'allowBlobPublicAccess', false, 'no anonymous access');
    expect('storage-https', 'supportsHttpsTrafficOnly', true, 'HTTPS only');
    expect('storage-oauth-default', 'defaultToOAuthAuthentication', true, 'default to Entra ID');
    const tls = lit(prop(props, 'minimumTlsVersion'));
    if (tls !== 'TLS1_2' && tls !== 'TLS1_3') P('storage-tls', prop(props, 'minimumTlsVersion')?.loc ?? r.loc, `storage account ${r.symbol}: properties.minimumTlsVersion must be 'TLS1_2', is ${tls ?? 'not set'}`);
  }
  for (const { r } of deployed('Microsoft.Storage/storageAccounts/blobServices/containers')) {
    const access = prop(r.body, 'properties.publicAccess');
    if (access && lit(access) !== 'None') P('container-public-access', access.loc, `container ${r.symbol}: publicAccess must be 'None', is ${valueText(access)}`);
  }

  // --- App settings --------------------------------------------------------------------------------
  const sites = deployed('Microsoft.Web/sites');
  if (sites.length !== 1) P('function-app', anyLoc, `exactly one function app is expected (found ${sites.length})`);
  const site = sites[0];
  const settings: Setting[] = [];
  if (site) {
    const arr = prop(site.r.body, 'properties.siteConfig.appSettings');
    if (!arr || arr.kind !== 'array') P('settings-inline', site.r.loc, `function app ${site.r.symbol}: siteConfig.appSettings must be an array literal of { name, value } (the check reads it)`);
    else
      for (const item of arr.items) {
        const name = prop(item, 'name');
        const value = prop(item, 'value');
        if (name?.kind === 'string') settings.push({ names: [name.value], conditional: false, value, loc: name.loc });
        else if (name?.kind === 'ternary' && name.then.kind === 'string' && name.else.kind === 'string')
          settings.push({ names: [name.then.value, name.else.value], conditional: true, cond: name.cond, value, loc: name.loc });
        else P('settings-inline', item.loc, `app setting with a computed name (${valueText(name)}): use a literal, or a ternary of two literals`);
      }
  }
  const byName = new Map<string, Setting[]>();
  for (const s of settings) for (const n of s.names) byName.set(n, [...(byName.get(n) ?? []), s]);
  const settingLoc = (n: string) => byName.get(n)?.[0]?.loc ?? site?.r.loc ?? anyLoc;
  const traceSetting = (n: string): string[] => {
    const s = byName.get(n)?.[0];
    return s && site ? project.trace(site.file, s.value) : [];
  };

  if (site) {
    for (const [n, list] of byName) if (list.length > 1) P('setting-duplicate', list[1]!.loc, `app setting ${n} is set ${list.length} times`);
    for (const [n, why] of Object.entries(FORBIDDEN_SETTINGS)) if (byName.has(n)) P('setting-forbidden', settingLoc(n), `app setting ${n} must not be set: ${why}`);
    // Flex Consumption deprecations (flex.ts): newer stamps refuse the site PUT that carries one.
    for (const n of byName.keys()) {
      const d = flexDeprecation(FLEX_DEPRECATED_APP_SETTINGS, n);
      if (d) P('flex-deprecated', settingLoc(n), `app setting ${n} is deprecated on Flex Consumption (${d.reason}; ${FLEX_DEPRECATIONS_SOURCE})`);
    }
    for (const n of byName.keys()) {
      if (/AccountKey=|SharedAccessSignature=/i.test(valueText(byName.get(n)![0]!.value))) P('setting-shared-key', settingLoc(n), `app setting ${n} carries a storage key or SAS`);
      if (!options.settingNames.includes(n) && !PLATFORM_SETTINGS.has(n) && !FORBIDDEN_SETTINGS[n] && !flexDeprecation(FLEX_DEPRECATED_APP_SETTINGS, n))
        P('setting-unknown', settingLoc(n), `app setting ${n} is neither read by the code (SETTING_NAMES) nor by the platform: a typo?`);
    }

    // The code's contract.
    const credentialNames = ['GRAPH_CLIENT_SECRET_NAME', 'GRAPH_CLIENT_CERTIFICATE_NAME'];
    for (const n of options.settingNames) {
      if (n === 'EXPORT_STORAGE') {
        if (byName.has(n)) P('setting-connection-string', settingLoc(n), 'EXPORT_STORAGE (a connection string, shared key) must not be set in Azure: set EXPORT_STORAGE__blobServiceUri (identity-based)');
        continue;
      }
      if (credentialNames.includes(n)) continue;
      if (!byName.has(n)) P('setting-missing', site.r.loc, `app setting ${n} (read by the code) is not set by the Bicep`);
    }
    const credential = settings.filter((s) => s.names.some((x) => credentialNames.includes(x)));
    const exactlyOne =
      credential.length === 1 &&
      (credential[0]!.conditional ? credential[0]!.names.length === 2 && credentialNames.every((x) => credential[0]!.names.includes(x)) : true);
    if (!exactlyOne)
      P('setting-credential', credential[0]?.loc ?? site.r.loc, `exactly one of ${credentialNames.join(' / ')} must be set (one literal name, or a ternary choosing between the two): found ${credential.map((c) => c.names.join('|')).join(', ') || 'none'}`);

    // Where the values come from.
    const expectTrace = (n: string, ok: (t: string[]) => boolean, want: string) => {
      if (!byName.has(n)) return;
      const t = traceSetting(n);
      if (!ok(t)) P('setting-value', settingLoc(n), `app setting ${n} must be ${want}; it comes from ${t.join(', ') || 'nothing'}`);
    };
    expectTrace('AZURE_CLIENT_ID', (t) => isUami(t, 'properties.clientId'), "the user-assigned identity's clientId");
    expectTrace('AzureWebJobsStorage__clientId', (t) => isUami(t, 'properties.clientId'), "the user-assigned identity's clientId");
    expectTrace('AzureWebJobsStorage__credential', (t) => t.length > 0 && t.every((x) => x === "'managedidentity'"), "'managedidentity'");
    const blobUri = (t: string[]) => t.length > 0 && t.every((x) => x.startsWith('interp:https://') && x.includes('.blob.') && x.includes('environment().suffixes.storage'));
    expectTrace('AzureWebJobsStorage__blobServiceUri', blobUri, "https://<account>.blob.${environment().suffixes.storage}");
    expectTrace('EXPORT_STORAGE__blobServiceUri', blobUri, "https://<account>.blob.${environment().suffixes.storage} (identity-based)");
    expectTrace('KEY_VAULT_URL', (t) => t.length > 0 && t.every((x) => x.startsWith('Microsoft.KeyVault/vaults:properties.vaultUri ')), "the vault's properties.vaultUri");
    expectTrace('EXPORT_CONTAINER', (t) => t.length > 0 && t.every((x) => x.startsWith('Microsoft.Storage/storageAccounts/blobServices/containers:name ')), 'the name of the deployed export container');
    expectTrace('APPLICATIONINSIGHTS_CONNECTION_STRING', (t) => t.some((x) => x.startsWith('Microsoft.Insights/components:properties.ConnectionString ')), "the Application Insights component's ConnectionString");
    const authString = byName.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')?.[0];
    if (!authString) P('appinsights-aad', site.r.loc, 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING (ClientId=<identity>;Authorization=AAD) is not set: telemetry is rejected when local auth is off');
    else {
      const v = authString.value;
      const parts = v?.kind === 'interp' ? v.parts : [];
      const clientExpr = parts.find((p): p is { expr: string } => typeof p !== 'string');
      const textOk = v?.kind === 'interp' && /^'ClientId=\$\{[^}]+\};Authorization=AAD'$/.test(v.text);
      if (!textOk || !clientExpr || !isUami(project.trace(site.file, clientExpr.expr), 'properties.clientId'))
        P('appinsights-aad', authString.loc, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'ClientId=${<the identity's clientId>};Authorization=AAD'");
    }
    // GRAPH_AUTHORITY_HOST / GRAPH_ENDPOINT: what the Bicep's own expressions give for environment() of each
    // documented cloud (clouds.ts, with sources), with each cloud's endpoints as documented and with their
    // trailing slashes toggled — Entra's login host and Microsoft Graph's host of that cloud
    // (https://learn.microsoft.com/graph/deployments), never Azure AD Graph (environment().graph).
    for (const cloud of CLOUDS)
      for (const environment of [cloud.environment, toggleTrailingSlashes(cloud.environment)]) {
        const got = evaluateSettings(project, { environment, parameters: ENTRY_PARAMETERS }, GRAPH_SETTINGS);
        if (typeof got === 'string') {
          P('setting-graph-cloud', settingLoc('GRAPH_ENDPOINT'), `GRAPH_ENDPOINT / GRAPH_AUTHORITY_HOST cannot be evaluated for ${environment.name} (environment() as documented: ${cloud.source}): ${got}`);
          continue;
        }
        const want = { GRAPH_ENDPOINT: cloud.microsoftGraph, GRAPH_AUTHORITY_HOST: cloud.entraAuthority };
        for (const [n, expected] of Object.entries(want))
          if (byName.has(n) && got.get(n) !== expected)
            P('setting-graph-cloud', settingLoc(n), `deployed to ${environment.name}, app setting ${n} would be ${describe(got.get(n) ?? null)}; it must be ${expected} (https://learn.microsoft.com/graph/deployments)${n === 'GRAPH_ENDPOINT' ? '. environment().graph is Azure AD Graph (retired), not Microsoft Graph' : ''}`);
      }
    // A DoD (US Government L5) tenant: same Azure environment as L4, its own Graph host, given as a parameter.
    const usGov = CLOUDS.find((c) => c.environment.name === 'AzureUSGovernment');
    if (usGov && byName.has('GRAPH_ENDPOINT')) {
      const got = evaluateSettings(project, { environment: usGov.environment, parameters: { ...ENTRY_PARAMETERS, graphEndpoint: DOD_GRAPH } }, ['GRAPH_ENDPOINT']);
      if (typeof got === 'string' || got.get('GRAPH_ENDPOINT') !== DOD_GRAPH)
        P('setting-graph-cloud', settingLoc('GRAPH_ENDPOINT'), `${entryName}'s parameter graphEndpoint = '${DOD_GRAPH}' (US Government L5, https://learn.microsoft.com/graph/deployments) must become GRAPH_ENDPOINT; got ${typeof got === 'string' ? got : describe(got.get('GRAPH_ENDPOINT') ?? null)}`);
    }

    // Parameters behind the settings: allowed values and defaults that match the code.
    const paramOf = (n: string) => {
      const s = byName.get(n)?.[0];
      return s?.value?.kind === 'expr' && site.file.params.has(s.value.text) ? s.value.text : undefined;
    };
    const checkParam = (setting: string, allowed: string[] | undefined, wantDefault: string | undefined) => {
      const name = paramOf(setting) ?? (setting.startsWith('GRAPH_CLIENT_') ? paramOf(setting) : undefined);
      if (!name) {
        if (byName.has(setting)) P('setting-parameter', settingLoc(setting), `app setting ${setting} should come from a parameter`);
        return;
      }
      const chain = project.paramChain(site.file, name);
      for (const link of chain) {
        const dec = link.param.decorators.find((d) => d.name === 'allowed');
        const values = dec?.args[0]?.kind === 'array' ? dec.args[0].items.map((i) => lit(i)) : undefined;
        if (allowed && (!values || values.length !== allowed.length || !allowed.every((a) => values.includes(a))))
          P('setting-allowed', link.param.loc, `parameter ${link.param.name} (${setting}) must be @allowed([${allowed.map((a) => `'${a}'`).join(', ')}])`);
      }
      const def = project.effectiveDefault(site.file, name);
      if (wantDefault !== undefined && lit(def) !== wantDefault)
        P('setting-default', chain.at(-1)?.param.loc ?? settingLoc(setting), `default of ${setting} must be '${wantDefault}' (the code's default), is ${def ? valueText(def) : 'none'}`);
    };
    const d = options.settingDefaults ?? {};
    checkParam('EXPORT_FORMAT', ['json', 'ndjson'], d.EXPORT_FORMAT ?? 'json');
    checkParam('EXPORT_COMPRESSION', ['none', 'gzip'], d.EXPORT_COMPRESSION ?? 'none');
    checkParam('EXPORT_SCHEDULE', undefined, d.EXPORT_SCHEDULE ?? '0 0 2 * * *');
    checkParam('USERS_SELECT', undefined, d.USERS_SELECT);
    const schedule = paramOf('EXPORT_SCHEDULE') && project.effectiveDefault(site.file, paramOf('EXPORT_SCHEDULE')!);
    if (schedule && typeof lit(schedule) === 'string' && String(lit(schedule)).trim().split(/\s+/).length !== 6)
      P('setting-default', schedule.loc, `EXPORT_SCHEDULE default '${lit(schedule)}' must be NCRONTAB with six fields`);
    // The export container's default name, and the credential choice.
    const container = exportContainer(project, traceSetting('EXPORT_CONTAINER'));
    if (container) {
      const nameV = prop(container.r.body, 'name');
      const nameParam = nameV?.kind === 'expr' && container.file.params.has(nameV.text) ? nameV.text : undefined;
      const def = nameParam ? project.effectiveDefault(container.file, nameParam) : nameV;
      const want = d.EXPORT_CONTAINER ?? 'user-exports';
      if (lit(def) !== want) P('setting-default', container.r.loc, `the export container's default name must be '${want}', is ${def ? valueText(def) : 'none'}`);
    }
    const cred = credential[0];
    if (cred) {
      const v = cred.value;
      if (v?.kind === 'expr' && site.file.params.has(v.text)) {
        const def = project.effectiveDefault(site.file, v.text);
        if (lit(def) !== 'graph-export-cert') P('setting-default', cred.loc, `the credential name must default to 'graph-export-cert', is ${def ? valueText(def) : 'none'}`);
      } else P('setting-parameter', cred.loc, 'the credential name must come from a parameter (credentialName)');
      if (cred.conditional && cred.cond) {
        const param = (cred.cond.match(/[A-Za-z_]\w*/g) ?? []).find((x) => site.file.params.has(x));
        const compared = /==\s*'(certificate|secret)'/.exec(cred.cond)?.[1];
        const thenName = compared === 'certificate' ? 'GRAPH_CLIENT_CERTIFICATE_NAME' : compared === 'secret' ? 'GRAPH_CLIENT_SECRET_NAME' : undefined;
        if (!param || !thenName || cred.names[0] !== thenName)
          P('setting-credential', cred.loc, `the credential setting must be chosen by a credentialType parameter: credentialType == 'certificate' ? 'GRAPH_CLIENT_CERTIFICATE_NAME' : 'GRAPH_CLIENT_SECRET_NAME'`);
        else {
          for (const link of project.paramChain(site.file, param)) {
            const dec = link.param.decorators.find((d) => d.name === 'allowed');
            const values = dec?.args[0]?.kind === 'array' ? dec.args[0].items.map((i) => lit(i)) : [];
            if (values.length !== 2 || !values.includes('certificate') || !values.includes('secret'))
              P('setting-allowed', link.param.loc, `parameter ${link.param.name} must be @allowed(['certificate', 'secret'])`);
          }
          const def = project.effectiveDefault(site.file, param);
          if (lit(def) !== 'certificate') P('setting-default', cred.loc, `credentialType must default to 'certificate' (recommended), is ${def ? valueText(def) : 'none'}`);
        }
      }
    }
  }

  // --- The function app and its plan ----------------------------------------------------------------
  for (const { r } of deployed('Microsoft.Web/serverfarms')) {
    if (lit(prop(r.body, 'sku.name')) !== 'FC1' || lit(prop(r.body, 'sku.tier')) !== 'FlexConsumption')
      P('plan-flex-consumption', r.loc, `plan ${r.symbol}: sku must be { name: 'FC1', tier: 'FlexConsumption' }`);
    if (lit(prop(r.body, 'properties.reserved')) !== true) P('plan-flex-consumption', r.loc, `plan ${r.symbol}: properties.reserved must be true (Linux)`);
  }
  if (site) {
    const r = site.r;
    const need = (rule: string, key: string, want: unknown, why: string) => {
      const v = prop(r.body, key);
      if (lit(v) !== want) P(rule, v?.loc ?? r.loc, `function app ${r.symbol}: ${key} must be ${JSON.stringify(want)} (${why}), is ${v ? valueText(v) : 'not set'}`);
    };
    need('site-kind', 'kind', 'functionapp,linux', 'Flex Consumption is Linux');
    need('site-https-only', 'properties.httpsOnly', true, 'no plain HTTP');
    // Flex Consumption deprecations (flex.ts) on the site's properties and siteConfig, e.g. ftpsState ("FTPS not
    // supported"): newer stamps answer the site PUT with ARM BadRequest.
    for (const path of ['properties', 'properties.siteConfig']) {
      const obj = prop(r.body, path);
      for (const p of obj?.kind === 'object' ? obj.props : []) {
        const d = flexDeprecation(FLEX_DEPRECATED_SITE_PROPERTIES, p.key);
        if (d) P('flex-deprecated', p.keyLoc, `function app ${r.symbol}: ${path}.${p.key} is deprecated on Flex Consumption (${d.reason}; ${FLEX_DEPRECATIONS_SOURCE})`);
      }
    }
    const tls = lit(prop(r.body, 'properties.siteConfig.minTlsVersion'));
    if (tls !== '1.2' && tls !== '1.3') P('site-tls', prop(r.body, 'properties.siteConfig.minTlsVersion')?.loc ?? r.loc, `function app ${r.symbol}: siteConfig.minTlsVersion must be '1.2'`);
    need('site-runtime', 'properties.functionAppConfig.runtime.name', 'node', 'the code is Node.js');
    need('site-runtime', 'properties.functionAppConfig.runtime.version', '22', 'Node 20 is end-of-life');
    need('site-deployment-storage', 'properties.functionAppConfig.deployment.storage.type', 'blobContainer', 'Flex Consumption deploys from a blob container');
    need('site-deployment-storage', 'properties.functionAppConfig.deployment.storage.authentication.type', 'UserAssignedIdentity', 'no storage keys for deployment');
    const uaRef = prop(r.body, 'properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId');
    if (!isUami(project.trace(site.file, uaRef), 'id'))
      P('site-deployment-storage', uaRef?.loc ?? r.loc, "functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId must be the user-assigned identity's id");
    for (const key of ['instanceMemoryMB', 'maximumInstanceCount']) {
      const v = prop(r.body, `properties.functionAppConfig.scaleAndConcurrency.${key}`);
      if (!v) P('site-scale', r.loc, `function app ${r.symbol}: functionAppConfig.scaleAndConcurrency.${key} must be set`);
    }
    // Flex Consumption's documented ranges: maximumInstanceCount 1..1000 ("Event-driven scaling in Azure
    // Functions", Limit scale-out: https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out),
    // instanceMemoryMB 512 / 2048 / 4096 ("Flex Consumption plan", Instance sizes:
    // https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-sizes). Every parameter the
    // value passes through must stay inside them.
    const scaleParam = (key: string) => {
      const v = prop(r.body, `properties.functionAppConfig.scaleAndConcurrency.${key}`);
      return v?.kind === 'expr' && site.file.params.has(v.text) ? project.paramChain(site.file, v.text) : [];
    };
    for (const link of scaleParam('maximumInstanceCount')) {
      const num = (name: string) => lit(link.param.decorators.find((d) => d.name === name)?.args[0]);
      const lo = num('minValue');
      const hi = num('maxValue');
      const def = lit(link.param.default);
      if (typeof lo !== 'number' || lo < 1 || typeof hi !== 'number' || hi > 1000 || (link.param.default && (typeof def !== 'number' || def < lo || def > hi)))
        P('site-scale', link.param.loc, `parameter ${link.param.name} (${link.file.file}) must stay within Flex Consumption's maximumInstanceCount range 1..1000 (@minValue >= 1, @maxValue <= 1000, default inside): is @minValue(${lo ?? '-'}) @maxValue(${hi ?? '-'}) default ${def ?? '-'}`);
    }
    for (const link of scaleParam('instanceMemoryMB')) {
      const dec = link.param.decorators.find((d) => d.name === 'allowed');
      const values = dec?.args[0]?.kind === 'array' ? dec.args[0].items.map((i) => lit(i)) : [];
      if (values.length === 0 || values.some((x) => x !== 512 && x !== 2048 && x !== 4096))
        P('site-scale', link.param.loc, `parameter ${link.param.name} (${link.file.file}) must be @allowed among Flex Consumption's instance memory sizes 512, 2048, 4096`);
    }
    need('site-identity', 'identity.type', 'UserAssigned', 'the user-assigned identity is used for everything');
    const ua = prop(r.body, 'identity.userAssignedIdentities');
    const keys = ua?.kind === 'object' ? ua.props : [];
    if (keys.length !== 1 || !isUami(project.trace(site.file, keys[0]!.key.replace(/^'\$\{|\}'$/g, '')), 'id'))
      P('site-identity', ua?.loc ?? r.loc, "identity.userAssignedIdentities must hold exactly the user-assigned identity ('${identityId}': {})");
    const policies = all.filter(({ r: x }) => same(x.type, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies'));
    for (const name of ['ftp', 'scm']) {
      const pol = policies.find(({ r: x }) => lit(prop(x.body, 'name')) === name);
      if (!pol || lit(prop(pol.r.body, 'properties.allow')) !== false)
        P('site-basic-auth', pol?.r.loc ?? r.loc, `basic-auth publishing (${name}) must be disabled: basicPublishingCredentialsPolicies '${name}' with properties.allow false`);
    }
    const tags = prop(r.body, 'tags');
    const m = /'azd-service-name'\s*:\s*([A-Za-z_]\w*|'[^']*')/.exec(valueText(tags));
    const svc = m ? (m[1]!.startsWith("'") ? [m[1]!] : project.trace(site.file, m[1])) : [];
    if (!svc.includes("'export'")) C('azd-service-tag', tags?.loc ?? r.loc, "the function app must be tagged 'azd-service-name': 'export' (azure.yaml service) so azd deploy finds it");
  }

  // --- Key Vault --------------------------------------------------------------------------------------
  const vaults = deployed('Microsoft.KeyVault/vaults');
  for (const { file, r } of vaults) {
    const props = prop(r.body, 'properties');
    const expect = (rule: string, key: string, want: unknown, why: string) => {
      const v = prop(props, key);
      if (lit(v) !== want) P(rule, v?.loc ?? r.loc, `key vault ${r.symbol}: properties.${key} must be ${JSON.stringify(want)} (${why}), is ${v ? valueText(v) : 'not set'}`);
    };
    expect('keyvault-rbac', 'enableRbacAuthorization', true, 'Azure RBAC, not access policies');
    expect('keyvault-soft-delete', 'enableSoftDelete', true, 'deleted secrets are recoverable');
    expect('keyvault-purge-protection', 'enablePurgeProtection', true, 'no purge during retention');
    if (prop(props, 'accessPolicies')) P('keyvault-rbac', prop(props, 'accessPolicies')!.loc, `key vault ${r.symbol}: no accessPolicies with RBAC authorization`);
    const pna = prop(props, 'publicNetworkAccess');
    if (!(pna?.kind === 'expr' && file.params.has(pna.text))) P('keyvault-public-network', pna?.loc ?? r.loc, `key vault ${r.symbol}: publicNetworkAccess must be set from a parameter`);
  }
  if (entry && !entry.params.has('existingKeyVaultName')) P('keyvault-existing', anyLoc, `${entryName} must offer existingKeyVaultName (use an existing vault instead of creating one)`);

  // --- Monitoring -------------------------------------------------------------------------------------
  const components = deployed('Microsoft.Insights/components');
  if (components.length === 0) P('appinsights', anyLoc, 'no Application Insights component is deployed');
  for (const { r } of components) {
    if (lit(prop(r.body, 'properties.DisableLocalAuth')) !== true) P('appinsights-local-auth', prop(r.body, 'properties.DisableLocalAuth')?.loc ?? r.loc, `Application Insights ${r.symbol}: properties.DisableLocalAuth must be true (Entra ID only)`);
    if (!prop(r.body, 'properties.WorkspaceResourceId')) P('appinsights-workspace', r.loc, `Application Insights ${r.symbol}: must be workspace-based (properties.WorkspaceResourceId)`);
  }
  for (const { r } of deployed('Microsoft.OperationalInsights/workspaces'))
    if (lit(prop(r.body, 'properties.features.disableLocalAuth')) !== true)
      P('loganalytics-local-auth', prop(r.body, 'properties.features.disableLocalAuth')?.loc ?? r.loc, `Log Analytics ${r.symbol}: properties.features.disableLocalAuth must be true`);
  // The alert queries as deployed (evaluated: functionName, staleAfterHours... are parameters).
  const queryEvaluator = new Evaluator(project, { environment: CLOUDS[0]!.environment, parameters: ENTRY_PARAMETERS });
  const rules = deployed('Microsoft.Insights/scheduledQueryRules').map(({ file, r }) => {
    const q = prop(r.body, 'properties.criteria.allOf');
    const first = q?.kind === 'array' ? q.items[0] : undefined;
    const queryV = prop(first, 'query');
    let query = '';
    try {
      const v = queryV ? queryEvaluator.value(file, queryV) : '';
      query = typeof v === 'string' ? v : describe(v);
    } catch (e) {
      if (!(e instanceof EvaluationError)) throw e;
      P('alert-query', queryV?.loc ?? r.loc, `the query of ${r.symbol} cannot be evaluated: ${e.message}`);
    }
    const scopes = prop(r.body, 'properties.scopes');
    const scopeTrace = scopes?.kind === 'array' ? scopes.items.flatMap((s) => project.trace(file, s)) : [];
    const scopeOk = scopeTrace.some((t) => t.startsWith('Microsoft.Insights/components:id ') || t.startsWith('Microsoft.OperationalInsights/workspaces:id '));
    return { file, r, query, queryLoc: queryV?.loc ?? r.loc, scopeOk, operator: lit(prop(first, 'operator')), threshold: lit(prop(first, 'threshold')) };
  });
  // Every table and column an alert query reads is documented (kql.ts: Azure Monitor Logs reference); an unknown
  // column only fails when Azure evaluates the alert.
  for (const x of rules) {
    const { tables, unknown } = unknownColumns(x.query);
    if (tables.length === 0 || unknown.length)
      P('alert-columns', x.queryLoc, `the query of ${x.r.symbol} must read the workspace tables ${Object.keys(TABLES).join(' / ')} with their documented columns (https://learn.microsoft.com/azure/azure-monitor/reference/tables/apprequests); ${tables.length === 0 ? 'it reads none of them' : `unknown: ${unknown.join(', ')}`}`);
  }
  // Our choice, from the retry policy (FACTS.md: the timer reruns a failed execution): the failed-run alert fires
  // on a run's final failure — the latest failed request, with no attempt started after it ended — not on a
  // failed attempt that a retry then fixes.
  const fnName = new RegExp(`Name\\s*==\\s*"${functionName}"`);
  const failed = rules.find((x) => fnName.test(x.query) && /Success\s*==\s*false/.test(x.query));
  const finalOnly = !!failed && /arg_max\(TimeGenerated/.test(failed.query) && /lastStart\s*<\s*EndedAt/.test(failed.query) && /EndedAt\s*<\s*ago\(\d+m\)/.test(failed.query);
  if (!failed || !failed.scopeOk || failed.operator !== 'GreaterThan' || !finalOnly)
    P('alert-failed-run', failed?.r.loc ?? anyLoc, `a log alert must fire when a run of ${functionName} fails for good: the latest AppRequests row with Name == "${functionName}" and Success == false, ended longer ago than the retry policy's longest wait, with no attempt started after it (lastStart < EndedAt); operator GreaterThan`);
  const stale = rules.find((x) => /export completed/.test(x.query) && /ago\(26h\)/.test(x.query));
  if (!stale || !stale.scopeOk || stale.operator !== 'LessThan')
    P('alert-stale-snapshot', stale?.r.loc ?? anyLoc, "a log alert must fire when no snapshot completed in 26 hours: a query over ago(26h) counting 'export completed' traces, operator LessThan");
  const groups = deployed('Microsoft.Insights/actionGroups');
  if (!groups.some(({ r }) => prop(r.body, 'properties.emailReceivers'))) P('alert-action-group', anyLoc, 'an optional e-mail action group for the alerts is expected');

  // --- Role assignments --------------------------------------------------------------------------------
  const assignments: RoleAssignment[] = all
    .filter(({ r }) => same(r.type, 'Microsoft.Authorization/roleAssignments') && !r.existing)
    .map(({ file, r }) => {
      const scopeV = prop(r.body, 'scope');
      const scope = scopeV?.kind === 'expr' ? project.resource(file, scopeV.text) : undefined;
      return { file, r, roleId: roleIdOf(file, prop(r.body, 'properties.roleDefinitionId')), scope, principal: project.trace(file, prop(r.body, 'properties.principalId')), principalType: prop(r.body, 'properties.principalType') };
    });
  for (const a of assignments) {
    const loc = prop(a.r.body, 'properties.roleDefinitionId')?.loc ?? a.r.loc;
    if (!a.roleId) {
      P('role-unresolved', loc, `role assignment ${a.r.symbol}: roleDefinitionId must be subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '<guid>') with a literal GUID (or a variable holding one)`);
      continue;
    }
    if (FORBIDDEN_ROLES[a.roleId]) P('role-forbidden', loc, `role assignment ${a.r.symbol}: ${FORBIDDEN_ROLES[a.roleId]} (${a.roleId}) is far broader than needed`);
    else if (!Object.values(ROLES).some((x) => x.id === a.roleId)) P('role-not-allowed', loc, `role assignment ${a.r.symbol}: role ${a.roleId} is not one of the least-privilege roles this app needs`);
    const name = prop(a.r.body, 'name');
    if (!(name?.kind === 'expr' && /^guid\(/.test(name.text))) P('role-name', name?.loc ?? a.r.loc, `role assignment ${a.r.symbol}: name must be a deterministic guid(...)`);
    if (!a.scope) P('role-scope', a.r.loc, `role assignment ${a.r.symbol}: scope must be the one resource it applies to (scope: <resource>), never a whole resource group or subscription`);
    const toIdentity = isUami(a.principal, 'properties.principalId');
    if (toIdentity) {
      if (lit(a.principalType) !== 'ServicePrincipal') P('role-principal-type', a.principalType?.loc ?? a.r.loc, `role assignment ${a.r.symbol}: principalType must be 'ServicePrincipal' for the managed identity`);
      if (!FUNCTION_ROLES.some((x) => x.role.id === a.roleId)) P('role-not-allowed', loc, `role assignment ${a.r.symbol}: the function's identity must not get ${KNOWN_ROLE_NAMES[a.roleId] ?? a.roleId}`);
    } else if (!DEPLOYER_ROLES.includes(a.roleId) || !a.r.condition)
      P('role-principal', a.r.loc, `role assignment ${a.r.symbol}: only the managed identity gets roles, plus optional (conditional) deployer roles; principal comes from ${a.principal.join(', ')}`);
  }
  const exportTrace = traceSetting('EXPORT_CONTAINER');
  for (const need of FUNCTION_ROLES) {
    const candidates = assignments.filter((a) => a.roleId === need.role.id && isUami(a.principal, 'properties.principalId'));
    const ok = candidates.filter((a) => a.scope && need.scopes.some((s) => same(s, a.scope!.type)));
    if (ok.length === 0) {
      P('role-missing', candidates[0]?.r.loc ?? anyLoc, `the function's identity needs ${need.role.name} (${need.role.id}) on ${need.scopes.join(' or ')} to ${need.why}${candidates.length ? `; found it on ${candidates.map((c) => c.scope?.type ?? 'no resource').join(', ')}` : ''}`);
      continue;
    }
    if (need.role.id === ROLES.storageBlobDataContributor.id && exportTrace.length) {
      // The container in the scope must be the one EXPORT_CONTAINER names.
      const good = ok.some((a) => {
        const n = project.trace(a.file, prop(a.scope!.body, 'name'));
        return n.some((x) => exportTrace.includes(x));
      });
      if (!good) P('role-missing', ok[0]!.r.loc, `${need.role.name} must be scoped to the container EXPORT_CONTAINER names`);
    }
    if (need.role.id === ROLES.keyVaultSecretsUser.id && ok.some((a) => a.r.condition) && !ok.some((a) => !a.r.condition) && ok.length < 2)
      P('role-missing', ok[0]!.r.loc, `${need.role.name} is only granted conditionally: grant it on the vault or on the secret in every case`);
  }

  // --- No shared keys anywhere; no forbidden role GUIDs in any string --------------------------------
  for (const f of project.files.values()) {
    const lines = f.text.split('\n');
    lines.forEach((line, i) => {
      const code = stripComment(line);
      if (/\blist(Keys|AccountSas|ServiceSas|ConnectionStrings)\s*\(/.test(code) || /AccountKey=|SharedAccessSignature=/.test(code))
        P('no-shared-keys', { file: f.file, line: i + 1 }, 'storage keys, SAS or connection strings must not be read or passed (Entra ID only)');
      for (const g of code.match(GUID) ?? []) if (FORBIDDEN_ROLES[g.toLowerCase()]) P('role-forbidden', { file: f.file, line: i + 1 }, `${FORBIDDEN_ROLES[g.toLowerCase()]} (${g}) must not be granted`);
    });
  }

  // --- Lifecycle: snapshots expire, latest.json stays -----------------------------------------------
  const container = exportContainer(project, exportTrace);
  const policies = deployed('Microsoft.Storage/storageAccounts/managementPolicies');
  let lifecycleOk = false;
  for (const { file, r } of policies) {
    const rulesV = prop(r.body, 'properties.policy.rules');
    for (const rule of rulesV?.kind === 'array' ? rulesV.items : []) {
      const del = prop(rule, 'definition.actions.baseBlob.delete');
      if (!del) continue;
      const prefixes = prop(rule, 'definition.filters.prefixMatch');
      const items = prefixes?.kind === 'array' ? prefixes.items : [];
      const rendered = items.map((i) => (i.kind === 'interp' ? i.parts.map((p) => (typeof p === 'string' ? p : `\${${p.expr}}`)).join('') : i.kind === 'string' ? i.value : valueText(i)));
      if (items.length === 0 || rendered.some((p) => !p.endsWith('/snapshots/')))
        P('lifecycle-scope', prefixes?.loc ?? rule.loc, `lifecycle rule deletes blobs outside <container>/snapshots/ (prefixMatch ${rendered.join(', ') || 'none'}): latest.json would be deleted`);
      const containerName = container && file === container.file ? valueText(prop(container.r.body, 'name')) : undefined;
      const matchesContainer = containerName !== undefined && rendered.some((p) => p === `\${${containerName}}/snapshots/` || p === `${containerName.replace(/^'|'$/g, '')}/snapshots/`);
      const blobTypes = prop(rule, 'definition.filters.blobTypes');
      const blockOnly = blobTypes?.kind === 'array' && blobTypes.items.length === 1 && lit(blobTypes.items[0]) === 'blockBlob';
      const daysV = prop(del, 'daysAfterModificationGreaterThan');
      const days = daysV?.kind === 'expr' && file.params.has(daysV.text) ? project.effectiveDefault(file, daysV.text) : daysV;
      const daysFromParam = daysV?.kind === 'expr' && file.params.has(daysV.text);
      if (lit(prop(rule, 'enabled')) === true && matchesContainer && blockOnly && daysFromParam && lit(days) === 30) lifecycleOk = true;
    }
  }
  if (!lifecycleOk)
    P('lifecycle-retention', policies[0]?.r.loc ?? anyLoc, 'a lifecycle rule must delete block blobs under <exportContainer>/snapshots/ after retentionDays (a parameter, default 30): enabled, blobTypes [blockBlob], prefixMatch [<container name>/snapshots/]');

  // --- Conventions ------------------------------------------------------------------------------------
  for (const f of project.files.values()) {
    for (const p of f.params.values()) if (!p.decorators.some((d) => d.name === 'description')) C('param-description', p.loc, `parameter ${p.name} has no @description`);
    const lines = f.text.split('\n');
    lines.forEach((line, i) => {
      const code = stripComment(line);
      for (const g of new Set((code.match(GUID) ?? []).map((x) => x.toLowerCase()))) {
        const role = KNOWN_ROLE_NAMES[g];
        if (!role || !/roleDefinition|var |:/.test(code)) continue;
        const comment = `${commentOf(line)} ${commentOf(lines[i - 1] ?? '')}`;
        if (!comment.toLowerCase().includes(role.toLowerCase())) C('role-comment', { file: f.file, line: i + 1 }, `role definition ${g} needs a one-line comment naming it (${role})`);
      }
    });
  }
  if (entry) {
    for (const o of entry.outputs) if (!/^[A-Z][A-Z0-9_]*$/.test(o.name)) C('output-case', o.loc, `output ${o.name} of ${entryName} must be UPPER_SNAKE (azd environment variable)`);
    for (const n of ['AZURE_FUNCTION_APP_NAME', 'AZURE_KEY_VAULT_NAME', 'KEY_VAULT_URL', 'AZURE_STORAGE_ACCOUNT_NAME', 'EXPORT_CONTAINER', 'AZURE_CLIENT_ID', 'AZURE_RESOURCE_GROUP'])
      if (!entry.outputs.some((o) => o.name === n)) C('required-output', anyLoc, `${entryName} must output ${n}`);
  }
  return out;
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
