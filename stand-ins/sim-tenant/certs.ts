/**
 * X.509 helpers for the sim and for tests: a throw-away CA for the sim's TLS servers, app credential
 * certificates shaped like the ones Key Vault hands out (leaf + intermediate, RSA 2048), and the two encodings
 * Key Vault uses for a certificate's secret (base64 PKCS#12, PEM bundle).
 *
 * Keys come from node:crypto (much faster than forge's pure-JS RSA); forge only builds, signs and packs.
 * Nothing here touches the disk, and no key is ever stored in the repository.
 */
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
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

// DER building blocks on forge's ASN.1 encoder, for the structures forge's own X.509 and PKCS#12 builders cannot
// make (they take RSA keys only): values are forge's binary strings.
const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
const universal = (type: number, constructed: boolean, value: string | Asn1[]): Asn1 =>
  asn1.create(asn1.Class.UNIVERSAL, type, constructed, value);
const sequence = (value: Asn1[]): Asn1 => universal(asn1.Type.SEQUENCE, true, value);
const set = (value: Asn1[]): Asn1 => universal(asn1.Type.SET, true, value);
const oid = (value: string): Asn1 => universal(asn1.Type.OID, false, asn1.oidToDer(value).getBytes());
const octets = (bytes: string): Asn1 => universal(asn1.Type.OCTETSTRING, false, bytes);
const integer = (n: number): Asn1 => universal(asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
const asn1Null = (): Asn1 => universal(asn1.Type.NULL, false, '');
const utcTime = (date: Date): Asn1 => universal(asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date));
/** `[0] EXPLICIT value`. */
const explicit = (value: Asn1): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [value]);
const derBytes = (node: Asn1): string => asn1.toDer(node).getBytes();

/** Key types that Key Vault can create besides RSA (EC curves, "Create Certificate" KeyProperties crv), and Ed25519. */
export type NonRsaKeyType = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'ed25519';

const NON_RSA: Record<NonRsaKeyType, { generate: () => KeyObject; signatureOid: string; digest: string | null }> = {
  // Signature algorithm OIDs, no parameters: ecdsa-with-SHA256/384/512 (RFC 5758 §3.2), Ed25519 (RFC 8410 §3).
  'ec-p256': {
    generate: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    signatureOid: '1.2.840.10045.4.3.2',
    digest: 'sha256',
  },
  'ec-p384': {
    generate: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
    signatureOid: '1.2.840.10045.4.3.3',
    digest: 'sha384',
  },
  'ec-p521': {
    generate: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey,
    signatureOid: '1.2.840.10045.4.3.4',
    digest: 'sha512',
  },
  ed25519: { generate: () => generateKeyPairSync('ed25519').privateKey, signatureOid: '1.3.101.112', digest: null },
};

/**
 * A certificate with a non-RSA key, like the one Key Vault creates for a policy with key type EC — self-signed
 * (issuer Self), or `issuedByAppCa`: issued by the same RSA intermediate as createAppCertificate's, chain
 * [leaf, intermediate, root] (as from a CA integrated with Key Vault) — or an Ed25519 one imported from
 * elsewhere. forge's X.509 code knows RSA keys only, so the certificate is assembled with forge's DER encoder
 * and signed with node:crypto. Key PKCS#8 PEM.
 */
export function createNonRsaCertificate(opts: {
  keyType: NonRsaKeyType;
  commonName?: string;
  validFrom?: Date;
  validTo?: Date;
  issuedByAppCa?: boolean;
}): {
  certPem: string;
  keyPem: string;
  chainPem: string[];
} {
  const kind = NON_RSA[opts.keyType];
  const privateKey = kind.generate();
  const spkiDer = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const subject = forge.pki.distinguishedNameToAsn1({
    attributes: [
      {
        name: 'commonName',
        type: forge.pki.oids.commonName!,
        value: opts.commonName ?? 'entra-users-export',
        valueTagClass: asn1.Type.UTF8 as number,
      },
    ],
  });
  const ca = opts.issuedByAppCa ? getAppIssuer().intermediate : undefined;
  const signer = ca
    ? {
        // sha256WithRSAEncryption, parameters NULL (RFC 4055 §5).
        algorithm: sequence([oid(forge.pki.oids.sha256WithRSAEncryption!), asn1Null()]),
        issuer: forge.pki.distinguishedNameToAsn1(forge.pki.certificateFromPem(ca.certPem).subject),
        sign: (tbs: Buffer): Buffer => sign('sha256', tbs, ca.keyPem),
      }
    : { algorithm: sequence([oid(kind.signatureOid)]), issuer: subject, sign: (tbs: Buffer): Buffer => sign(kind.digest, tbs, privateKey) };
  // TBSCertificate (RFC 5280 §4.1): v3, serial, signature algorithm, issuer, validity, subject, SPKI.
  const tbs = sequence([
    explicit(integer(2)),
    universal(asn1.Type.INTEGER, false, forge.util.hexToBytes(randomSerial())),
    signer.algorithm,
    signer.issuer,
    sequence([utcTime(opts.validFrom ?? new Date(Date.now() - HOUR_MS)), utcTime(opts.validTo ?? new Date(Date.now() + 365 * DAY_MS))]),
    subject,
    asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary'))),
  ]);
  const signature = signer.sign(Buffer.from(derBytes(tbs), 'binary'));
  const certificate = sequence([tbs, signer.algorithm, universal(asn1.Type.BITSTRING, false, `\u0000${signature.toString('binary')}`)]);
  const certPem = new X509Certificate(Buffer.from(derBytes(certificate), 'binary')).toString();
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem, chainPem: ca ? [certPem, ca.certPem, getAppIssuer().root.certPem] : [certPem] };
}

