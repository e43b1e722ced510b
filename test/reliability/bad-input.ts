/**
 * The bad-input catalogue: settings, credential material and Graph oddities, each with the message and exit
 * code it must produce and — for failures — nothing written (the lane's container, seeded with a snapshot,
 * is unchanged, latest.json included). It extends test/integration/error-table.test.ts and
 * export-faults.test.ts (which keep their own cases) and feeds docs/reliability.md.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID } from 'node:crypto';
import forge from 'node-forge';
import { createAppCertificate, toPemBundle, toPfxBase64 } from '../../stand-ins/sim-tenant/certs.js';
import type { FaultRule } from '../../stand-ins/sim-tenant/index.js';
import { assertFailure, assertSnapshot, containerState, type Lane, type ReliabilitySuite } from './harness.js';
import { MATRIX_POOL } from './fault-matrix.js';

export interface ArmContext {
  suite: ReliabilitySuite;
  lane: Lane;
  /** Stores `value` in the lane's Key Vault under a fresh name the system identity may read; returns the name. */
  vaultSecret(value: string, contentType: string | undefined, options?: { enabled?: boolean }): string;
  fault(rule: FaultRule): void;
}

/** Environment overrides: undefined unsets a setting. */
type Overrides = Record<string, string | undefined>;

export interface BadInput {
  id: string;
  group: 'settings' | 'credential material' | 'Graph and authority oddities';
  /** What is wrong, as the catalogue says it. */
  input: string;
  /** Environment overrides (undefined unsets a setting); may set up the sim. */
  arm(ctx: ArmContext): Overrides;
  /** Exit code, error code and message; exit 0 = the oddity is absorbed and the run succeeds. */
  expect: { exitCode: 0 | 1 | 2; code?: string; message: RegExp };
  /** Replace the lane environment instead of overriding it. */
  replaceEnv?: boolean;
}

const CERT = 'GRAPH_CLIENT_CERTIFICATE_NAME';
const SECRET = 'GRAPH_CLIENT_SECRET_NAME';

/** Overrides that make the lane use the Key Vault object `name` as its certificate. */
const asCertificate = (name: string): Overrides => ({ [CERT]: name, [SECRET]: undefined });

function newCertificate(
  ctx: ArmContext,
  opts: { validFrom?: Date; validTo?: Date } = {},
): { certPem: string; keyPem: string; chainPem: string[] } {
  const cert = createAppCertificate(opts);
  ctx.suite.addPrivateKey(`bad-input private key ${cert.certPem.slice(-40, -30)}`, cert.keyPem);
  return cert;
}

