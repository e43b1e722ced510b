import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import forge from 'node-forge';
import { createAppCertificate, createCa, sha256Thumbprint, toPemBundle, toPfxBase64 } from '../../../stand-ins/sim-tenant/certs.js';

test('createCa issues server certificates that chain to it, with DNS and IP SANs', () => {
  const ca = createCa('Test Root');
  const caCert = new X509Certificate(ca.certPem);
  assert.equal(caCert.ca, true);
  const leaf = ca.issue({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const leafCert = new X509Certificate(leaf.certPem);
  assert.equal(leafCert.ca, false);
  assert.ok(leafCert.checkIssued(caCert) && leafCert.verify(caCert.publicKey));
  assert.equal(leafCert.checkHost('localhost'), 'localhost');
  assert.equal(leafCert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.ok(leafCert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
});

test('createAppCertificate: RSA 2048 leaf (PKCS#8 key) + intermediate + root, leaf first, honouring validity', () => {
  const validTo = new Date(Date.now() + 86_400_000);
  const app = createAppCertificate({ commonName: 'my-app', validTo });
  assert.equal(createPrivateKey(app.keyPem).export({ type: 'pkcs8', format: 'pem' }), app.keyPem, 'the key is PKCS#8 PEM');
  assert.equal(createPublicKey(app.keyPem).asymmetricKeyDetails?.modulusLength, 2048);
  const [leaf, intermediate, root] = app.chainPem.map((p) => new X509Certificate(p));
  assert.ok(leaf && intermediate && root);
  assert.equal(app.certPem, app.chainPem[0]);
  assert.match(leaf.subject, /CN=my-app/);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(app.keyPem)));
  assert.ok(leaf.verify(intermediate.publicKey) && intermediate.verify(root.publicKey));
  assert.equal(intermediate.ca, true);
  assert.ok(Math.abs(Date.parse(leaf.validTo) - validTo.getTime()) < 1000);

  const expired = createAppCertificate({ validFrom: new Date(Date.now() - 10 * 86_400_000), validTo: new Date(Date.now() - 86_400_000) });
  assert.ok(Date.parse(new X509Certificate(expired.certPem).validTo) < Date.now());
});

test('toPfxBase64 builds a PKCS#12 (empty password, like Key Vault) holding the key and the certificates in the given order', () => {
  const app = createAppCertificate();
  const reversed = [...app.chainPem].reverse();
  const der = Buffer.from(toPfxBase64({ keyPem: app.keyPem, certsPem: reversed }), 'base64');
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), '');
  const certBag = forge.pki.oids.certBag!;
  const keyBag = forge.pki.oids.pkcs8ShroudedKeyBag!;
  const certBags = p12.getBags({ bagType: certBag })[certBag] ?? [];
  const keyBags = p12.getBags({ bagType: keyBag })[keyBag] ?? [];
  assert.equal(keyBags.length, 1);
  const pems = certBags.map((b) => (b.cert ? forge.pki.certificateToPem(b.cert) : ''));
  assert.deepEqual(
    pems.map((p) => sha256Thumbprint(p)),
    reversed.map((p) => sha256Thumbprint(p)),
    'leaf last, as given',
  );
  const key = keyBags[0]?.key;
  assert.ok(key);
  assert.equal(forge.pki.privateKeyToPem(key).length > 0, true);

  const withPassword = Buffer.from(toPfxBase64({ keyPem: app.keyPem, certsPem: app.chainPem, password: 'pw' }), 'base64');
  assert.throws(() => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(withPassword.toString('binary')), 'wrong'));
});

test('toPemBundle is the key then the certificates; sha256Thumbprint is lowercase hex of the DER', () => {
  const app = createAppCertificate();
  const pem = toPemBundle({ keyPem: app.keyPem, certsPem: app.chainPem });
  assert.ok(pem.startsWith(`${app.keyPem}-----BEGIN CERTIFICATE-----`), 'the key, then the certificates');
  assert.equal(pem.match(/BEGIN CERTIFICATE/g)?.length, 3);
  const thumb = sha256Thumbprint(app.certPem);
  assert.match(thumb, /^[0-9a-f]{64}$/);
  assert.equal(thumb, new X509Certificate(app.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
});
