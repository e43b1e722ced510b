/**
 * The Graph app's credential, read from Key Vault with the function's own identity.
 *
 * A client secret is a Key Vault secret. A certificate's key and chain are the secret of the same name,
 * stored by Key Vault as `application/x-pkcs12` (base64 PFX without a password) or
 * `application/x-pem-file`; the chain may come in any order, so the leaf is the certificate that matches
 * the private key. MSAL gets the SHA-256 thumbprint, the key as PKCS#8 PEM and the chain for `x5c`.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { SecretClient, type KeyVaultSecret } from '@azure/keyvault-secrets';
import forge from 'node-forge';
import { exportError, statusOf, type ExportError } from './errors.js';
import { describeAzureError } from './azure-errors.js';
import type { FederatedCredential } from './federated-credential.js';
import type { KeyVaultCredentialSetting } from './settings.js';
import { createTransport, type Transport } from './transport.js';

export type GraphCredential =
  | { kind: 'secret'; clientSecret: string; fingerprint: string }
  | {
      kind: 'certificate';
      /** Hex SHA-256 of the leaf certificate (DER). */
      thumbprintSha256: string;
      /** PKCS#8 PEM. */
      privateKeyPem: string;
      /** PEM chain, leaf first, sent as the assertion's `x5c` header. */
      x5c: string;
      subject: string;
      notAfter: Date;
      fingerprint: string;
    }
  | FederatedCredential;

const PKCS12 = 'application/x-pkcs12';
const PEM = 'application/x-pem-file';

/** Reads the credential named by the settings from Key Vault. */
export async function loadGraphCredential(
  settings: { keyVaultUrl: string; credential: KeyVaultCredentialSetting; requestTimeoutMs: number },
  azureCredential: TokenCredential,
  options: { now?: Date; transport?: Transport } = {},
): Promise<GraphCredential> {
  const { name, kind } = settings.credential;
  const settingName = kind === 'secret' ? 'GRAPH_CLIENT_SECRET_NAME' : 'GRAPH_CLIENT_CERTIFICATE_NAME';
  const client = new SecretClient(settings.keyVaultUrl, azureCredential, (options.transport ?? createTransport(settings)).keyVault);
  let secret: KeyVaultSecret;
  try {
    secret = await client.getSecret(name);
  } catch (e) {
    throw keyVaultError(e, settings.keyVaultUrl, kind, name, settingName);
  }
  const value = secret.value ?? '';
  const contentType = secret.properties.contentType?.toLowerCase().trim();
  if (kind === 'secret') {
    if (contentType === PKCS12 || contentType === PEM) {
      throw exportError('CredentialMaterialInvalid', { kind: 'secretIsCertificate', name, contentType });
    }
    if (value.trim() === '') {
      throw exportError('CredentialMaterialInvalid', { kind: 'secretEmpty', name });
    }
    return { kind: 'secret', clientSecret: value, fingerprint: sha256Hex(value) };
  }
  return parseCertificateSecret(value, contentType, { name, now: options.now ?? new Date() });
}

/**
 * Turns the secret value behind a Key Vault certificate into MSAL's certificate credential.
 * Exported for unit tests; `contentType` undefined means "guess from the value".
 */
export function parseCertificateSecret(
  value: string,
  contentType: string | undefined,
  options: { name: string; now: Date },
): GraphCredential & { kind: 'certificate' } {
  const { name, now } = options;
  const invalid = (what: string): ExportError => exportError('CredentialMaterialInvalid', { kind: 'certificateUnusable', name, what });

  let material: { keys: KeyObject[]; certs: X509Certificate[] };
  if (contentType === PKCS12 || (contentType === undefined && !value.includes('-----BEGIN'))) {
    material = readPkcs12(value, invalid);
  } else if (contentType === PEM || contentType === undefined) {
    material = readPem(value, invalid);
  } else {
    throw invalid(
      `the secret of the same name has content type '${contentType}', so it is not a certificate's key and chain (expected ${PKCS12} or ${PEM})`,
    );
  }

  if (material.certs.length === 0) throw invalid('it contains no certificate');
  if (material.keys.length === 0)
    throw invalid('it contains no private key (a certificate created with a non-exportable key gives only its public part)');
  let leaf: X509Certificate | undefined;
  let key: KeyObject | undefined;
  for (const k of material.keys) {
    leaf = material.certs.find((c) => c.checkPrivateKey(k));
    if (leaf) {
      key = k;
      break;
    }
  }
  if (!leaf || !key) throw invalid('its private key does not match any of its certificates');
  if (key.asymmetricKeyType !== 'rsa') {
    // MSAL signs the client assertion with PS256 (RS256 with a SHA-1 thumbprint): RSA only
    // (AzureAD/microsoft-authentication-library-for-js lib/msal-node/src/client/ClientAssertion.ts), as
    // "Microsoft identity platform certificate credentials" specifies the header: alg PS256
    // (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
    throw exportError('CredentialMaterialInvalid', { kind: 'keyNotRsa', name, keyType: keyTypeLabel(key) });
  }

  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore)
    throw invalid(`the certificate '${leaf.subject.replace(/\n/g, ', ')}' is not valid before ${notBefore.toISOString()}`);
  if (now > notAfter)
    throw invalid(
      `the certificate '${leaf.subject.replace(/\n/g, ', ')}' expired on ${notAfter.toISOString()}; renew it in Key Vault and register the new one on the app`,
    );

  const thumbprintSha256 = leaf.fingerprint256.replace(/:/g, '').toLowerCase();
  const chain = orderChain(leaf, material.certs);
  return {
    kind: 'certificate',
    thumbprintSha256,
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    x5c: chain.map((c) => c.toString()).join(''),
    subject: leaf.subject.replace(/\n/g, ', '),
    notAfter,
    fingerprint: thumbprintSha256,
  };
}

