/** What every simulated service needs to know about the tenant it belongs to. */
import type { ServerGroup } from '../server-group.js';
import type { TenantUsers } from './changes.js';
import type { Directory } from './directory.js';
import type { FaultInjector } from './faults.js';
import type { TokenSigner } from './jwt.js';

export interface SimStats {
  openid: number;
  token: number;
  msi: number;
  keyvault: number;
  graph: number;
  /** Graph requests that carried `ConsistencyLevel: eventual` (an advanced query's header). */
  graphEventual: number;
  graphPagesServed: number;
  /** Sum over those pages of the time from the request's arrival to the page's first bytes being written (ms). */
  graphPageFirstByteMs: number;
  tokensIssued: number;
  /** Managed-identity tokens issued for the token-exchange audience (the federated credential's assertions). */
  exchangeTokensIssued: number;
  /** Graph tokens issued for a federated credential (a managed identity's token as the client assertion). */
  federatedTokensIssued: number;
  faultsInjected: number;
}

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
export const STORAGE_RESOURCE = 'https://storage.azure.com';

export interface SimContext {
  readonly tenantId: string;
  readonly tenantDomain: string;
  /** `https://localhost:<port>` */
  readonly authorityHost: string;
  /** `https://localhost:<port>`: the Graph token audience. */
  readonly graphEndpoint: string;
  /** `<vaultName>.vault.azure.net` */
  readonly vaultHost: string;
  readonly directory: Directory;
  readonly signer: TokenSigner;
  readonly faults: FaultInjector;
  readonly stats: SimStats;
  readonly servers: ServerGroup;
  readonly log: ((line: string) => void) | undefined;
  /** The tenant's users: seeded, with the change sets applied so far (changes.ts). */
  readonly users: TenantUsers;
  pageLatencyMs: number;
  /**
   * Users of pages already rendered (by start index, page size, $select and $filter), with where the next page
   * starts: set by the cachePages option, so that a tenant serving the same pages again spends no CPU on them.
   * Emptied when the users change.
   */
  readonly pageCache: Map<string, { users: Buffer; next: number }> | undefined;
  /** `expires_in` of issued Graph access tokens. */
  accessTokenLifetimeSeconds: number;
  /** Lifetime of the managed-identity tokens the identity endpoint issues. */
  managedIdentityTokenLifetimeSeconds: number;
  /** The token-exchange audience of this tenant's cloud (what its identity endpoint issues tokens for). */
  readonly tokenExchangeAudience: string;
}

/**
 * The `iss` of the v2.0 tokens this tenant issues — the managed-identity tokens for the token-exchange audience
 * among them — and so the issuer of a federated identity credential trusting a managed identity:
 * `https://login.microsoftonline.com/{tenant}/v2.0` on the global service ("Configure an application to trust a
 * managed identity", https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 */
export const v2Issuer = (ctx: Pick<SimContext, 'authorityHost' | 'tenantId'>): string => `${ctx.authorityHost}/${ctx.tenantId}/v2.0`;

/** Whether `tenant` (from a URL path) names this tenant: its id or its domain, case-insensitively. */
export function isThisTenant(ctx: Pick<SimContext, 'tenantId' | 'tenantDomain'>, tenant: string): boolean {
  const t = tenant.toLowerCase();
  return t === ctx.tenantId.toLowerCase() || t === ctx.tenantDomain.toLowerCase();
}

/** The `iss` of access tokens (Entra v1 access tokens, which Graph and Key Vault receive). */
export const accessTokenIssuer = (tenantId: string): string => `https://sts.windows.net/${tenantId}/`;