export const BAD_INPUTS: readonly BadInput[] = [
  // ------------------------------------------------------------------------------------------ settings
  {
    id: 'S01',
    group: 'settings',
    input: 'no settings at all',
    replaceEnv: true,
    arm: () => ({}),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message:
        /Invalid settings \(5 problems\): GRAPH_TENANT_ID is missing.* GRAPH_CLIENT_ID is missing.* KEY_VAULT_URL is missing.* GRAPH_CLIENT_CERTIFICATE_NAME, GRAPH_CLIENT_SECRET_NAME or GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing.* EXPORT_STORAGE__blobServiceUri or EXPORT_STORAGE is missing/,
    },
  },
  {
    id: 'S02',
    group: 'settings',
    input: 'GRAPH_TENANT_ID missing',
    arm: () => ({ GRAPH_TENANT_ID: undefined }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message:
        /Invalid settings \(1 problem\): GRAPH_TENANT_ID is missing: set it to the directory \(tenant\) ID, a GUID, or a verified domain/,
    },
  },
  {
    id: 'S03',
    group: 'settings',
    input: "GRAPH_TENANT_ID 'common'",
    arm: () => ({ GRAPH_TENANT_ID: 'common' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /GRAPH_TENANT_ID is 'common': the client-credentials flow needs a specific tenant ID \(GUID\) or verified domain/,
    },
  },
  {
    id: 'S04',
    group: 'settings',
    input: 'GRAPH_TENANT_ID neither a GUID nor a domain',
    arm: () => ({ GRAPH_TENANT_ID: 'contoso tenant' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /GRAPH_TENANT_ID is 'contoso tenant': expected a tenant ID \(GUID\) or a verified domain/,
    },
  },
  {
    id: 'S05',
    group: 'settings',
    input: 'GRAPH_CLIENT_ID not a GUID',
    arm: () => ({ GRAPH_CLIENT_ID: 'entra-users-export' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /GRAPH_CLIENT_ID is 'entra-users-export': expected the application \(client\) ID, a GUID/,
    },
  },
  {
    id: 'S06',
    group: 'settings',
    input: 'KEY_VAULT_URL not a URL',
    arm: () => ({ KEY_VAULT_URL: 'contoso kv' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /KEY_VAULT_URL is 'contoso kv': not a URL; expected e\.g\. https:\/\/contoso-kv\.vault\.azure\.net\//,
    },
  },
  {
    id: 'S07',
    group: 'settings',
    input: 'KEY_VAULT_URL over http',
    arm: () => ({ KEY_VAULT_URL: 'http://contoso-kv.vault.azure.net/' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /KEY_VAULT_URL is 'http:\/\/contoso-kv\.vault\.azure\.net\/': must use https/,
    },
  },
  {
    id: 'S08',
    group: 'settings',
    input: 'KEY_VAULT_URL with a path (a secret URL)',
    arm: () => ({ KEY_VAULT_URL: 'https://contoso-kv.vault.azure.net/secrets/graph' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /KEY_VAULT_URL is '.*\/secrets\/graph': expected just the service root without a path or query/,
    },
  },
  {
    id: 'S09',
    group: 'settings',
    input: 'both credential names, nothing else wrong',
    arm: () => ({ [CERT]: 'graph-cert', [SECRET]: 'graph-secret' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /Invalid settings \(1 problem\): GRAPH_CLIENT_SECRET_NAME and GRAPH_CLIENT_CERTIFICATE_NAME are both set: set exactly one/,
    },
  },
  {
    id: 'S10',
    group: 'settings',
    input: 'certificate name with characters Key Vault refuses',
    arm: () => ({ [CERT]: 'graph_cert!', [SECRET]: undefined }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /GRAPH_CLIENT_CERTIFICATE_NAME is 'graph_cert!': a Key Vault certificate name has 1-127 letters, digits and hyphens/,
    },
  },
  {
    id: 'S11',
    group: 'settings',
    input: 'secret name of 128 characters',
    arm: () => ({ [SECRET]: 'a'.repeat(128), [CERT]: undefined }),
    expect: { exitCode: 2, code: 'InvalidSettings', message: /GRAPH_CLIENT_SECRET_NAME is 'a{128}': a Key Vault secret name has 1-127/ },
  },
  {
    id: 'S12',
    group: 'settings',
    input: 'GRAPH_AUTHORITY_HOST without a scheme',
    arm: () => ({ GRAPH_AUTHORITY_HOST: 'login.microsoftonline.com' }),
    expect: { exitCode: 2, code: 'InvalidSettings', message: /GRAPH_AUTHORITY_HOST is 'login\.microsoftonline\.com': not a URL/ },
  },
  {
    id: 'S13',
    group: 'settings',
    input: 'GRAPH_AUTHORITY_HOST over http',
    arm: () => ({ GRAPH_AUTHORITY_HOST: 'http://login.microsoftonline.com' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /GRAPH_AUTHORITY_HOST is 'http:\/\/login\.microsoftonline\.com': must use https/,
    },
  },
  {
    id: 'S14',
    group: 'settings',
    input: 'GRAPH_ENDPOINT with the /v1.0 path',
    arm: () => ({ GRAPH_ENDPOINT: 'https://graph.microsoft.com/v1.0' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /GRAPH_ENDPOINT is 'https:\/\/graph\.microsoft\.com\/v1\.0': expected just the service root/,
    },
  },
  {
    id: 'S15',
    group: 'settings',
    input: 'USERS_SELECT with a space in a property name',
    arm: () => ({ USERS_SELECT: 'id,display name' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /USERS_SELECT is 'id,display name': expected a comma-separated list of user property names/,
    },
  },
  {
    id: 'S16',
    group: 'settings',
    input: 'EXPORT_STORAGE not a connection string',
    arm: () => ({ EXPORT_STORAGE: 'storage-account-key' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /EXPORT_STORAGE is not a storage connection string: expected DefaultEndpointsProtocol=https;AccountName=/,
    },
  },
  {
    id: 'S17',
    group: 'settings',
    input: 'both EXPORT_STORAGE and EXPORT_STORAGE__blobServiceUri',
    arm: () => ({ EXPORT_STORAGE__blobServiceUri: 'https://acct.blob.core.windows.net' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /EXPORT_STORAGE and EXPORT_STORAGE__blobServiceUri are both set: set exactly one/,
    },
  },
  {
    id: 'S18',
    group: 'settings',
    input: 'neither EXPORT_STORAGE nor EXPORT_STORAGE__blobServiceUri',
    arm: () => ({ EXPORT_STORAGE: undefined }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message:
        /EXPORT_STORAGE__blobServiceUri or EXPORT_STORAGE is missing: set EXPORT_STORAGE__blobServiceUri to https:\/\/<account>\.blob\.core\.windows\.net/,
    },
  },
  {
    id: 'S19',
    group: 'settings',
    input: 'EXPORT_STORAGE__blobServiceUri over http',
    arm: () => ({ EXPORT_STORAGE: undefined, EXPORT_STORAGE__blobServiceUri: 'http://acct.blob.core.windows.net' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /EXPORT_STORAGE__blobServiceUri is 'http:\/\/acct\.blob\.core\.windows\.net': must use https/,
    },
  },
  {
    id: 'S20',
    group: 'settings',
    input: 'EXPORT_CONTAINER with capitals',
    arm: () => ({ EXPORT_CONTAINER: 'UserExports' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /EXPORT_CONTAINER is 'UserExports': a container name has 3-63 lowercase letters, digits and single hyphens/,
    },
  },
  {
    id: 'S21',
    group: 'settings',
    input: 'EXPORT_CONTAINER of two characters',
    arm: () => ({ EXPORT_CONTAINER: 'ue' }),
    expect: { exitCode: 2, code: 'InvalidSettings', message: /EXPORT_CONTAINER is 'ue': a container name has 3-63/ },
  },
  {
    id: 'S22',
    group: 'settings',
    input: 'unknown EXPORT_FORMAT',
    arm: () => ({ EXPORT_FORMAT: 'csv' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /Invalid settings \(1 problem\): EXPORT_FORMAT is 'csv': expected one of 'json', 'ndjson'\./,
    },
  },
  {
    id: 'S23',
    group: 'settings',
    input: 'unknown EXPORT_COMPRESSION',
    arm: () => ({ EXPORT_COMPRESSION: 'zip' }),
    expect: { exitCode: 2, code: 'InvalidSettings', message: /EXPORT_COMPRESSION is 'zip': expected one of 'none', 'gzip'\./ },
  },
  {
    id: 'S24',
    group: 'settings',
    input: 'EXPORT_SCHEDULE with five fields (Unix cron)',
    arm: () => ({ EXPORT_SCHEDULE: '0 2 * * *' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message:
        /EXPORT_SCHEDULE is '0 2 \* \* \*': expected an NCRONTAB expression with six fields \{second\} \{minute\} \{hour\} \{day\} \{month\} \{day-of-week\}/,
    },
  },
  {
    id: 'S25',
    group: 'settings',
    input: 'EXPORT_SCHEDULE with hour 25',
    arm: () => ({ EXPORT_SCHEDULE: '0 0 25 * * *' }),
    expect: { exitCode: 2, code: 'InvalidSettings', message: /EXPORT_SCHEDULE is '0 0 25 \* \* \*': expected an NCRONTAB expression/ },
  },
  {
    id: 'S26',
    group: 'settings',
    input: 'AZURE_CLIENT_ID not a GUID',
    arm: () => ({ AZURE_CLIENT_ID: 'my-identity' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /AZURE_CLIENT_ID is 'my-identity': expected the client ID \(a GUID\) of the user-assigned managed identity/,
    },
  },
  {
    id: 'S27',
    group: 'settings',
    input: 'EXPORT_REQUEST_TIMEOUT_SECONDS 0',
    arm: () => ({ EXPORT_REQUEST_TIMEOUT_SECONDS: '0' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /EXPORT_REQUEST_TIMEOUT_SECONDS is '0': expected a number of seconds from 1 to 3600/,
    },
  },
  {
    id: 'S28',
    group: 'settings',
    input: 'EXPORT_REQUEST_TIMEOUT_SECONDS not a number',
    arm: () => ({ EXPORT_REQUEST_TIMEOUT_SECONDS: '30s' }),
    expect: { exitCode: 2, code: 'InvalidSettings', message: /EXPORT_REQUEST_TIMEOUT_SECONDS is '30s': expected a number of seconds/ },
  },

  // ------------------------------------------------------------------------------------------ credential material
  {
    id: 'C01',
    group: 'credential material',
    input: 'PFX protected by a password',
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx);
      const pfx = toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem, password: 'Pa55word!' });
      ctx.suite.addPfx('bad-input PFX with password', pfx);
      return asCertificate(ctx.vaultSecret(pfx, 'application/x-pkcs12'));
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /the PFX is protected by a password; Key Vault stores certificates without one/,
    },
  },
  {
    id: 'C02',
    group: 'credential material',
    input: 'PFX value that is not base64',
    arm: (ctx) => asCertificate(ctx.vaultSecret('this is not base64!', 'application/x-pkcs12')),
    expect: { exitCode: 2, code: 'CredentialMaterialInvalid', message: /: the PFX is not base64\. The certificate must be exportable/ },
  },
  {
    id: 'C03',
    group: 'credential material',
    input: 'PFX with the certificates only (non-exportable key)',
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx);
      const asn1 = forge.pkcs12.toPkcs12Asn1(
        null,
        cert.chainPem.map((p) => forge.pki.certificateFromPem(p)),
        '',
        { algorithm: '3des' },
      );
      return asCertificate(
        ctx.vaultSecret(Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary').toString('base64'), 'application/x-pkcs12'),
      );
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /it contains no private key \(a certificate created with a non-exportable key gives only its public part\)/,
    },
  },
  {
    id: 'C04',
    group: 'credential material',
    input: 'PFX whose key belongs to another certificate',
    arm: (ctx: ArmContext): Overrides => {
      const a = newCertificate(ctx);
      const b = newCertificate(ctx);
      return asCertificate(ctx.vaultSecret(toPfxBase64({ keyPem: b.keyPem, certsPem: a.chainPem }), 'application/x-pkcs12'));
    },
    expect: { exitCode: 2, code: 'CredentialMaterialInvalid', message: /its private key does not match any of its certificates/ },
  },
  {
    id: 'C05',
    group: 'credential material',
    input: 'PEM with a password-encrypted private key',
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx);
      const encrypted = createPrivateKey(cert.keyPem)
        .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'Pa55word!' })
        .toString();
      return asCertificate(ctx.vaultSecret(toPemBundle({ keyPem: encrypted, certsPem: cert.chainPem }), 'application/x-pem-file'));
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /its private key is encrypted with a password; Key Vault stores PEM keys unencrypted/,
    },
  },
  {
    id: 'C06',
    group: 'credential material',
    input: 'PEM content type, but no PEM blocks',
    arm: (ctx) => asCertificate(ctx.vaultSecret('just some text', 'application/x-pem-file')),
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /: the PEM file has no PEM blocks\. The certificate must be exportable/,
    },
  },
  {
    id: 'C07',
    group: 'credential material',
    input: 'PEM with the private key only, no certificate',
    arm: (ctx) => asCertificate(ctx.vaultSecret(newCertificate(ctx).keyPem, 'application/x-pem-file')),
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /: it contains no certificate\. The certificate must be exportable/,
    },
  },
  {
    id: 'C08',
    group: 'credential material',
    input: 'PEM with a corrupted certificate block',
    arm: (ctx) =>
      asCertificate(
        ctx.vaultSecret(
          `${newCertificate(ctx).keyPem}\n-----BEGIN CERTIFICATE-----\nTUlJQ2dvZ2JhZ2U=\n-----END CERTIFICATE-----\n`,
          'application/x-pem-file',
        ),
      ),
    expect: { exitCode: 2, code: 'CredentialMaterialInvalid', message: /a certificate in the PEM file could not be read/ },
  },
  {
    id: 'C09',
    group: 'credential material',
    input: 'certificate not yet valid',
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx, {
        validFrom: new Date(Date.now() + 10 * 86_400_000),
        validTo: new Date(Date.now() + 400 * 86_400_000),
      });
      return asCertificate(ctx.vaultSecret(toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pem-file'));
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /the certificate 'CN=entra-users-export' is not valid before \d{4}-/,
    },
  },
  {
    id: 'C10',
    group: 'credential material',
    input: 'expired certificate (PEM)',
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx, { validFrom: new Date(Date.now() - 400 * 86_400_000), validTo: new Date(Date.now() - 86_400_000) });
      return asCertificate(ctx.vaultSecret(toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pem-file'));
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /expired on \d{4}-.*; renew it in Key Vault and register the new one on the app/,
    },
  },
  {
    id: 'C11',
    group: 'credential material',
    input: "certificate's secret with a wrong content type",
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx);
      return asCertificate(ctx.vaultSecret(toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/json'));
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /the secret of the same name has content type 'application\/json', so it is not a certificate's key and chain/,
    },
  },
  {
    id: 'C12',
    group: 'credential material',
    input: 'GRAPH_CLIENT_SECRET_NAME names a certificate',
    arm: (ctx: ArmContext): Overrides => {
      const cert = newCertificate(ctx);
      const pfx = toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem });
      ctx.suite.addPfx('bad-input PFX as secret', pfx);
      return { [SECRET]: ctx.vaultSecret(pfx, 'application/x-pkcs12'), [CERT]: undefined };
    },
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /holds a certificate \(application\/x-pkcs12\), not a client secret: set GRAPH_CLIENT_CERTIFICATE_NAME=/,
    },
  },
  {
    id: 'C13',
    group: 'credential material',
    input: 'empty client secret',
    arm: (ctx) => ({ [SECRET]: ctx.vaultSecret('', 'text/plain'), [CERT]: undefined }),
    expect: {
      exitCode: 2,
      code: 'CredentialMaterialInvalid',
      message: /Key Vault secret '.*' \(GRAPH_CLIENT_SECRET_NAME\) is empty: store the app's client secret value in it/,
    },
  },
  {
    id: 'C14',
    group: 'credential material',
    input: 'disabled Key Vault secret',
    arm: (ctx) => ({ [SECRET]: ctx.vaultSecret('whatever-secret-value', 'text/plain', { enabled: false }), [CERT]: undefined }),
    expect: {
      exitCode: 2,
      code: 'KeyVaultForbidden',
      message: /refused to read the secret '.*' \(GRAPH_CLIENT_SECRET_NAME\): it is disabled/,
    },
  },
  {
    id: 'C15',
    group: 'credential material',
    input: 'secret name not in the vault',
    arm: () => ({ [SECRET]: 'no-such-secret', [CERT]: undefined }),
    expect: {
      exitCode: 2,
      code: 'KeyVaultNotFound',
      message: /has no secret 'no-such-secret' \(HTTP 404\): check GRAPH_CLIENT_SECRET_NAME and KEY_VAULT_URL/,
    },
  },
  {
    id: 'C16',
    group: 'credential material',
    input: 'identity granted Key Vault Secrets User on another secret only',
    arm: (ctx: ArmContext): Overrides => {
      const identity = ctx.lane.sim.addUserAssignedIdentity();
      const other = ctx.vaultSecret('other-secret-value', 'text/plain');
      ctx.lane.sim.grantKeyVaultSecretsUser(identity.principalId, { secret: other });
      return { AZURE_CLIENT_ID: identity.clientId, [SECRET]: ctx.vaultSecret('target-secret-value', 'text/plain'), [CERT]: undefined };
    },
    expect: {
      exitCode: 2,
      code: 'KeyVaultForbidden',
      message: /with HTTP 403: the function's identity lacks the 'Key Vault Secrets User' role on the vault \(or on that secret\)/,
    },
  },

  // ------------------------------------------------------------------------------------------ Graph and authority oddities
  {
    id: 'G01',
    group: 'Graph and authority oddities',
    input: 'Graph page answered 200 with an HTML page (a captive proxy)',
    arm: (ctx) => (
      ctx.fault({
        target: 'graph',
        page: 1,
        times: Infinity,
        fault: { kind: 'status', status: 200, body: '<html><body>Sign in to the proxy</body></html>', contentType: 'text/html' },
      }),
      {}
    ),
    expect: {
      exitCode: 1,
      code: 'GraphProtocolError',
      message: /answered .*\(next page\) with HTTP 200 but a body that is not JSON \(text\/html\); a proxy in between may have replaced it/,
    },
  },
  {
    id: 'G02',
    group: 'Graph and authority oddities',
    input: 'Graph answered 502 with an HTML gateway page on every attempt',
    arm: (ctx) => (ctx.fault({ target: 'graph', page: 0, times: Infinity, fault: { kind: 'html', status: 502 } }), {}),
    expect: {
      exitCode: 1,
      code: 'GraphFailed',
      message: /HTTP 502 with a text\/html body, not Graph's JSON error — a proxy or gateway between here and .* answered instead of Graph/,
    },
  },
  {
    id: 'G03',
    group: 'Graph and authority oddities',
    input: '@odata.nextLink to a foreign host (the foreign host must receive nothing)',
    arm: (ctx) => (ctx.fault({ target: 'graph', page: 0, times: Infinity, fault: { kind: 'foreign-nextlink' } }), {}),
    expect: {
      exitCode: 1,
      code: 'GraphProtocolError',
      message:
        /returned an @odata\.nextLink to https:\/\/evil\.localhost:\d+, which is not GRAPH_ENDPOINT .*; the export refuses to send its token to another host/,
    },
  },
  {
    id: 'G04',
    group: 'Graph and authority oddities',
    input: 'expired $skiptoken once (the listing restarts from the first page)',
    arm: (ctx) => (ctx.fault({ target: 'graph', page: 2, fault: { kind: 'expire-skiptoken' } }), {}),
    expect: { exitCode: 0, message: /Graph page token expired at page 2; restarting the listing from the first page \(restart 1 of 3\)/ },
  },
  {
    id: 'G05',
    group: 'Graph and authority oddities',
    input: '$skiptoken expires on every restart',
    arm: (ctx) => (ctx.fault({ target: 'graph', page: 1, times: Infinity, fault: { kind: 'expire-skiptoken' } }), {}),
    expect: {
      exitCode: 1,
      code: 'GraphFailed',
      message: /Microsoft Graph expired the listing's page token 4 times; the tenant may be too large to list before page tokens expire/,
    },
  },
  {
    id: 'G06',
    group: 'Graph and authority oddities',
    input: 'page without value on the first page',
    arm: (ctx) => (ctx.fault({ target: 'graph', page: 0, times: Infinity, fault: { kind: 'no-value' } }), {}),
    expect: {
      exitCode: 1,
      code: 'GraphProtocolError',
      message: /with a page that has no 'value' array; the export stops rather than store an incomplete directory/,
    },
  },
  {
    id: 'G07',
    group: 'Graph and authority oddities',
    input: '401 InvalidAuthenticationToken again after a fresh token',
    arm: (ctx) => (ctx.fault({ target: 'graph', page: 1, times: 2, fault: { kind: 'invalid-token' } }), {}),
    expect: {
      exitCode: 1,
      code: 'GraphUnauthorized',
      message: /Microsoft Graph rejected the access token twice \(HTTP 401 InvalidAuthenticationToken/,
    },
  },
  {
    id: 'G08',
    group: 'Graph and authority oddities',
    input: 'USERS_SELECT names a property users do not have',
    arm: () => ({ USERS_SELECT: 'id,favouriteColour' }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message: /Microsoft Graph rejected the users query \(HTTP 400 Request_BadRequest: Could not find a property named 'favouriteColour'/,
    },
  },
  // endsWith(mail,…) is served as an advanced query (test/integration/advanced-query.test.ts); on displayName not even then.
  {
    id: 'G09',
    group: 'Graph and authority oddities',
    input: 'USERS_FILTER Graph does not support, even as an advanced query',
    arm: () => ({ USERS_FILTER: "endswith(displayName,'x')" }),
    expect: {
      exitCode: 2,
      code: 'InvalidSettings',
      message:
        /Microsoft Graph does not support USERS_FILTER even as an advanced query \(ConsistencyLevel: eventual, .*\): HTTP 400 Request_UnsupportedQuery/,
    },
  },
  {
    id: 'G10',
    group: 'Graph and authority oddities',
    input: 'token endpoint answered 200 with an HTML page',
    arm: (ctx) => (
      ctx.fault({
        target: 'token',
        times: Infinity,
        fault: { kind: 'status', status: 200, body: '<html>Proxy login</html>', contentType: 'text/html' },
      }),
      {}
    ),
    expect: { exitCode: 1, code: 'TokenRequestFailed', message: /Getting a Microsoft Graph token from .* failed: .*not JSON/ },
  },
  {
    id: 'G11',
    group: 'Graph and authority oddities',
    input: 'token endpoint throttling (429 + AADSTS body) on every attempt',
    arm: (ctx) => (ctx.fault({ target: 'token', times: Infinity, fault: { kind: 'status', status: 429, retryAfter: 0 } }), {}),
    expect: { exitCode: 1, code: 'TokenRequestFailed', message: /Getting a Microsoft Graph token from .* failed/ },
  },
  {
    id: 'G12',
    group: 'Graph and authority oddities',
    input: 'GRAPH_AUTHORITY_HOST answers its OpenID document with HTML',
    arm: (ctx) => (
      ctx.fault({
        target: 'openid',
        times: Infinity,
        fault: { kind: 'status', status: 200, body: '<html>Welcome</html>', contentType: 'text/html' },
      }),
      {}
    ),
    expect: {
      exitCode: 2,
      code: 'TokenRequestRejected',
      message: /Reading the OpenID configuration .* failed with HTTP 200: check GRAPH_AUTHORITY_HOST/,
    },
  },
];

export async function runBadInput(suite: ReliabilitySuite, entry: BadInput): Promise<void> {
  await suite.withLane(MATRIX_POOL, async (lane) => {
    const ctx: ArmContext = {
      suite,
      lane,
      vaultSecret(value, contentType, options = {}) {
        const name = `bad-${randomUUID().slice(0, 8)}`;
        // The lane's system identity holds the role on the whole vault; a case that needs a narrower grant
        // uses its own user-assigned identity (C16).
        lane.sim.setSecret(name, value, {
          ...(contentType !== undefined ? { contentType } : {}),
          ...(options.enabled === false ? { enabled: false } : {}),
        });
        return name;
      },
      fault: (rule) => lane.sim.addFault(rule),
    };
    const before = await containerState(lane.container);
    const overrides = entry.arm(ctx);
    const env = entry.replaceEnv ? { ...overrides } : { ...lane.env, ...overrides };
    for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete env[k];
    const result = await suite.run(env, `bad input ${entry.id}: ${entry.input}`);
    suite.figures.badInputs.push(entry.id);
    if (entry.expect.exitCode === 0) {
      await assertSnapshot(lane.world, lane.env, result);
      assert.match(result.stderr, entry.expect.message);
      return;
    }
    assertFailure(result, { exitCode: entry.expect.exitCode, message: entry.expect.message });
    if (entry.expect.code)
      assert.ok(result.stderr.includes(`export failed [${entry.expect.code}]:`), `error code ${entry.expect.code}:\n${result.stderr}`);
    assert.deepEqual(await containerState(lane.container), before, 'nothing written, latest.json untouched');
    if (entry.id === 'G03') {
      const foreign = result.egress.filter((r) => r.host !== new URL(lane.sim.graphEndpoint).hostname && r.host.includes('evil'));
      assert.deepEqual(foreign, [], 'the foreign host received nothing');
    }
  });
}
