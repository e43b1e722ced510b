/**
 * A simulated Entra tenant on localhost: Entra authority (OpenID discovery + token endpoint), the App Service
 * managed-identity endpoint, Key Vault (behind a CONNECT proxy) and Microsoft Graph `/v1.0/users`, all over
 * HTTPS with a CA generated at start (the managed-identity endpoint is plain http, like App Service's).
 *
 * It is the integration-test fixture and the engine of `npm run demo`, so it rejects what the real services
 * reject, with their status codes and error bodies. See stand-ins/sim-tenant/README.md.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ServerGroup } from '../server-group.js';
import { createCa } from './certs.js';
import { type AppliedChanges, type TenantChangeSpec, TenantUsers } from './changes.js';
import { type SimContext, type SimStats, v2Issuer } from './context.js';
import { Directory, type FederatedIdentityCredentialInput } from './directory.js';
import { createEntraHandler } from './entra.js';
import { type FaultRule, FaultInjector } from './faults.js';
import { createGraphHandler } from './graph.js';
import { serve } from './http.js';
import { TokenSigner } from './jwt.js';
import { type SecretOptions, VaultStore, createKeyVaultHandler } from './key-vault.js';
import { MI_TOKEN_LIFETIME_S, MSI_PATH, createManagedIdentityHandler } from './managed-identity.js';
import { createConnectProxy } from './proxy.js';

export type { FaultRule, FaultTarget, Fault } from './faults.js';
export type { SimStats } from './context.js';
export type { AppliedChanges, ChangeCounts, DifferenceOptions, ExpectedChange, TenantChangeSpec, TenantUsers } from './changes.js';
export type { SecretOptions } from './key-vault.js';
export type { FederatedIdentityCredentialInput } from './directory.js';

export interface SimTenantOptions {
  /** GUID; default random. */
  tenantId?: string;
  /** Default 'contoso.onmicrosoft.com'; accepted wherever the tenant id is (authority path). */
  tenantDomain?: string;
  /** Default 1000; generated lazily, so 2,000,000 costs no memory. */
  userCount?: number;
  /** Default 1. */
  seed?: number;
  /** Default 0; added before each Graph page response. */
  pageLatencyMs?: number;
  /**
   * Keep every rendered page's users in memory and serve them from there the next time (~450 KiB per 999
   * users): for benchmarks, so that the tenant's own CPU (~9 ms to generate a page) does not compete with the
   * client's on a small machine. Default false: pages are generated on the fly and nothing is kept.
   */
  cachePages?: boolean;
  /** Lifetime of the Graph access tokens the token endpoint issues (`expires_in`, `exp`); default 3599 as Entra's. */
  accessTokenLifetimeSeconds?: number;
  /** Lifetime of the managed-identity tokens the identity endpoint issues; default 86399 (about 24 h, as Azure's). */
  managedIdentityTokenLifetimeSeconds?: number;
  /**
   * The token-exchange audience of the tenant's cloud: the one its identity endpoint issues tokens for. Default
   * 'api://AzureADTokenExchange' (the global service); 'api://AzureADTokenExchangeUSGov' / '…China' make it another
   * cloud's, whose identity endpoint refuses the global audience (AADSTS500011).
   */
  tokenExchangeAudience?: string;
  /** Default 'sim-kv' -> vault URL https://sim-kv.vault.azure.net/ */
  vaultName?: string;
  /** Optional request log: `<service> METHOD path status duration` (no tokens, secrets or skiptokens). */
  log?: (line: string) => void;
}

export interface SimTenant {
  readonly tenantId: string;
  readonly tenantDomain: string;
  /** e.g. https://localhost:41234 (value for GRAPH_AUTHORITY_HOST) */
  readonly authorityHost: string;
  /** e.g. https://localhost:41235 (value for GRAPH_ENDPOINT; the Graph token audience is this string) */
  readonly graphEndpoint: string;
  /** https://sim-kv.vault.azure.net/ (reached only through the proxy) */
  readonly vaultUrl: string;
  /** http://127.0.0.1:<port>, an HTTP CONNECT proxy */
  readonly proxyUrl: string;
  /** http://127.0.0.1:<port>/msi/token */
  readonly identityEndpoint: string;
  readonly identityHeader: string;
  readonly caCertPem: string;
  /** The CA PEM in a temp dir (for NODE_EXTRA_CA_CERTS); removed on close. */
  readonly caCertPath: string;
  /** The function's system-assigned managed identity. */
  readonly systemIdentity: { principalId: string; clientId: string };
  /**
   * The environment the product needs to talk to this tenant (no credential names): GRAPH_TENANT_ID,
   * GRAPH_AUTHORITY_HOST, GRAPH_ENDPOINT, KEY_VAULT_URL, HTTPS_PROXY, NO_PROXY, NODE_EXTRA_CA_CERTS,
   * IDENTITY_ENDPOINT, IDENTITY_HEADER.
   */
  env(): Record<string, string>;

