/**
 * X.509 helpers for the sim and for tests: a throw-away CA for the sim's TLS servers, app credential
 * certificates shaped like the ones Key Vault hands out (leaf + intermediate, RSA 2048), and the two encodings
 * Key Vault uses for a certificate's secret (base64 PKCS#12, PEM bundle).
 *
 * Keys come from node:crypto (much faster than forge's pure-JS RSA); forge only builds, signs and packs.
 * Nothing here touches the disk, and no key is ever stored in the repository.
 */
import { X509Certificate, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface IssueOptions {
  commonName: string;
  /** DNS names and IP addresses for subjectAltName (server certificates). */
  altNames?: string[];
  validFrom?: Date;
  validTo?: Date;
  /** Issue a (sub-)CA certificate instead of a leaf. */
  isCa?: boolean;
}

export interface TestCa {
  certPem: string;
  keyPem: string;
  issue(opts: IssueOptions): { certPem: string; keyPem: string };
}

/** A fresh RSA 2048 key pair as PEM (private key PKCS#8). */
export function generateRsaKeyPem(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;

/** A positive random serial (the high bit cleared so DER does not read it as negative). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

function buildCertificate(opts: {
  subjectCn: string;
  publicKeyPem: string;
  issuer: { cn: string; keyPem: string; certPem?: string } | 'self';
  selfKeyPem: string;
  isCa: boolean;
  altNames?: string[];
  validFrom?: Date;
  validTo?: Date;
}): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem);
  cert.serialNumber = randomSerial();
  // Backdate an hour so clocks that are slightly off still accept a certificate issued "now".
  cert.validity.notBefore = opts.validFrom ?? new Date(Date.now() - HOUR_MS);
  cert.validity.notAfter = opts.validTo ?? new Date(Date.now() + (opts.isCa ? 3650 : 365) * DAY_MS);
  const subject = [{ name: 'commonName', value: opts.subjectCn }];
  cert.setSubject(subject);
  const issuerCn = opts.issuer === 'self' ? opts.subjectCn : opts.issuer.cn;
  cert.setIssuer([{ name: 'commonName', value: issuerCn }]);

  const extensions: object[] = [
    { name: 'basicConstraints', cA: opts.isCa, critical: true },
    opts.isCa
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (!opts.isCa) extensions.push({ name: 'extKeyUsage', serverAuth: true, clientAuth: true });
  if (opts.altNames !== undefined && opts.altNames.length > 0) {
    extensions.push({
      name: 'subjectAltName',
      altNames: opts.altNames.map((n) => (isIP(n) !== 0 ? { type: 7, ip: n } : { type: 2, value: n })),
    });
  }
  if (opts.issuer !== 'self' && opts.issuer.certPem !== undefined) {
    const issuerCert = forge.pki.certificateFromPem(opts.issuer.certPem);
    const ski = issuerCert.generateSubjectKeyIdentifier().getBytes();
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: ski });
  }
  cert.setExtensions(extensions);
  const signingKeyPem = opts.issuer === 'self' ? opts.selfKeyPem : opts.issuer.keyPem;
  cert.sign(forge.pki.privateKeyFromPem(signingKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function makeCa(commonName: string, certPem: string, keyPem: string): TestCa {
  return {
    certPem,
    keyPem,
    issue(opts: IssueOptions) {
      const pair = generateRsaKeyPem();
      const leafPem = buildCertificate({
        subjectCn: opts.commonName,
        publicKeyPem: pair.publicKeyPem,
        issuer: { cn: commonName, keyPem, certPem },
        selfKeyPem: pair.privateKeyPem,
        isCa: opts.isCa ?? false,
        ...(opts.altNames !== undefined ? { altNames: opts.altNames } : {}),
        ...(opts.validFrom !== undefined ? { validFrom: opts.validFrom } : {}),
        ...(opts.validTo !== undefined ? { validTo: opts.validTo } : {}),
      });
      return { certPem: leafPem, keyPem: pair.privateKeyPem };
    },
  };
}

/** A self-signed root CA (RSA 2048, SHA-256) that can issue server, client and intermediate certificates. */
export function createCa(commonName: string): TestCa {
  const pair = generateRsaKeyPem();
  const certPem = buildCertificate({
    subjectCn: commonName,
    publicKeyPem: pair.publicKeyPem,
    issuer: 'self',
    selfKeyPem: pair.privateKeyPem,
    isCa: true,
  });
  return makeCa(commonName, certPem, pair.privateKeyPem);
}

/** Wraps an issued CA certificate (e.g. an intermediate) so it can issue in turn. */
function asCa(commonName: string, issued: { certPem: string; keyPem: string }): TestCa {
  return makeCa(commonName, issued.certPem, issued.keyPem);
}

/**
 * The issuing hierarchy for app certificates, created once per process on first use (in memory only):
 * issuing an app certificate then costs one key generation instead of three.
 */
let appIssuer: { root: TestCa; intermediate: TestCa } | undefined;
function getAppIssuer(): { root: TestCa; intermediate: TestCa } {
  if (appIssuer === undefined) {
    const root = createCa('Sim Tenant App Root CA');
    const intermediate = asCa('Sim Tenant App Issuing CA 01', root.issue({ commonName: 'Sim Tenant App Issuing CA 01', isCa: true }));
    appIssuer = { root, intermediate };
  }
  return appIssuer;
}

/**
 * An app credential certificate the way Key Vault stores one: an RSA 2048 leaf (key PKCS#8) issued by an
 * intermediate. `chainPem` is leaf first: [leaf, intermediate, root].
 */
export function createAppCertificate(opts: { validFrom?: Date; validTo?: Date; commonName?: string } = {}): {
  certPem: string;
  keyPem: string;
  chainPem: string[];
} {
  const { root, intermediate } = getAppIssuer();
  const leaf = intermediate.issue({
    commonName: opts.commonName ?? 'entra-users-export',
    ...(opts.validFrom !== undefined ? { validFrom: opts.validFrom } : {}),
    ...(opts.validTo !== undefined ? { validTo: opts.validTo } : {}),
  });
  return { certPem: leaf.certPem, keyPem: leaf.keyPem, chainPem: [leaf.certPem, intermediate.certPem, root.certPem] };
}

/**
 * A base64 PKCS#12 (PFX) like the value of Key Vault's `application/x-pkcs12` secret: the key in a shrouded
 * key bag and the certificates in the given order (Key Vault often returns the leaf last). Key Vault's PFX has
 * no password, i.e. it is protected (MAC and 3DES encryption) with the empty password, which is what
 * `password` defaults to.
 */
export function toPfxBase64(opts: { keyPem: string; certsPem: string[]; password?: string }): string {
  const key = forge.pki.privateKeyFromPem(opts.keyPem);
  const certs = opts.certsPem.map((pem) => forge.pki.certificateFromPem(pem));
  const asn1 = forge.pkcs12.toPkcs12Asn1(key, certs, opts.password ?? '', {
    algorithm: '3des',
    generateLocalKeyId: true,
    friendlyName: 'entra-users-export',
  });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary').toString('base64');
}

/** Like the value of Key Vault's `application/x-pem-file` secret: the private key, then the certificates as given. */
export function toPemBundle(opts: { keyPem: string; certsPem: string[] }): string {
  return [opts.keyPem, ...opts.certsPem].map((pem) => pem.trim()).join('\n') + '\n';
}

function derOf(certPem: string): Buffer {
  return new X509Certificate(certPem).raw;
}

/** SHA-256 thumbprint of a certificate (hex, lowercase): what MSAL's `thumbprintSha256` expects. */
export function sha256Thumbprint(certPem: string): string {
  return createHash('sha256').update(derOf(certPem)).digest('hex');
}