/**
 * A base64 PKCS#12 (PFX) like the value of Key Vault's `application/x-pkcs12` secret: the key in a shrouded
 * key bag and the certificates in the given order (Key Vault often returns the leaf last). Key Vault's PFX has
 * no password, i.e. it is protected (MAC and 3DES encryption) with the empty password, which is what
 * `password` defaults to. Any key type: forge packs RSA keys itself; others are packed by pkcs12OfAnyKey.
 */
export function toPfxBase64(opts: { keyPem: string; certsPem: string[]; password?: string }): string {
  if (createPrivateKey(opts.keyPem).asymmetricKeyType !== 'rsa') return pkcs12OfAnyKey(opts);
  const key = forge.pki.privateKeyFromPem(opts.keyPem);
  const certs = opts.certsPem.map((pem) => forge.pki.certificateFromPem(pem));
  const pfx = forge.pkcs12.toPkcs12Asn1(key, certs, opts.password ?? '', {
    algorithm: '3des',
    generateLocalKeyId: true,
    friendlyName: 'entra-users-export',
  });
  return Buffer.from(derBytes(pfx), 'binary').toString('base64');
}

/**
 * The PKCS#12 that forge.pkcs12.toPkcs12Asn1 builds (RFC 7292: certificates in a `data` SafeContents, the
 * key as a 3DES pkcs8ShroudedKeyBag, localKeyId on the key and the first certificate, HMAC-SHA1 MacData)
 * for a key of any type: forge's builder converts the key and the certificates through its RSA-only
 * objects, so here the PKCS#8 and certificate DER go in as they are.
 */
function pkcs12OfAnyKey(opts: { keyPem: string; certsPem: string[]; password?: string }): string {
  const { pki } = forge;
  const password = opts.password ?? '';
  const dataContent = (safeContents: Asn1): Asn1 => sequence([oid(pki.oids.data!), explicit(octets(derBytes(safeContents)))]);

  const certsDer = opts.certsPem.map((pem) => new X509Certificate(pem).raw.toString('binary'));
  const localKeyId = createHash('sha1')
    .update(Buffer.from(certsDer[0] ?? '', 'binary'))
    .digest('binary');
  const attributes = set([sequence([oid(pki.oids.localKeyId!), set([octets(localKeyId)])])]);
  const certBags = certsDer.map((certDer, i) =>
    sequence([
      oid(pki.oids.certBag!),
      explicit(sequence([oid(pki.oids.x509Certificate!), explicit(octets(certDer))])),
      ...(i === 0 ? [attributes] : []),
    ]),
  );
  const pkcs8 = asn1.fromDer(createPrivateKey(opts.keyPem).export({ type: 'pkcs8', format: 'der' }).toString('binary'));
  const keyBag = sequence([
    oid(pki.oids.pkcs8ShroudedKeyBag!),
    explicit(pki.encryptPrivateKeyInfo(pkcs8, password, { algorithm: '3des' })),
    attributes,
  ]);
  const authenticatedSafe = sequence([dataContent(sequence(certBags)), dataContent(sequence([keyBag]))]);

  const macSalt = forge.util.createBuffer(randomBytes(8).toString('binary'));
  const iterations = 2048;
  const hmac = forge.hmac.create();
  hmac.start(forge.md.sha1.create(), forge.pkcs12.generateKey(password, macSalt, 3, iterations, 20));
  hmac.update(derBytes(authenticatedSafe));
  const macData = sequence([
    sequence([sequence([oid(pki.oids.sha1!), asn1Null()]), octets(hmac.getMac().getBytes())]),
    octets(macSalt.getBytes()),
    integer(iterations),
  ]);
  const pfx = sequence([integer(3), dataContent(authenticatedSafe), macData]);
  return Buffer.from(derBytes(pfx), 'binary').toString('base64');
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