  /** The issuer of this tenant's v2.0 tokens (`<authorityHost>/<tenantId>/v2.0`): a federated credential's issuer. */
  readonly issuer: string;
  /** The token-exchange audience of the tenant's cloud (tokenExchangeAudience). */
  readonly tokenExchangeAudience: string;
  /**
   * An app registration with granted, admin-consented app roles (default ['User.Read.All']) and, optionally,
   * federated identity credentials (issuer, subject, audiences; stored unchecked, as Entra does).
   */
  addApp(opts?: { displayName?: string; roles?: string[]; federatedIdentityCredentials?: FederatedIdentityCredentialInput[] }): {
    clientId: string;
    objectId: string;
  };
  /** Adds a federated identity credential to the app (at most 20 per app). */
  addFederatedIdentityCredential(clientId: string, fic: FederatedIdentityCredentialInput): void;
  /** Adds a client secret to the app; returns its value. */
  addClientSecret(clientId: string, opts?: { expired?: boolean }): string;
  /** Registers a public certificate on the app (matched by thumbprint). */
  addCertificate(clientId: string, certPem: string): void;
  addUserAssignedIdentity(): { principalId: string; clientId: string };
  /** Creates a secret (or a new version of it). */
  setSecret(name: string, value: string, opts?: SecretOptions): void;
  /** Key Vault Secrets User for the principal, on the vault (default) or on one secret. */
  grantKeyVaultSecretsUser(principalId: string, scope?: { secret: string }): void;

