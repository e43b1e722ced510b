/**
 * The provisioning scripts: shell syntax (bash -n / sh -n), --help, argument errors, and their behaviour
 * against a fake `az` on PATH that records every call — idempotency (a second run changes nothing) and,
 * for the client secret, that the password is never printed and no file holding it is left behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { after, test } from 'node:test';
import { createAppCertificate } from '../../stand-ins/sim-tenant/certs.js';
import { ROOT } from './helpers.js';

const CERT = path.join(ROOT, 'scripts', 'provision-certificate.sh');
const SECRET = path.join(ROOT, 'scripts', 'provision-secret.sh');
const STAGE = path.join(ROOT, 'scripts', 'azd-hooks', 'stage-package.sh');
const HOOK = path.join(ROOT, 'scripts', 'azd-hooks', 'postprovision.sh');
/** The fake client secret, random per run (no secret-shaped literal in the repository), with a '~' like Entra's. */
const PASSWORD = `${randomBytes(15).toString('base64url')}~${randomBytes(15).toString('base64url')}`;

/** A fake Azure CLI (fixtures/fake-az.sh): state in $FAKE_AZ_STATE, one line per call in $FAKE_AZ_STATE/calls. */
const FAKE_AZ = path.join(ROOT, 'test', 'infra', 'fixtures', 'fake-az.sh');

interface Run {
  status: number | null;
  out: string;
  calls: string[];
  state: string;
  tmp: string;
}

/** The vault's certificate in the fake (a real one, made at test time): what `keyvault certificate download` returns. */
const VAULT_CERT_PEM = createAppCertificate().certPem;

const sandboxes: string[] = [];
after(() => {
  for (const d of sandboxes) fs.rmSync(d, { recursive: true, force: true });
});

function sandbox(): { env: NodeJS.ProcessEnv; state: string; tmp: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infra-scripts-'));
  sandboxes.push(dir);
  const bin = path.join(dir, 'bin');
  const state = path.join(dir, 'state');
  const tmp = path.join(dir, 'tmp');
  for (const d of [bin, state, tmp]) fs.mkdirSync(d);
  fs.copyFileSync(FAKE_AZ, path.join(bin, 'az'));
  fs.chmodSync(path.join(bin, 'az'), 0o755);
  fs.writeFileSync(path.join(state, 'cert.pem'), VAULT_CERT_PEM);
  const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir, TMPDIR: tmp, FAKE_AZ_STATE: state, FAKE_PASSWORD: PASSWORD, LANG: 'C' };
  return { env, state, tmp };
}

function run(file: string, args: string[], box = sandbox(), extraEnv: NodeJS.ProcessEnv = {}): Run {
  const shell = file.endsWith('stage-package.sh') || file.endsWith('postprovision.sh') ? 'sh' : 'bash';
  const r = spawnSync(shell, [file, ...args], { env: { ...box.env, ...extraEnv }, encoding: 'utf8', timeout: 20_000 });
  const callsFile = path.join(box.state, 'calls');
  return {
    status: r.status,
    out: `${r.stdout}${r.stderr}`,
    calls: fs.existsSync(callsFile) ? fs.readFileSync(callsFile, 'utf8').trim().split('\n') : [],
    state: box.state,
    tmp: box.tmp,
  };
}

