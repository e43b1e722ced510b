/**
 * Azure Key Vault's secrets data plane, as much as the product uses: `GET /secrets/{name}/{version?}` with the
 * challenge-based bearer authentication the Azure SDK performs, RBAC (Key Vault Secrets User on the vault or on
 * one secret), and Key Vault's error bodies. It is an HTTPS server presenting a `*.vault.azure.net`
 * certificate, reached only through the sim's CONNECT proxy, so production code keeps a real vault URL.
 */
import type http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { KEY_VAULT_RESOURCE, type SimContext, accessTokenIssuer } from './context.js';
import { keyVaultDefaultError, keyVaultError } from './errors.js';
import { applyCommonFault } from './faults.js';
import { type Handler, sendJson } from './http.js';
import { bearerToken } from './jwt.js';

/** The data-plane versions Key Vault serves; any other api-version is a 400 BadParameter. */
const API_VERSIONS = new Set(['2016-10-01', '7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01']);
const LATEST_API_VERSION = '2025-07-01';
const SUBSCRIPTION = '00000000-0000-0000-0000-00000000c0de';
/** Content types under which Key Vault returns a certificate's key and chain. */
const CERTIFICATE_CONTENT_TYPES = new Set(['application/x-pkcs12', 'application/x-pem-file']);

export interface SecretOptions {
  contentType?: string;
  enabled?: boolean;
  nbf?: Date;
  exp?: Date;
  /**
   * Whether the secret backs a Key Vault certificate (`managed: true` and a `kid` in the response). Defaults to
   * true for the PKCS#12 and PEM content types, which is how a certificate's secret looks.
   */
  managed?: boolean;
}

interface SecretVersion {
  readonly name: string;
  readonly version: string;
  readonly value: string;
  readonly contentType: string | undefined;
  readonly enabled: boolean;
  readonly nbf: Date | undefined;
  readonly exp: Date | undefined;
  readonly created: Date;
  readonly managed: boolean;
}

const epoch = (d: Date): number => Math.floor(d.getTime() / 1000);

/** The vault's contents and role assignments. Names are case-insensitive, like Key Vault's. */
export class VaultStore {
  private readonly secrets = new Map<string, SecretVersion[]>();
  private readonly grants: { principalId: string; secret: string | undefined }[] = [];

  constructor(readonly vaultName: string) {}

  setSecret(name: string, value: string, opts: SecretOptions = {}): void {
    if (!/^[0-9a-zA-Z-]{1,127}$/.test(name))
      throw new Error(`sim-tenant: invalid Key Vault secret name '${name}' (1-127 letters, digits, dashes)`);
    const versions = this.secrets.get(name.toLowerCase()) ?? [];
    versions.push({
      name,
      version: randomBytes(16).toString('hex'),
      value,
      contentType: opts.contentType,
      enabled: opts.enabled ?? true,
      nbf: opts.nbf,
      exp: opts.exp,
      created: new Date(),
      managed: opts.managed ?? (opts.contentType !== undefined && CERTIFICATE_CONTENT_TYPES.has(opts.contentType.toLowerCase())),
    });
    this.secrets.set(name.toLowerCase(), versions);
  }

  /** The latest version, or the given one. */
  get(name: string, version?: string): SecretVersion | undefined {
    const versions = this.secrets.get(name.toLowerCase());
    if (versions === undefined) return undefined;
    if (version === undefined) return versions[versions.length - 1];
    return versions.find((v) => v.version === version.toLowerCase());
  }

  grantSecretsUser(principalId: string, secret?: string): void {
    this.grants.push({ principalId: principalId.toLowerCase(), secret: secret?.toLowerCase() });
  }

  canGetSecret(principalId: string, secret: string): boolean {
    const p = principalId.toLowerCase();
    const s = secret.toLowerCase();
    return this.grants.some((g) => g.principalId === p && (g.secret === undefined || g.secret === s));
  }

  resourceId(secret?: string): string {
    const vault = `/subscriptions/${SUBSCRIPTION}/resourcegroups/sim-rg/providers/microsoft.keyvault/vaults/${this.vaultName}`;
    return secret === undefined ? vault : `${vault}/secrets/${secret}`;
  }
}

