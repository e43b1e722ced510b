/**
 * The Graph credential per credentialType, evaluated as deployed (evaluate.ts) rather than read from the text:
 *
 * - certificate / secret: KEY_VAULT_URL (the vault's vaultUri) and exactly one of GRAPH_CLIENT_CERTIFICATE_NAME /
 *   GRAPH_CLIENT_SECRET_NAME; a vault (unless an existing one is named) and Key Vault Secrets User for the identity.
 * - federated (secretless): GRAPH_FEDERATED_IDENTITY_CLIENT_ID = the user-assigned identity's clientId and no other
 *   credential setting, no KEY_VAULT_URL, no vault, no Key Vault role; with createGraphApp, the app's federated
 *   identity credential trusts that identity — issuer, subject and audience as Microsoft documents them for the
 *   cloud deployed to — and outside the global cloud (no Microsoft Graph Bicep there) the deployment stops with fail().
 */
import type { Node } from 'web-tree-sitter';
import { isDeployed } from './app-settings.js';
import { CLOUDS, toggleTrailingSlashes, type AzureEnvironment } from './clouds.js';
import { describe, evaluateAppSettings, EvaluationError, Evaluator, Opaque, type BicepValue, type Deployment } from './evaluate.js';
import type { BicepFile, Loc, ResourceDecl } from './parse.js';
import { Project, prop } from './project.js';