test('shell syntax of every provisioning script (bash -n / sh -n)', () => {
  for (const [shell, f] of [['bash', CERT], ['bash', SECRET], ['sh', STAGE], ['sh', HOOK]] as const) {
    const r = spawnSync(shell, ['-n', f], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${shell} -n ${path.basename(f)}: ${r.stderr}`);
    assert.match(fs.readFileSync(f, 'utf8'), shell === 'bash' ? /^set -euo pipefail$/m : /^set -eu$/m);
  }
});

test('--help prints the usage and exits 0; bad or missing arguments exit 2 before calling az', () => {
  for (const f of [CERT, SECRET]) {
    const help = run(f, ['--help']);
    assert.equal(help.status, 0);
    assert.match(help.out, /^Usage: scripts\/provision-/m);
    assert.deepEqual(help.calls, []);
    const missing = run(f, []);
    assert.equal(missing.status, 2, missing.out);
    assert.match(missing.out, /--vault .* is required/);
    assert.deepEqual(missing.calls, []);
    const unknown = run(f, ['--vault', 'kv', '--app-id', 'a', '--bogus']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.out, /unknown argument: --bogus/);
  }
  assert.equal(run(CERT, ['--vault', 'kv', '--app-id', 'a', '--format', 'der']).status, 2);
  assert.equal(run(CERT, ['--vault', 'kv', '--app-id', 'a', '--validity-months', '0']).status, 2);
  assert.equal(run(SECRET, ['--vault', 'kv', '--app-id', 'a', '--years', '5']).status, 2);
  const stageHelp = run(STAGE, ['--help']);
  assert.equal(stageHelp.status, 0);
  assert.match(stageHelp.out, /^Stages the function app's deployment package/);
  assert.match(stageHelp.out, /^Usage: scripts\/azd-hooks\/stage-package\.sh/m);
  assert.match(stageHelp.out, /\nNeeds: [^\n]*\n$/, 'the help is the header comment, up to its last line');
});

test('provision-certificate: creates an exportable RSA 2048 certificate and registers it; a second run changes nothing', () => {
  const box = sandbox();
  const first = run(CERT, ['--vault', 'kv-test', '--app-id', '11111111-2222-3333-4444-555555555555'], box);
  assert.equal(first.status, 0, first.out);
  const policy = JSON.parse(fs.readFileSync(path.join(box.state, 'policy.json'), 'utf8')) as {
    keyProperties: { exportable: boolean; keyType: string; keySize: number };
    secretProperties: { contentType: string };
    x509CertificateProperties: { subject: string; validityInMonths: number };
    issuerParameters: { name: string };
  };
  assert.deepEqual(policy.keyProperties, { exportable: true, keyType: 'RSA', keySize: 2048, reuseKey: false });
  assert.equal(policy.secretProperties.contentType, 'application/x-pem-file');
  assert.equal(policy.x509CertificateProperties.subject, 'CN=entra-users-export');
  assert.equal(policy.x509CertificateProperties.validityInMonths, 12);
  assert.equal(policy.issuerParameters.name, 'Self');
  assert.ok(first.calls.some((c) => c.startsWith('keyvault certificate create --vault-name kv-test -n graph-export-cert')));
  assert.ok(first.calls.some((c) => /^keyvault certificate download .* -e PEM$/.test(c)));
  assert.ok(first.calls.some((c) => /^ad app credential reset --id 11111111-2222-3333-4444-555555555555 --cert @.*public\.pem --append/.test(c)));
  assert.match(first.out, /GRAPH_CLIENT_CERTIFICATE_NAME=graph-export-cert/);

  fs.rmSync(path.join(box.state, 'calls'));
  const second = run(CERT, ['--vault', 'kv-test', '--app-id', '11111111-2222-3333-4444-555555555555'], box);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /exists and is valid .*: reusing it/);
  assert.match(second.out, /already registered/);
  assert.ok(!second.calls.some((c) => c.startsWith('keyvault certificate create') || c.startsWith('ad app credential reset')), second.calls.join('\n'));

  const pfx = sandbox();
  const r = run(CERT, ['--vault', 'kv', '--no-register', '--format', 'pkcs12', '--subject', 'CN=contoso-export', '--validity-months', '6'], pfx);
  assert.equal(r.status, 0, r.out);
  const p2 = JSON.parse(fs.readFileSync(path.join(pfx.state, 'policy.json'), 'utf8')) as typeof policy;
  assert.equal(p2.secretProperties.contentType, 'application/x-pkcs12');
  assert.equal(p2.x509CertificateProperties.subject, 'CN=contoso-export');
  assert.equal(p2.x509CertificateProperties.validityInMonths, 6);
  assert.ok(!r.calls.some((c) => c.startsWith('ad app')));
});

test('provision-certificate: a certificate already on the app is recognised in every format az prints its customKeyIdentifier in, so a re-run adds nothing', () => {
  const args = ['--vault', 'kv-test', '--app-id', 'app-1'];
  const thumbprint = new X509Certificate(VAULT_CERT_PEM).fingerprint.replace(/:/g, '');
  // What Graph stores when az registers the certificate, as az prints it: the SHA-1 thumbprint in hex.
  const first = sandbox();
  assert.equal(run(CERT, args, first).status, 0);
  const listed = spawnSync('az', ['ad', 'app', 'credential', 'list', '--id', 'app-1', '--cert', '--query', '[].customKeyIdentifier', '-o', 'tsv'], { env: first.env, encoding: 'utf8' });
  assert.equal(listed.stdout, `${thumbprint}\n`, "the fake answers in Graph's format: the certificate's SHA-1 thumbprint, 40 uppercase hex characters");

  for (const [label, env] of [
    ["Graph's hex thumbprint", {}],
    ['az on Windows (CRLF line ends)', { FAKE_AZ_CRLF: '1' }],
    ['base64 of the thumbprint bytes (set by another tool)', { FAKE_AZ_KEY_ID_FORMAT: 'base64' }],
    ['base64, CRLF', { FAKE_AZ_KEY_ID_FORMAT: 'base64', FAKE_AZ_CRLF: '1' }],
  ] as const) {
    const box = sandbox();
    const once = run(CERT, args, box, env);
    assert.equal(once.status, 0, `${label}: ${once.out}`);
    assert.equal(once.calls.filter((c) => c.startsWith('ad app credential reset')).length, 1, `${label}: registered on the first run`);
    fs.rmSync(path.join(box.state, 'calls'));
    const again = run(CERT, args, box, env);
    assert.equal(again.status, 0, `${label}: ${again.out}`);
    assert.match(again.out, new RegExp(`already registered`), label);
    assert.deepEqual(again.calls.filter((c) => c.startsWith('ad app credential reset')), [], `${label}: not appended again`);
    assert.equal(fs.readFileSync(path.join(box.state, 'registered'), 'utf8').trim().split('\n').length, 1, `${label}: one key credential on the app`);
  }

  // Another certificate on the app (an older version, say) is not this one: register this one.
  const other = sandbox();
  fs.writeFileSync(path.join(other.state, 'registered'), `${'AB'.repeat(20)}\n`);
  const r = run(CERT, args, other);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.calls.filter((c) => c.startsWith('ad app credential reset')).length, 1);
});

test('provision-secret: stores the client secret without ever printing it, leaves no copy, and is idempotent', () => {
  const box = sandbox();
  const first = run(SECRET, ['--vault', 'kv-test', '--app-id', 'app-1', '--name', 'graph-export-secret'], box);
  assert.equal(first.status, 0, first.out);
  assert.ok(!first.out.includes(PASSWORD), 'the password is not in the output');
  assert.ok(!first.calls.join('\n').includes(PASSWORD), 'the password is not on any command line');
  assert.equal(fs.readFileSync(path.join(box.state, 'secret'), 'utf8'), PASSWORD, 'stored exactly, without a newline');
  assert.ok(first.calls.some((c) => /^ad app credential reset --id app-1 --append --display-name .* --years 1 --query password -o tsv$/.test(c)));
  assert.ok(first.calls.some((c) => /^keyvault secret set --vault-name kv-test -n graph-export-secret --file \S+ --encoding utf-8 .*--expires \d{4}-/.test(c)));
  assert.deepEqual(fs.readdirSync(first.tmp), [], 'the temporary files are gone');
  assert.match(first.out, /GRAPH_CLIENT_SECRET_NAME=graph-export-secret/);

  fs.rmSync(path.join(box.state, 'calls'));
  const second = run(SECRET, ['--vault', 'kv-test', '--app-id', 'app-1', '--name', 'graph-export-secret'], box);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /keeping it/);
  assert.ok(!second.calls.some((c) => c.startsWith('ad app credential reset') || c.startsWith('keyvault secret set')));

  const rotated = run(SECRET, ['--vault', 'kv-test', '--app-id', 'app-1', '--name', 'graph-export-secret', '--rotate'], box);
  assert.equal(rotated.status, 0, rotated.out);
  assert.ok(rotated.calls.some((c) => c.startsWith('ad app credential reset')));
  assert.ok(!rotated.out.includes(PASSWORD));
});

test('provision-certificate: waiting for the creation, a pending operation gone (NotFound) means completed; any other answer of az stops it', () => {
  const gone = run(CERT, ['--vault', 'kv', '--no-register'], sandbox(), { FAKE_AZ_PENDING: 'notfound' });
  assert.equal(gone.status, 0, gone.out);
  assert.match(gone.out, /^Done\./m);

  const denied = run(CERT, ['--vault', 'kv', '--no-register'], sandbox(), { FAKE_AZ_PENDING: 'error' });
  assert.equal(denied.status, 4, denied.out);
  assert.match(denied.out, /\(Forbidden\) Caller is not authorized/, 'az\'s error is shown');
  assert.match(denied.out, /^provision-certificate: cannot read the creation of certificate graph-export-cert in kv/m);
  assert.doesNotMatch(denied.out, /^Done\./m);

  const failed = run(CERT, ['--vault', 'kv', '--no-register'], sandbox(), { FAKE_AZ_PENDING: 'failed' });
  assert.equal(failed.status, 4, failed.out);
  assert.match(failed.out, /certificate creation ended with status 'failed'/);
});

test('a credential still valid is kept on the next run (azd provision runs the scripts every time); one expiring within --renew-within-days is renewed', () => {
  // The real `az ... --query "[attributes.enabled, attributes.expires]" -o tsv` prints one value per line
  // (the fake's default); a tab-separated row is read the same way.
  for (const row of [false, true])
    for (const [script, args, creates] of [
      [CERT, ['--vault', 'kv-test', '--app-id', 'app-1'], /^keyvault certificate create /],
      [SECRET, ['--vault', 'kv-test', '--app-id', 'app-1'], /^(ad app credential reset|keyvault secret set) /],
    ] as const) {
      const label = `${path.basename(script)}${row ? ' (tab-separated)' : ''}`;
      const box = sandbox();
      const env = row ? { FAKE_AZ_TSV_ROW: '1' } : {};
      const first = run(script, [...args], box, env);
      assert.equal(first.status, 0, `${label}: ${first.out}`);
      assert.ok(first.calls.some((c) => creates.test(c)), `${label}: the first run creates the credential`);

      fs.rmSync(path.join(box.state, 'calls'));
      const again = run(script, [...args], box, env);
      assert.equal(again.status, 0, `${label}: ${again.out}`);
      assert.match(again.out, /valid for 36[45] more days/, label);
      assert.deepEqual(again.calls.filter((c) => creates.test(c)), [], `${label}: nothing new while the credential is valid`);

      fs.rmSync(path.join(box.state, 'calls'));
      const expiring = run(script, [...args], box, { ...env, FAKE_AZ_EXPIRES_IN_DAYS: '10' });
      assert.equal(expiring.status, 0, `${label}: ${expiring.out}`);
      assert.ok(expiring.calls.some((c) => creates.test(c)), `${label}: a credential expiring in 10 days (< 30) is renewed`);
    }
});

test('the azd postprovision hook provisions the credential type the deployment chose', () => {
  const none = run(HOOK, [], sandbox(), { AZURE_KEY_VAULT_NAME: 'kv', GRAPH_CLIENT_ID: '' });
  assert.equal(none.status, 0);
  assert.match(none.out, /GRAPH_CLIENT_ID is empty/);
  assert.deepEqual(none.calls, []);

  const cert = run(HOOK, [], sandbox(), { AZURE_KEY_VAULT_NAME: 'kv', GRAPH_CLIENT_ID: 'app', GRAPH_CREDENTIAL_TYPE: 'certificate', GRAPH_CREDENTIAL_NAME: 'graph-export-cert' });
  assert.equal(cert.status, 0, cert.out);
  assert.ok(cert.calls.some((c) => c.startsWith('keyvault certificate create --vault-name kv -n graph-export-cert')));

  const secret = run(HOOK, [], sandbox(), { AZURE_KEY_VAULT_NAME: 'kv', GRAPH_CLIENT_ID: 'app', GRAPH_CREDENTIAL_TYPE: 'secret', GRAPH_CREDENTIAL_NAME: 'graph-secret' });
  assert.equal(secret.status, 0, secret.out);
  assert.ok(secret.calls.some((c) => c.startsWith('keyvault secret set --vault-name kv -n graph-secret')));
  assert.ok(!secret.out.includes(PASSWORD));

  const skip = run(HOOK, [], sandbox(), { SKIP_CREDENTIAL_PROVISIONING: 'true' });
  assert.equal(skip.status, 0);
  assert.deepEqual(skip.calls, []);
});