/**
 * "EC (P-256)", "Ed25519", … — the key's algorithm as Node reads it from its PKCS#8 PrivateKeyInfo, with the
 * curve under Key Vault's name for it ("Create Certificate", KeyProperties.crv: P-256, P-384, P-521, P-256K:
 * https://learn.microsoft.com/rest/api/keyvault/certificates/create-certificate/create-certificate).
 */
function keyTypeLabel(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521', secp256k1: 'P-256K' };
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve ? `EC (${curves[curve] ?? curve})` : 'EC';
  }
  const names: Record<string, string> = { ed25519: 'Ed25519', ed448: 'Ed448', 'rsa-pss': 'RSA-PSS (restricted to PSS)' };
  return type ? (names[type] ?? type.toUpperCase()) : 'unknown';
}

/** Leaf first, then each certificate's issuer in turn (the order x5c requires); any others last. */
function orderChain(leaf: X509Certificate, certs: readonly X509Certificate[]): X509Certificate[] {
  const chain = [leaf];
  const rest = certs.filter((c) => c !== leaf);
  for (let current = leaf; ;) {
    const issuer = rest.find((c) => current.checkIssued(c) && c !== current);
    if (!issuer) break;
    chain.push(issuer);
    rest.splice(rest.indexOf(issuer), 1);
    current = issuer;
  }
  return [...chain, ...rest];
}

function readPkcs12(value: string, invalid: (what: string) => ExportError): { keys: KeyObject[]; certs: X509Certificate[] } {
  const compact = value.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw invalid('the PFX is not base64');
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.decode64(compact));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, '');
  } catch (e) {
    const message = e instanceof Error ? e.message : '';
    if (/MAC could not be verified|Invalid password/i.test(message)) {
      throw invalid(
        'the PFX is protected by a password; Key Vault stores certificates without one (import it with `az keyvault certificate import --password ...`)',
      );
    }
    if (/not RSA/i.test(message)) throw invalid('its key is not RSA, but Microsoft Entra client assertions need an RSA key');
    throw invalid('the PFX (PKCS#12) could not be read');
  }
  const keys: KeyObject[] = [];
  const certs: X509Certificate[] = [];
  // forge reads RSA keys and certificates only: for any other key type (EC, Ed25519, …) it leaves `key` /
  // `cert` null and keeps the decrypted PrivateKeyInfo / the certificate as ASN.1 in `asn1` (node-forge
  // lib/pkcs12.js, _decodeSafeContents: "ignore unknown key type, pass asn1 value"). Node reads those DER.
  const der = (asn1: forge.asn1.Asn1): Buffer => Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
  try {
    for (const bagType of [forge.pki.oids.pkcs8ShroudedKeyBag!, forge.pki.oids.keyBag!]) {
      for (const bag of p12.getBags({ bagType })[bagType] ?? []) {
        if (bag.key) keys.push(createPrivateKey(forge.pki.privateKeyToPem(bag.key)));
        else if (bag.asn1) keys.push(createPrivateKey({ key: der(bag.asn1), format: 'der', type: 'pkcs8' }));
      }
    }
    for (const bag of p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? []) {
      if (bag.cert) certs.push(new X509Certificate(forge.pki.certificateToPem(bag.cert)));
      else if (bag.asn1) certs.push(new X509Certificate(der(bag.asn1)));
    }
  } catch {
    throw invalid('a key or certificate inside the PFX could not be read');
  }
  return { keys, certs };
}

function readPem(value: string, invalid: (what: string) => ExportError): { keys: KeyObject[]; certs: X509Certificate[] } {
  const blocks = [...value.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g)];
  if (blocks.length === 0) throw invalid('the PEM file has no PEM blocks');
  const keys: KeyObject[] = [];
  const certs: X509Certificate[] = [];
  for (const [block, label] of blocks) {
    if (label === 'CERTIFICATE') {
      try {
        certs.push(new X509Certificate(block));
      } catch {
        throw invalid('a certificate in the PEM file could not be read');
      }
    } else if (label === 'ENCRYPTED PRIVATE KEY') {
      throw invalid('its private key is encrypted with a password; Key Vault stores PEM keys unencrypted');
    } else if (label!.endsWith('PRIVATE KEY')) {
      try {
        keys.push(createPrivateKey(block));
      } catch {
        throw invalid('the private key in the PEM file could not be read');
      }
    }
  }
  return { keys, certs };
}

function keyVaultError(e: unknown, vaultUrl: string, kind: 'secret' | 'certificate', name: string, settingName: string): ExportError {
  const status = statusOf(e);
  const object = { vaultUrl, kind, name, settingName };
  if (status === 403)
    return exportError('KeyVaultForbidden', { ...object, disabled: e instanceof Error && /disabled/i.test(e.message) }, { cause: e });
  if (status === 404) return exportError('KeyVaultNotFound', object, { cause: e });
  return describeAzureError(e, `reading the ${kind} '${name}' (${settingName}) from Key Vault ${vaultUrl}`, 'KeyVaultFailed');
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
