/**
 * What `environment()` returns in each Azure cloud, and the Microsoft Graph / Entra endpoints of that cloud:
 * the facts the posture check evaluates the Bicep against (evaluate.ts runs the Bicep's own expressions with
 * these objects). Only fields with a source are listed.
 *
 * Sources:
 * - AzureCloud: "Deployment functions for Bicep", environment() example for global Azure,
 *   https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-deployment#environment
 *   (MicrosoftDocs/azure-docs articles/azure-resource-manager/bicep/bicep-functions-deployment.md). Its `graph`
 *   and `graphAudience` are `https://graph.windows.net/`: Azure AD Graph, not Microsoft Graph.
 * - AzureUSGovernment, AzureChinaCloud: environment() is the cloud's Azure Resource Manager metadata
 *   (`GET <resourceManager>/metadata/endpoints?api-version=2019-05-01`; the Bicep doc above points to
 *   `az cloud list` for the registered environments). The Azure CLI builds its clouds from the same objects
 *   (Azure/azure-cli src/azure-cli-core/azure/cli/core/cloud.py: `_arm_to_cli_mapper` reads `name`,
 *   `authentication.loginEndpoint`, `graphAudience`, `resourceManager`, `suffixes.storage`,
 *   `suffixes.keyVaultDns`; AZURE_US_GOV_CLOUD and AZURE_CHINA_CLOUD hold the values below), and its comment
 *   "change once microsoft_graph_resource_id is fixed in ARM" is why Microsoft Graph is not in environment().
 *   The sovereign clouds' metadata writes endpoints without a trailing slash (e.g.
 *   `"loginEndpoint": "https://login.microsoftonline.us"`), global Azure with one: the Bicep must cope with both.
 * - Microsoft Graph service roots and Entra token endpoints per cloud: "Microsoft Graph national cloud
 *   deployments", https://learn.microsoft.com/graph/deployments (microsoftgraph/microsoft-graph-docs-contrib
 *   concepts/deployments.md): global `https://graph.microsoft.com`, US Government L4 `https://graph.microsoft.us`,
 *   US Government L5 (DoD) `https://dod-graph.microsoft.us`, China (21Vianet) `https://microsoftgraph.chinacloudapi.cn`;
 *   Entra ID `https://login.microsoftonline.com`, `https://login.microsoftonline.us`, `https://login.chinacloudapi.cn`.
 *   A DoD tenant lives in the US Government cloud (same Azure environment as L4) but its Graph host differs,
 *   so the Bicep takes it as a parameter.
 */

/**
 * The part of environment()'s object the Bicep reads (ARM looks properties up case-insensitively): `name`
 * (functionapp.bicep's Microsoft Graph by cloud), `authentication.loginEndpoint` (GRAPH_AUTHORITY_HOST),
 * `suffixes.storage` (storage.bicep's blob endpoint), and `graph`, Azure AD Graph, so that a Bicep taking it
 * for Microsoft Graph is caught. A Bicep reading any other member fails to evaluate, and this list grows.
 */
export interface AzureEnvironment {
  name: string;
  graph: string;
  authentication: { loginEndpoint: string };
  suffixes: { storage: string };
}

export interface Cloud {
  environment: AzureEnvironment;
  /** Microsoft Graph's service root for tenants of this cloud (https://learn.microsoft.com/graph/deployments). */
  microsoftGraph: string;
  /** The Entra ID authority host (same source). */
  entraAuthority: string;
  /** Where `environment` comes from. */
  source: string;
}

const BICEP_DOC = 'https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-deployment#environment';
const AZ_CLI = 'Azure/azure-cli src/azure-cli-core/azure/cli/core/cloud.py (ARM metadata/endpoints)';

const environment = (name: string, graph: string, loginEndpoint: string, storage: string): AzureEnvironment => ({
  name,
  graph,
  authentication: { loginEndpoint },
  suffixes: { storage },
});

/** environment() per cloud: name, graph, authentication.loginEndpoint, suffixes.storage; and its source. */
const ENVIRONMENTS: ReadonlyArray<[AzureEnvironment, string]> = [
  [environment('AzureCloud', 'https://graph.windows.net/', 'https://login.microsoftonline.com/', 'core.windows.net'), BICEP_DOC],
  [environment('AzureUSGovernment', 'https://graph.windows.net', 'https://login.microsoftonline.us', 'core.usgovcloudapi.net'), AZ_CLI],
  [environment('AzureChinaCloud', 'https://graph.chinacloudapi.cn', 'https://login.chinacloudapi.cn', 'core.chinacloudapi.cn'), AZ_CLI],
];

/** Microsoft Graph and Entra ID hosts by cloud ("Microsoft Graph national cloud deployments"). */
const GRAPH_HOSTS: Readonly<Record<string, { microsoftGraph: string; entraAuthority: string }>> = {
  AzureCloud: { microsoftGraph: 'https://graph.microsoft.com', entraAuthority: 'https://login.microsoftonline.com' },
  AzureUSGovernment: { microsoftGraph: 'https://graph.microsoft.us', entraAuthority: 'https://login.microsoftonline.us' },
  AzureChinaCloud: { microsoftGraph: 'https://microsoftgraph.chinacloudapi.cn', entraAuthority: 'https://login.chinacloudapi.cn' },
};

export const CLOUDS: readonly Cloud[] = ENVIRONMENTS.map(([env, source]) => ({ environment: env, ...GRAPH_HOSTS[env.name]!, source }));

/** Microsoft Graph for US Government L5 (DoD) tenants: not an environment of its own, set by parameter. */
export const DOD_GRAPH = 'https://dod-graph.microsoft.us';

/** The same cloud with its endpoints' trailing slashes toggled (the clouds' metadata differ in that). */
export function toggleTrailingSlashes(env: AzureEnvironment): AzureEnvironment {
  const t = (s: string): string => (s.endsWith('/') ? s.slice(0, -1) : `${s}/`);
  return { ...env, graph: t(env.graph), authentication: { ...env.authentication, loginEndpoint: t(env.authentication.loginEndpoint) } };
}