  /**
   * The tenant's users: seeded (userCount, seed), with every change set applied so far. `users.listing()` is what
   * a complete listing returns now; `users.differences({ from, to })` what a comparison of two listings finds.
   */
  readonly users: TenantUsers;
  /**
   * Changes the tenant between runs (joiners, leavers, edits, renames, nulls; seeded, deterministic); the next
   * listing sees the new state. Returns what changed, and the exact change report a comparison of the listings
   * before and after must give (`expected()`). Not meant for use while a listing is under way.
   */
  applyChanges(spec?: TenantChangeSpec): AppliedChanges;

  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Live counters. */
  readonly stats: SimStats;
  setPageLatency(ms: number): void;
  /** Changes the lifetime of the Graph access tokens issued from now on (see accessTokenLifetimeSeconds). */
  setAccessTokenLifetime(seconds: number): void;
  /** Changes the lifetime of the managed-identity tokens issued from now on (see managedIdentityTokenLifetimeSeconds). */
  setManagedIdentityTokenLifetime(seconds: number): void;
  /** Closes every server and socket (hanging and keep-alive ones included) and removes the temp dir. */
  close(): Promise<void>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function validate(opts: SimTenantOptions): void {
  if (opts.tenantId !== undefined && !GUID.test(opts.tenantId)) throw new TypeError('tenantId must be a GUID');
  if (opts.tenantDomain !== undefined && !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(opts.tenantDomain))
    throw new TypeError('tenantDomain must be a domain name');
  if (opts.userCount !== undefined && !(Number.isInteger(opts.userCount) && opts.userCount >= 0 && opts.userCount < 2 ** 32)) {
    throw new TypeError('userCount must be an integer in [0, 2^32)');
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new TypeError('seed must be an integer');
  if (opts.vaultName !== undefined && !/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/i.test(opts.vaultName))
    throw new TypeError('vaultName must be a valid Key Vault name (3-24 letters, digits, dashes)');
  if (opts.pageLatencyMs !== undefined) checkLatency(opts.pageLatencyMs);
  if (opts.accessTokenLifetimeSeconds !== undefined) checkLifetime(opts.accessTokenLifetimeSeconds);
  if (opts.managedIdentityTokenLifetimeSeconds !== undefined) checkLifetime(opts.managedIdentityTokenLifetimeSeconds);
}

export async function startSimTenant(opts: SimTenantOptions = {}): Promise<SimTenant> {
  validate(opts);
  const tenantId = (opts.tenantId ?? randomUUID()).toLowerCase();
  const tenantDomain = (opts.tenantDomain ?? 'contoso.onmicrosoft.com').toLowerCase();
  const vaultName = (opts.vaultName ?? 'sim-kv').toLowerCase();
  const vaultHost = `${vaultName}.vault.azure.net`;
  const log = opts.log;

  // One CA per tenant; one server certificate covers every TLS endpoint (localhost and the vault host).
  const ca = createCa('Sim Tenant Root CA');
  const tls = ca.issue({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1', '::1', vaultHost, '*.vault.azure.net'] });
  const tlsOptions = { key: tls.keyPem, cert: tls.certPem };
  const signer = new TokenSigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);

  const group = new ServerGroup();
  // Handlers need the final URLs (ports), so servers delegate to listeners assigned once listening.
  let entraListener: http.RequestListener = () => undefined;
  let graphListener: http.RequestListener = () => undefined;
  let msiListener: http.RequestListener = () => undefined;
  const authority = group.add(https.createServer(tlsOptions, (req, res) => entraListener(req, res)));
  const graph = group.add(https.createServer(tlsOptions, (req, res) => graphListener(req, res)));
  const msi = group.add(http.createServer((req, res) => msiListener(req, res)));

  let tempDir: string | undefined;
  try {
    const authorityPort = await group.listen(authority);
    const graphPort = await group.listen(graph);
    const msiPort = await group.listen(msi);
    await group.alsoOnIpv6Loopback(authority, authorityPort);
    await group.alsoOnIpv6Loopback(graph, graphPort);

    const stats: SimStats = {
      openid: 0,
      token: 0,
      msi: 0,
      keyvault: 0,
      graph: 0,
      graphEventual: 0,
      graphPagesServed: 0,
      graphPageFirstByteMs: 0,
      tokensIssued: 0,
      exchangeTokensIssued: 0,
      federatedTokensIssued: 0,
      faultsInjected: 0,
    };
    const directory = new Directory();
    const ctx: SimContext = {
      tenantId,
      tenantDomain,
      authorityHost: `https://localhost:${authorityPort}`,
      graphEndpoint: `https://localhost:${graphPort}`,
      vaultHost,
      directory,
      signer,
      faults: new FaultInjector(() => stats.faultsInjected++),
      stats,
      servers: group,
      log,
      users: new TenantUsers(opts.seed ?? 1, opts.userCount ?? 1000),
      pageLatencyMs: opts.pageLatencyMs ?? 0,
      accessTokenLifetimeSeconds: opts.accessTokenLifetimeSeconds ?? 3599,
      managedIdentityTokenLifetimeSeconds: opts.managedIdentityTokenLifetimeSeconds ?? MI_TOKEN_LIFETIME_S,
      tokenExchangeAudience: opts.tokenExchangeAudience ?? 'api://AzureADTokenExchange',
      pageCache: opts.cachePages === true ? new Map() : undefined,
    };
    const identityHeader = randomBytes(24).toString('hex');
    const vault = new VaultStore(vaultName);
    entraListener = serve('entra', log, createEntraHandler(ctx));
    graphListener = serve('graph', log, createGraphHandler(ctx));
    msiListener = serve('msi', log, createManagedIdentityHandler(ctx, identityHeader));
    // Key Vault listens on no port: the proxy hands it the tunnelled sockets.
    const keyVault = group.add(https.createServer(tlsOptions, serve('keyvault', log, createKeyVaultHandler(ctx, vault))));

    const localServers = new Map<number, net.Server>([
      [authorityPort, authority],
      [graphPort, graph],
      [msiPort, msi],
    ]);
    const proxy = group.add(createConnectProxy(group, { vaultHost, vaultServer: keyVault, localServers }, log));
    const proxyPort = await group.listen(proxy);

    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-tenant-'));
    const caCertPath = path.join(tempDir, 'sim-tenant-ca.pem');
    fs.writeFileSync(caCertPath, ca.certPem);

    return new SimTenantImpl(ctx, vault, {
      vaultUrl: `https://${vaultHost}/`,
      proxyUrl: `http://127.0.0.1:${proxyPort}`,
      identityEndpoint: `http://127.0.0.1:${msiPort}${MSI_PATH}`,
      identityHeader,
      caCertPem: ca.certPem,
      caCertPath,
      tempDir,
    });
  } catch (err) {
    await group.close();
    if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
    throw err;
  }
}

class SimTenantImpl implements SimTenant {
  readonly vaultUrl: string;
  readonly proxyUrl: string;
  readonly identityEndpoint: string;
  readonly identityHeader: string;
  readonly caCertPem: string;
  readonly caCertPath: string;
  private readonly tempDir: string;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ctx: SimContext,
    private readonly vault: VaultStore,
    endpoints: {
      vaultUrl: string;
      proxyUrl: string;
      identityEndpoint: string;
      identityHeader: string;
      caCertPem: string;
      caCertPath: string;
      tempDir: string;
    },
  ) {
    this.vaultUrl = endpoints.vaultUrl;
    this.proxyUrl = endpoints.proxyUrl;
    this.identityEndpoint = endpoints.identityEndpoint;
    this.identityHeader = endpoints.identityHeader;
    this.caCertPem = endpoints.caCertPem;
    this.caCertPath = endpoints.caCertPath;
    this.tempDir = endpoints.tempDir;
  }

  get tenantId(): string {
    return this.ctx.tenantId;
  }
  get tenantDomain(): string {
    return this.ctx.tenantDomain;
  }
  get authorityHost(): string {
    return this.ctx.authorityHost;
  }
  get graphEndpoint(): string {
    return this.ctx.graphEndpoint;
  }
  get stats(): SimStats {
    return this.ctx.stats;
  }
  get issuer(): string {
    return v2Issuer(this.ctx);
  }
  get tokenExchangeAudience(): string {
    return this.ctx.tokenExchangeAudience;
  }

  get systemIdentity(): { principalId: string; clientId: string } {
    const { principalId, clientId } = this.ctx.directory.systemIdentity;
    return { principalId, clientId };
  }

  env(): Record<string, string> {
    return {
      GRAPH_TENANT_ID: this.ctx.tenantId,
      GRAPH_AUTHORITY_HOST: this.ctx.authorityHost,
      GRAPH_ENDPOINT: this.ctx.graphEndpoint,
      KEY_VAULT_URL: this.vaultUrl,
      HTTPS_PROXY: this.proxyUrl,
      NO_PROXY: 'localhost,127.0.0.1',
      NODE_EXTRA_CA_CERTS: this.caCertPath,
      IDENTITY_ENDPOINT: this.identityEndpoint,
      IDENTITY_HEADER: this.identityHeader,
    };
  }

  addApp(opts?: { displayName?: string; roles?: string[]; federatedIdentityCredentials?: FederatedIdentityCredentialInput[] }): {
    clientId: string;
    objectId: string;
  } {
    const app = this.ctx.directory.addApp(opts);
    return { clientId: app.clientId, objectId: app.objectId };
  }

  addFederatedIdentityCredential(clientId: string, fic: FederatedIdentityCredentialInput): void {
    this.ctx.directory.addFederatedIdentityCredential(clientId, fic);
  }

  addClientSecret(clientId: string, opts?: { expired?: boolean }): string {
    return this.ctx.directory.addClientSecret(clientId, opts);
  }

  addCertificate(clientId: string, certPem: string): void {
    this.ctx.directory.addCertificate(clientId, certPem);
  }

  addUserAssignedIdentity(): { principalId: string; clientId: string } {
    const { principalId, clientId } = this.ctx.directory.addUserAssignedIdentity();
    return { principalId, clientId };
  }

  setSecret(name: string, value: string, opts?: SecretOptions): void {
    this.vault.setSecret(name, value, opts);
  }

  grantKeyVaultSecretsUser(principalId: string, scope?: { secret: string }): void {
    this.vault.grantSecretsUser(principalId, scope?.secret);
  }

  get users(): TenantUsers {
    return this.ctx.users;
  }

  applyChanges(spec?: TenantChangeSpec): AppliedChanges {
    const applied = this.ctx.users.apply(spec);
    // Pages rendered before the change are never served again (the cache is keyed by generation too).
    this.ctx.pageCache?.clear();
    this.ctx.log?.(`changes: generation ${applied.generation}: ${JSON.stringify(applied.applied)}; ${applied.userCount} users`);
    return applied;
  }

  addFault(rule: FaultRule): void {
    this.ctx.faults.add(rule);
  }

  clearFaults(): void {
    this.ctx.faults.clear();
  }

  setPageLatency(ms: number): void {
    checkLatency(ms);
    this.ctx.pageLatencyMs = ms;
  }

  setAccessTokenLifetime(seconds: number): void {
    checkLifetime(seconds);
    this.ctx.accessTokenLifetimeSeconds = seconds;
  }

  setManagedIdentityTokenLifetime(seconds: number): void {
    checkLifetime(seconds);
    this.ctx.managedIdentityTokenLifetimeSeconds = seconds;
  }

  close(): Promise<void> {
    this.closing ??= this.ctx.servers.close().then(() => fs.rmSync(this.tempDir, { recursive: true, force: true }));
    return this.closing;
  }
}

function checkLifetime(seconds: number): void {
  if (!(Number.isInteger(seconds) && seconds > 0)) throw new TypeError('the access token lifetime must be a positive integer of seconds');
}

function checkLatency(ms: number): void {
  if (!(ms >= 0)) throw new TypeError('the page latency must be a number of ms >= 0');
}