export function createKeyVaultHandler(ctx: SimContext, store: VaultStore): Handler {
  const vaultUrl = `https://${ctx.vaultHost}`;
  const challenge = `Bearer authorization="${ctx.authorityHost}/${ctx.tenantId}", resource="${KEY_VAULT_RESOURCE}"`;

  const unauthorized = (res: http.ServerResponse, message: string): void =>
    sendJson(res, 401, keyVaultError('Unauthorized', message), { 'WWW-Authenticate': challenge, 'x-ms-request-id': randomUUID() });

  return async (req, res, url) => {
    ctx.stats.keyvault++;
    const fault = ctx.faults.take('keyvault', { nth: ctx.stats.keyvault });
    if (fault !== undefined && applyCommonFault(fault, res, keyVaultDefaultError, { 'x-ms-request-id': randomUUID() })) return;

    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (host !== ctx.vaultHost) {
      sendJson(res, 400, keyVaultError('BadParameter', `sim-tenant: no vault at host '${host}' (only ${ctx.vaultHost} exists)`));
      return;
    }
    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    if (req.method !== 'GET' || segments[0] !== 'secrets' || segments.length < 2 || segments.length > 3) {
      sendJson(
        res,
        405,
        keyVaultError(
          'BadParameter',
          `sim-tenant: only GET /secrets/{name}/{version} is simulated, not ${req.method ?? ''} ${url.pathname}`,
        ),
      );
      return;
    }
    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion === null) {
      sendJson(res, 400, keyVaultError('BadParameter', 'The request URI does not contain the api-version query parameter.'));
      return;
    }
    if (!API_VERSIONS.has(apiVersion)) {
      sendJson(
        res,
        400,
        keyVaultError(
          'BadParameter',
          `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`,
        ),
      );
      return;
    }

    // Authentication: the Azure SDK's first request carries no token and expects this challenge.
    const token = bearerToken(req.headers.authorization);
    if (token === undefined || token === '') {
      unauthorized(res, 'AKV10000: Request is missing a Bearer or PoP token.');
      return;
    }
    const check = ctx.signer.check(token);
    if (!check.ok) {
      unauthorized(
        res,
        check.reason === 'expired' ? 'AKV10013: Token has expired.' : 'AKV10020: Invalid token: signature validation failed.',
      );
      return;
    }
    const claims = check.claims;
    const aud = typeof claims['aud'] === 'string' ? claims['aud'] : '';
    if (aud.replace(/\/$/, '') !== KEY_VAULT_RESOURCE) {
      unauthorized(res, `AKV10022: Invalid audience. Expected ${KEY_VAULT_RESOURCE}, found: ${aud}.`);
      return;
    }
    if (claims['tid'] !== ctx.tenantId || claims['iss'] !== accessTokenIssuer(ctx.tenantId)) {
      unauthorized(
        res,
        `AKV10032: Invalid issuer. Expected one of ${accessTokenIssuer(ctx.tenantId)}, https://login.microsoftonline.com/${ctx.tenantId}/v2.0, found: ${String(claims['iss'])}.`,
      );
      return;
    }

    // Authorization (RBAC) comes before existence: without the role, a missing secret is a 403 too.
    const [, name = '', version] = segments;
    const oid = typeof claims['oid'] === 'string' ? claims['oid'] : '';
    if (!store.canGetSecret(oid, name)) {
      const caller = `appid=${String(claims['appid'])};oid=${oid};iss=${String(claims['iss'])}`;
      const message =
        'Caller is not authorized to perform action on resource.\r\n' +
        'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
        `Caller: ${caller}\r\n` +
        "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n" +
        `Resource: '${store.resourceId(name.toLowerCase())}'\r\n` +
        'Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\n' +
        `Vault: ${store.vaultName};location=westeurope\r\n`;
      sendJson(res, 403, keyVaultError('Forbidden', message, 'ForbiddenByRbac'), { 'x-ms-request-id': randomUUID() });
      return;
    }

    const secret = store.get(name, version);
    if (secret === undefined) {
      const what = version === undefined ? name : `${name}/${version}`;
      sendJson(
        res,
        404,
        keyVaultError(
          'SecretNotFound',
          `A secret with (name/id) ${what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
        ),
      );
      return;
    }
    if (!secret.enabled) {
      sendJson(res, 403, keyVaultError('Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled'));
      return;
    }

    sendJson(
      res,
      200,
      {
        value: secret.value,
        ...(secret.contentType !== undefined ? { contentType: secret.contentType } : {}),
        id: `${vaultUrl}/secrets/${secret.name}/${secret.version}`,
        ...(secret.managed ? { managed: true } : {}),
        attributes: {
          enabled: secret.enabled,
          ...(secret.nbf !== undefined ? { nbf: epoch(secret.nbf) } : {}),
          ...(secret.exp !== undefined ? { exp: epoch(secret.exp) } : {}),
          created: epoch(secret.created),
          updated: epoch(secret.created),
          recoveryLevel: 'Recoverable+Purgeable',
          recoverableDays: 90,
        },
        ...(secret.managed ? { kid: `${vaultUrl}/keys/${secret.name}/${secret.version}` } : {}),
        tags: {},
      },
      { 'x-ms-request-id': randomUUID() },
    );
  };
}