/** The credential settings of README "Settings": exactly one of them is set. */
export const KEY_VAULT_CREDENTIAL_SETTINGS: readonly string[] = ['GRAPH_CLIENT_CERTIFICATE_NAME', 'GRAPH_CLIENT_SECRET_NAME'];
export const CREDENTIAL_SETTINGS: readonly string[] = [...KEY_VAULT_CREDENTIAL_SETTINGS, 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID'];

const SETTING_OF = {
  certificate: 'GRAPH_CLIENT_CERTIFICATE_NAME',
  secret: 'GRAPH_CLIENT_SECRET_NAME',
  federated: 'GRAPH_FEDERATED_IDENTITY_CLIENT_ID',
} as const;
type CredentialType = keyof typeof SETTING_OF;
const TYPES = Object.keys(SETTING_OF) as CredentialType[];

const TRUST_MI = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity';
const TRUST_MI_CHINA = 'https://docs.azure.cn/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity';

/**
 * What a user-assigned identity's tokens carry in each cloud, so what the app's federated identity credential must
 * hold ("Configure an application to trust a managed identity"): issuer `https://<Entra host>/<tenant>/v2.0` — the
 * Entra host of the cloud, and in Azure China `https://login.partner.microsoftonline.cn/{tenant}/v2.0` (its own
 * version of the article) — and the audience of the cloud.
 */
export const FEDERATED_BY_CLOUD: Readonly<Record<string, { issuerHost: string; audience: string; source: string }>> = {
  AzureCloud: { issuerHost: 'https://login.microsoftonline.com', audience: 'api://AzureADTokenExchange', source: TRUST_MI },
  AzureUSGovernment: { issuerHost: 'https://login.microsoftonline.us', audience: 'api://AzureADTokenExchangeUSGov', source: TRUST_MI },
  AzureChinaCloud: {
    issuerHost: 'https://login.partner.microsoftonline.cn',
    audience: 'api://AzureADTokenExchangeChina',
    source: TRUST_MI_CHINA,
  },
};

/** A tenant ID for the evaluation: tenant().tenantId. */
export const TENANT_ID = '00000000-0000-4000-8000-00000000a11e';
const ENTRY = { environmentName: 'posture', location: 'eastus' };
const FIC = 'Microsoft.Graph/applications/federatedIdentityCredentials';
const UAMI_PROPERTY = (p: string) => new RegExp(`^Microsoft\\.ManagedIdentity/userAssignedIdentities \\w+\\.properties\\.${p}$`);

type Report = (rule: string, loc: Loc | { file: string; line: number }, message: string) => void;

function deployment(environment: AzureEnvironment, credentialType: CredentialType, extra: Record<string, BicepValue> = {}): Deployment {
  return { environment, tenantId: TENANT_ID, parameters: { ...ENTRY, credentialType, ...extra } };
}

const isOpaque = (v: BicepValue | undefined, re: RegExp): boolean => v instanceof Opaque && re.test(v.text);

/** Deployed in this deployment? An evaluation error (e.g. fail()) is returned as such. */
function deployedIn(project: Project, d: Deployment, file: BicepFile, r: ResourceDecl): boolean | undefined | EvaluationError {
  const ev = new Evaluator(project, d);
  try {
    return isDeployed(project, file, r, (f: BicepFile, cond: Node) => ev.node(f, cond));
  } catch (e) {
    if (e instanceof EvaluationError) return e;
    throw e;
  }
}

export function checkCredentialTypes(project: Project, P: Report, entryName: string): void {
  const all = project.allResources();
  const site = all.find(({ r }) => r.type.toLowerCase() === 'microsoft.web/sites' && !r.existing);
  if (!site) return;
  const global = CLOUDS.find((c) => c.environment.name === 'AzureCloud')!.environment;

  // The parameter: every file it passes through allows the three types; the default stays certificate.
  const valueOf = (v: ReturnType<typeof prop>) => (v?.kind === 'string' ? v.value : undefined);
  const chain = project.paramChain(site.file, 'credentialType');
  if (chain.length === 0)
    P('setting-credential', site.r.loc, `${site.file.file} must take a credentialType parameter (certificate, secret or federated)`);
  for (const link of chain) {
    const dec = link.param.decorators.find((x) => x.name === 'allowed');
    const values = dec?.args[0]?.kind === 'array' ? dec.args[0].items.map(valueOf) : [];
    if (values.length !== TYPES.length || !TYPES.every((t) => values.includes(t)))
      P(
        'setting-allowed',
        link.param.loc,
        `parameter ${link.param.name} (${link.file.file}) must be @allowed(['certificate', 'secret', 'federated'])`,
      );
  }
  const def = project.effectiveDefault(site.file, 'credentialType');
  if (chain.length && valueOf(def) !== 'certificate')
    P(
      'setting-default',
      chain.at(-1)!.param.loc,
      `credentialType must default to 'certificate' (recommended), is ${def?.kind === 'string' ? `'${def.value}'` : 'none'}`,
    );

  // The settings each type gets.
  for (const type of TYPES) {
    let settings: Map<string, BicepValue>;
    try {
      settings = evaluateAppSettings(project, deployment(global, type));
    } catch (e) {
      if (!(e instanceof EvaluationError)) throw e;
      P('setting-credential', site.r.loc, `the app settings cannot be evaluated for credentialType ${type}: ${e.message}`);
      continue;
    }
    const present = CREDENTIAL_SETTINGS.filter((n) => settings.has(n));
    if (present.length !== 1 || present[0] !== SETTING_OF[type])
      P(
        'setting-credential',
        site.r.loc,
        `with credentialType ${type}, exactly ${SETTING_OF[type]} of ${CREDENTIAL_SETTINGS.join(' / ')} must be set; the app gets ${present.join(', ') || 'none'}`,
      );
    const credential = settings.get(SETTING_OF[type]);
    if (type === 'federated') {
      if (settings.has(SETTING_OF[type]) && !isOpaque(credential, UAMI_PROPERTY('clientId')))
        P(
          'setting-credential',
          site.r.loc,
          `GRAPH_FEDERATED_IDENTITY_CLIENT_ID must be the user-assigned identity's clientId (${TRUST_MI}); it is ${describe(credential ?? null)}`,
        );
      if (settings.has('KEY_VAULT_URL'))
        P(
          'credential-key-vault',
          site.r.loc,
          `with credentialType federated, KEY_VAULT_URL must not be set (nothing is read from Key Vault); it is ${describe(settings.get('KEY_VAULT_URL')!)}`,
        );
    } else {
      if (settings.has(SETTING_OF[type]) && (typeof credential !== 'string' || credential === ''))
        P(
          'setting-credential',
          site.r.loc,
          `with credentialType ${type}, ${SETTING_OF[type]} must name the ${type} in the vault; it is ${describe(credential ?? null)}`,
        );
      if (!isOpaque(settings.get('KEY_VAULT_URL'), /^Microsoft\.KeyVault\/vaults \w+\.properties\.vaultUri$/))
        P(
          'credential-key-vault',
          site.r.loc,
          `with credentialType ${type}, KEY_VAULT_URL must be the vault's vaultUri; it is ${describe(settings.get('KEY_VAULT_URL') ?? null)}`,
        );
    }
  }

  // Key Vault and its roles exist exactly when the credential is kept there.
  const vaults = all.filter(({ r }) => r.type === 'Microsoft.KeyVault/vaults' && !r.existing);
  const vaultRoles = all.filter(({ file, r }) => {
    if (r.type !== 'Microsoft.Authorization/roleAssignments' || r.existing) return false;
    const scope = prop(r.body, 'scope');
    const target = scope?.kind === 'expr' ? project.resource(file, scope.text) : undefined;
    return !!target && target.type.startsWith('Microsoft.KeyVault/');
  });
  for (const type of TYPES) {
    const d = deployment(global, type);
    const state = (x: { file: BicepFile; r: ResourceDecl }) => deployedIn(project, d, x.file, x.r);
    if (type === 'federated') {
      for (const x of [...vaults, ...vaultRoles]) {
        const s = state(x);
        if (s !== false)
          P(
            'credential-key-vault',
            x.r.loc,
            `with credentialType federated, ${x.r.type} ${x.r.symbol} must not be deployed (nothing needs Key Vault); its deployment is ${s instanceof Error ? s.message : String(s)}`,
          );
      }
    } else {
      if (!vaults.some((x) => state(x) === true))
        P(
          'credential-key-vault',
          vaults[0]?.r.loc ?? site.r.loc,
          `with credentialType ${type} (and no existing vault named), a Key Vault must be deployed`,
        );
      if (
        !vaultRoles.some(
          (x) =>
            state(x) === true &&
            /keyVaultSecretsUser|4633458b-17de-408a-b874-0445c86b69e6/.test(JSON.stringify(prop(x.r.body, 'properties.roleDefinitionId'))),
        )
      )
        P(
          'credential-key-vault',
          vaultRoles[0]?.r.loc ?? site.r.loc,
          `with credentialType ${type}, the function's identity must get Key Vault Secrets User on the vault or the secret`,
        );
    }
  }

  checkFederatedCredential(project, P, entryName);
}

/** The app's federated identity credential (createGraphApp) and the issuer / audience outputs, per cloud. */
function checkFederatedCredential(project: Project, P: Report, entryName: string): void {
  const entry = project.files.get(entryName);
  const anyLoc = { file: entryName, line: 1 };
  const fics = project.allResources().filter(({ r }) => r.type === FIC && !r.existing);
  if (fics.length !== 1) {
    P(
      'federated-credential',
      anyLoc,
      `with createGraphApp and credentialType federated, the app must get exactly one ${FIC}@v1.0 (found ${fics.length}) (${TRUST_MI})`,
    );
    return;
  }
  const { file, r } = fics[0]!;
  for (const cloud of CLOUDS) {
    const want = FEDERATED_BY_CLOUD[cloud.environment.name];
    if (!want) continue;
    for (const environment of [cloud.environment, toggleTrailingSlashes(cloud.environment)]) {
      const where = `${environment.name}${environment === cloud.environment ? '' : ' (trailing slashes toggled)'}`;
      // What the deployment tells the provisioning script (and docs/deploy.md's az path) to register.
      for (const type of TYPES) {
        const ev = new Evaluator(project, deployment(environment, type));
        for (const [name, expected] of [
          ['GRAPH_FEDERATED_ISSUER', type === 'federated' ? `${want.issuerHost}/${TENANT_ID}/v2.0` : ''],
          ['GRAPH_FEDERATED_AUDIENCE', type === 'federated' ? want.audience : ''],
        ] as const) {
          const o = entry?.outputs.find((x) => x.name === name);
          let got: BicepValue | string = 'not an output';
          try {
            if (o) got = ev.value(entry!, o.value);
          } catch (e) {
            if (!(e instanceof EvaluationError)) throw e;
            got = e.message;
          }
          if (got !== expected)
            P(
              'federated-credential',
              o?.loc ?? anyLoc,
              `deployed to ${where} with credentialType ${type}, output ${name} of ${entryName} must be '${expected}' (${want.source}); it is ${typeof got === 'string' ? `'${got}'` : describe(got)}`,
            );
        }
      }
      const d = deployment(environment, 'federated', { createGraphApp: true });
      const state = deployedIn(project, d, file, r);
      if (environment.name !== 'AzureCloud') {
        // Microsoft Graph Bicep: global cloud only. The deployment must stop with a message, not try.
        if (!(state instanceof EvaluationError && /fail\(\)/.test(state.message)))
          P(
            'federated-cloud',
            r.loc,
            `deployed to ${where} with createGraphApp, the Bicep must stop with fail() (Microsoft Graph Bicep deploys to the global cloud only); the app's credential is ${state instanceof Error ? state.message : `deployed: ${String(state)}`}`,
          );
        continue;
      }
      if (state !== true) {
        P(
          'federated-credential',
          r.loc,
          `deployed to ${where} with createGraphApp and credentialType federated, ${r.symbol} must be deployed; it is ${state instanceof Error ? state.message : String(state)}`,
        );
        continue;
      }
      const ev = new Evaluator(project, d);
      const get = (key: string): BicepValue | string => {
        try {
          return ev.value(file, prop(r.body, key));
        } catch (e) {
          if (!(e instanceof EvaluationError)) throw e;
          return `<${e.message}>`;
        }
      };
      const issuer = get('issuer');
      const expectedIssuer = `${want.issuerHost}/${TENANT_ID}/v2.0`;
      if (issuer !== expectedIssuer)
        P(
          'federated-credential',
          prop(r.body, 'issuer')?.loc ?? r.loc,
          `deployed to ${where}, ${r.symbol}.issuer would be ${describe(issuer)}; the identity's tokens carry '${expectedIssuer}' (${want.source})`,
        );
      const subject = get('subject');
      if (!isOpaque(subject, UAMI_PROPERTY('principalId')))
        P(
          'federated-credential',
          prop(r.body, 'subject')?.loc ?? r.loc,
          `${r.symbol}.subject must be the user-assigned identity's principalId (case-sensitive object ID, ${TRUST_MI}); it is ${describe(subject)}`,
        );
      const audiences = get('audiences');
      if (JSON.stringify(audiences) !== JSON.stringify([want.audience]))
        P(
          'federated-credential',
          prop(r.body, 'audiences')?.loc ?? r.loc,
          `deployed to ${where}, ${r.symbol}.audiences would be ${describe(audiences)}; it must be ['${want.audience}'] (${want.source})`,
        );
      const name = get('name');
      // '<app uniqueName>/<name>'; the name: 3-120 characters, letters, digits, - and _, starting with a letter or digit.
      if (!isOpaque(name, /^\$\{Microsoft\.Graph\/applications \w+\.uniqueName\}\/[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/))
        P(
          'federated-credential',
          r.loc,
          `${r.symbol}.name must be '\${<app>.uniqueName}/<3-120 letters, digits, - or _>' (${TRUST_MI}; https://learn.microsoft.com/graph/templates/bicep/known-issues-graph-bicep); it is ${describe(name)}`,
        );
    }
  }
  // Only for federated, and only when the app is declared in Bicep.
  for (const [type, createGraphApp] of [
    ['certificate', true],
    ['secret', true],
    ['federated', false],
  ] as const) {
    const state = deployedIn(project, deployment(CLOUDS[0]!.environment, type, { createGraphApp }), file, r);
    if (state !== false)
      P(
        'federated-credential',
        r.loc,
        `with credentialType ${type} and createGraphApp ${createGraphApp}, ${r.symbol} must not be deployed; it is ${state instanceof Error ? state.message : String(state)}`,
      );
  }
}
