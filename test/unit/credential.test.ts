/**
 * parseCertificateSecret (src/credential.ts): what Key Vault hands out for a certificate (PFX or PEM, the
 * chain in either order) becomes MSAL's certificate credential, and what cannot be used is refused with what
 * to do. A certificate whose key is not RSA (Key Vault creates EC certificates on request; Ed25519 ones can be
 * imported as PEM) is named for what it is — in PFX (where node-forge drops non-RSA keys and certificates)
 * and PEM alike — with how to create an RSA one; never "no private key" or "no certificate".
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { parseCertificateSecret } from '../../src/credential.js';
import { ExportError } from '../../src/errors.js';
import {
  createAppCertificate,
  createNonRsaCertificate,
  sha256Thumbprint,
  toPemBundle,
  toPfxBase64,
  type NonRsaKeyType,
} from '../../stand-ins/sim-tenant/certs.js';

const now = new Date();
const cert = createAppCertificate();
const opts = { name: 'graph-export-cert', now };

function rejects(value: string, contentType: string | undefined, expected: RegExp, options = opts): void {
  assert.throws(
    () => parseCertificateSecret(value, contentType, options),
    (e: unknown) =>
      e instanceof ExportError &&
      e.code === 'CredentialMaterialInvalid' &&
      e.exitCode === 2 &&
      expected.test(e.message) &&
      /must be exportable/.test(e.message),
  );
}

test('PFX with the chain leaf-first and leaf-last gives the same credential', () => {
  const a = parseCertificateSecret(toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pkcs12', opts);
  const b = parseCertificateSecret(
    toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }),
    'application/x-pkcs12',
    opts,
  );
  assert.equal(a.thumbprintSha256, sha256Thumbprint(cert.certPem));
  assert.equal(b.thumbprintSha256, a.thumbprintSha256);
  assert.equal(b.x5c, a.x5c);
  // x5c starts with the leaf, and the key is PKCS#8 matching it.
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(b.x5c)![0];
  assert.equal(new X509Certificate(first).fingerprint256, new X509Certificate(cert.certPem).fingerprint256);
  assert.equal(createPrivateKey(b.privateKeyPem).export({ type: 'pkcs8', format: 'pem' }), b.privateKeyPem, 'the key is PKCS#8 PEM');
  assert.equal(
    createPublicKey(createPrivateKey(b.privateKeyPem)).export({ type: 'spki', format: 'pem' }),
    new X509Certificate(cert.certPem).publicKey.export({ type: 'spki', format: 'pem' }),
  );
  assert.equal((a.x5c.match(/BEGIN CERTIFICATE/g) ?? []).length, cert.chainPem.length);
});

test('PEM with the key after the chain, and content type guessed when absent', () => {
  const pem = [...cert.chainPem].reverse().join('') + cert.keyPem;
  const a = parseCertificateSecret(pem, 'application/x-pem-file', opts);
  const b = parseCertificateSecret(toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), undefined, opts);
  const c = parseCertificateSecret(toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), undefined, opts);
  assert.equal(a.thumbprintSha256, sha256Thumbprint(cert.certPem));
  assert.equal(b.thumbprintSha256, a.thumbprintSha256);
  assert.equal(c.thumbprintSha256, a.thumbprintSha256);
});

test('unreadable, password-protected, keyless, mismatched, expired, not yet valid, wrong content type', () => {
  rejects('%%% not base64 %%%', 'application/x-pkcs12', /the PFX is not base64/);
  rejects(Buffer.from('not a pfx at all').toString('base64'), 'application/x-pkcs12', /could not be read/);
  rejects(
    toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem, password: 'p@ss' }),
    'application/x-pkcs12',
    /protected by a password/,
  );
  rejects(cert.chainPem.join(''), 'application/x-pem-file', /no private key/);
  rejects(cert.keyPem, 'application/x-pem-file', /contains no certificate/);
  rejects('hello', 'application/x-pem-file', /no PEM blocks/);
  rejects(
    toPemBundle({ keyPem: createAppCertificate().keyPem, certsPem: cert.chainPem }),
    'application/x-pem-file',
    /does not match any of its certificates/,
  );
  const expired = createAppCertificate({
    validFrom: new Date(now.getTime() - 10 * 86_400_000),
    validTo: new Date(now.getTime() - 86_400_000),
  });
  rejects(toPemBundle({ keyPem: expired.keyPem, certsPem: expired.chainPem }), 'application/x-pem-file', /expired on/);
  const future = createAppCertificate({
    validFrom: new Date(now.getTime() + 86_400_000),
    validTo: new Date(now.getTime() + 10 * 86_400_000),
  });
  rejects(toPemBundle({ keyPem: future.keyPem, certsPem: future.chainPem }), 'application/x-pem-file', /is not valid before/);
  rejects('secret-value', 'text/plain', /content type 'text\/plain'/);
});

const CASES: { keyType: NonRsaKeyType; named: RegExp }[] = [
  { keyType: 'ec-p256', named: /has a key of type EC \(P-256\),/ },
  { keyType: 'ec-p384', named: /has a key of type EC \(P-384\),/ },
  { keyType: 'ec-p521', named: /has a key of type EC \(P-521\),/ },
  { keyType: 'ed25519', named: /has a key of type Ed25519,/ },
];

function assertNamesKeyType(value: string, contentType: string, named: RegExp): void {
  assert.throws(
    () => parseCertificateSecret(value, contentType, opts),
    (e: unknown) => {
      assert.ok(e instanceof ExportError, String(e));
      assert.equal(e.code, 'CredentialMaterialInvalid');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /^Key Vault certificate 'graph-export-cert' \(GRAPH_CLIENT_CERTIFICATE_NAME\)/);
      assert.match(e.message, named);
      assert.match(e.message, /client assertions are signed with RSA \(PS256\) and need an RSA key/);
      assert.match(e.message, /key type RSA, 2048 bits or more/);
      assert.doesNotMatch(e.message, /no private key|contains no certificate|could not be read|does not match/);
      assert.doesNotMatch(e.message, /BEGIN|PRIVATE KEY/, 'no key material in the message');
      return true;
    },
  );
}

for (const { keyType, named } of CASES) {
  test(`${keyType}: PFX (application/x-pkcs12) names the key type and asks for RSA`, () => {
    const cert = createNonRsaCertificate({ keyType });
    assertNamesKeyType(toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pkcs12', named);
  });

  test(`${keyType}: PEM (application/x-pem-file) names the key type and asks for RSA`, () => {
    const cert = createNonRsaCertificate({ keyType });
    assertNamesKeyType(toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pem-file', named);
  });
}

test('EC leaf issued by an RSA CA, chain leaf-last in the PFX: names EC, not "no private key"', () => {
  const cert = createNonRsaCertificate({ keyType: 'ec-p256', issuedByAppCa: true });
  const [leaf, intermediate] = cert.chainPem.map((pem) => new X509Certificate(pem));
  assert.ok(leaf!.checkIssued(intermediate!) && leaf!.verify(intermediate!.publicKey), 'issued and signed by the RSA intermediate');
  assertNamesKeyType(
    toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }),
    'application/x-pkcs12',
    /has a key of type EC \(P-256\),/,
  );
  assertNamesKeyType(
    toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }),
    'application/x-pem-file',
    /has a key of type EC \(P-256\),/,
  );
});

test('the test EC certificate is what Key Vault hands out: self-signed, its key matches, the PFX holds both', () => {
  const cert = createNonRsaCertificate({ keyType: 'ec-p256' });
  const x509 = new X509Certificate(cert.certPem);
  assert.equal(x509.publicKey.asymmetricKeyType, 'ec');
  assert.ok(x509.verify(x509.publicKey), 'self-signed');
  // Without the key type check, the same PFX would be read as a key and a certificate that match: the
  // message is about the key type, not about material that could not be found.
  const pfx = toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem });
  assert.throws(() => parseCertificateSecret(pfx, undefined, opts), /has a key of type EC \(P-256\),/);
});

test('an EC key with an RSA certificate is still a mismatch, and an expired EC certificate is named by its key first', () => {
  const rsa = createAppCertificate();
  const ec = createNonRsaCertificate({ keyType: 'ec-p256' });
  assert.throws(
    () => parseCertificateSecret(toPfxBase64({ keyPem: ec.keyPem, certsPem: rsa.chainPem }), 'application/x-pkcs12', opts),
    /private key does not match any of its certificates/,
  );
  const expired = createNonRsaCertificate({
    keyType: 'ec-p256',
    validFrom: new Date(Date.now() - 10 * 86_400_000),
    validTo: new Date(Date.now() - 86_400_000),
  });
  assert.throws(
    () => parseCertificateSecret(toPfxBase64({ keyPem: expired.keyPem, certsPem: expired.chainPem }), 'application/x-pkcs12', opts),
    /has a key of type EC \(P-256\),/,
  );
});
