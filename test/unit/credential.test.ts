import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { parseCertificateSecret } from '../../src/credential.js';
import { ExportError } from '../../src/errors.js';
import { createAppCertificate, sha256Thumbprint, toPemBundle, toPfxBase64 } from '../../stand-ins/sim-tenant/certs.js';

const now = new Date();
const cert = createAppCertificate();
const opts = { name: 'graph-export-cert', now };

function rejects(value: string, contentType: string | undefined, expected: RegExp, options = opts): void {
  assert.throws(
    () => parseCertificateSecret(value, contentType, options),
    (e: unknown) => e instanceof ExportError && e.code === 'CredentialMaterialInvalid' && e.exitCode === 2 && expected.test(e.message) && /must be exportable/.test(e.message),
  );
}

test('PFX with the chain leaf-first and leaf-last gives the same credential', () => {
  const a = parseCertificateSecret(toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem }), 'application/x-pkcs12', opts);
  const b = parseCertificateSecret(toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }), 'application/x-pkcs12', opts);
  assert.equal(a.thumbprintSha256, sha256Thumbprint(cert.certPem));
  assert.equal(b.thumbprintSha256, a.thumbprintSha256);
  assert.equal(b.x5c, a.x5c);
  // x5c starts with the leaf, and the key is PKCS#8 matching it.
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(b.x5c)![0];
  assert.equal(new X509Certificate(first).fingerprint256, new X509Certificate(cert.certPem).fingerprint256);
  assert.equal(createPrivateKey(b.privateKeyPem).export({ type: 'pkcs8', format: 'pem' }), b.privateKeyPem, 'the key is PKCS#8 PEM');
  assert.equal(createPublicKey(createPrivateKey(b.privateKeyPem)).export({ type: 'spki', format: 'pem' }), new X509Certificate(cert.certPem).publicKey.export({ type: 'spki', format: 'pem' }));
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
  rejects(toPfxBase64({ keyPem: cert.keyPem, certsPem: cert.chainPem, password: 'p@ss' }), 'application/x-pkcs12', /protected by a password/);
  rejects(cert.chainPem.join(''), 'application/x-pem-file', /no private key/);
  rejects(cert.keyPem, 'application/x-pem-file', /contains no certificate/);
  rejects('hello', 'application/x-pem-file', /no PEM blocks/);
  rejects(toPemBundle({ keyPem: createAppCertificate().keyPem, certsPem: cert.chainPem }), 'application/x-pem-file', /does not match any of its certificates/);
  const expired = createAppCertificate({ validFrom: new Date(now.getTime() - 10 * 86_400_000), validTo: new Date(now.getTime() - 86_400_000) });
  rejects(toPemBundle({ keyPem: expired.keyPem, certsPem: expired.chainPem }), 'application/x-pem-file', /expired on/);
  const future = createAppCertificate({ validFrom: new Date(now.getTime() + 86_400_000), validTo: new Date(now.getTime() + 10 * 86_400_000) });
  rejects(toPemBundle({ keyPem: future.keyPem, certsPem: future.chainPem }), 'application/x-pem-file', /is not valid before/);
  rejects('secret-value', 'text/plain', /content type 'text\/plain'/);
});
