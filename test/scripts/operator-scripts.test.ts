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
import { ROOT } from '../infra/helpers.js';

const CERT = path.join(ROOT, 'scripts', 'provision-certificate.sh');
const SECRET = path.join(ROOT, 'scripts', 'provision-secret.sh');
const FEDERATED = path.join(ROOT, 'scripts', 'provision-federated.sh');
const STAGE = path.join(ROOT, 'scripts', 'azd-hooks', 'stage-package.sh');
const HOOK = path.join(ROOT, 'scripts', 'azd-hooks', 'postprovision.sh');
/** The fake client secret, random per run (no secret-shaped literal in the repository), with a '~' like Entra's. */
const PASSWORD = `${randomBytes(15).toString('base64url')}~${randomBytes(15).toString('base64url')}`;

/** A fake Azure CLI (fixtures/fake-az.sh): state in $FAKE_AZ_STATE, one line per call in $FAKE_AZ_STATE/calls. */
const FAKE_AZ = path.join(ROOT, 'test', 'scripts', 'fixtures', 'fake-az.sh');

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
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: dir,
    TMPDIR: tmp,
    FAKE_AZ_STATE: state,
    FAKE_PASSWORD: PASSWORD,
    LANG: 'C',
  };
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
  for (const [shell, f] of [
    ['bash', CERT],
    ['bash', SECRET],
    ['bash', FEDERATED],
    ['sh', STAGE],
    ['sh', HOOK],
  ] as const) {
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
  assert.ok(
    first.calls.some((c) => /^ad app credential reset --id 11111111-2222-3333-4444-555555555555 --cert @.*public\.pem --append/.test(c)),
  );
  assert.match(first.out, /GRAPH_CLIENT_CERTIFICATE_NAME=graph-export-cert/);

  fs.rmSync(path.join(box.state, 'calls'));
  const second = run(CERT, ['--vault', 'kv-test', '--app-id', '11111111-2222-3333-4444-555555555555'], box);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /exists and is valid .*: reusing it/);
  assert.match(second.out, /already registered/);
  assert.ok(
    !second.calls.some((c) => c.startsWith('keyvault certificate create') || c.startsWith('ad app credential reset')),
    second.calls.join('\n'),
  );

  const pfx = sandbox();
  const r = run(
    CERT,
    ['--vault', 'kv', '--no-register', '--format', 'pkcs12', '--subject', 'CN=contoso-export', '--validity-months', '6'],
    pfx,
  );
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
  const listed = spawnSync(
    'az',
    ['ad', 'app', 'credential', 'list', '--id', 'app-1', '--cert', '--query', '[].customKeyIdentifier', '-o', 'tsv'],
    { env: first.env, encoding: 'utf8' },
  );
  assert.equal(
    listed.stdout,
    `${thumbprint}\n`,
    "the fake answers in Graph's format: the certificate's SHA-1 thumbprint, 40 uppercase hex characters",
  );

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
    assert.deepEqual(
      again.calls.filter((c) => c.startsWith('ad app credential reset')),
      [],
      `${label}: not appended again`,
    );
    assert.equal(
      fs.readFileSync(path.join(box.state, 'registered'), 'utf8').trim().split('\n').length,
      1,
      `${label}: one key credential on the app`,
    );
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
  assert.ok(
    first.calls.some((c) => /^ad app credential reset --id app-1 --append --display-name .* --years 1 --query password -o tsv$/.test(c)),
  );
  assert.ok(
    first.calls.some((c) =>
      /^keyvault secret set --vault-name kv-test -n graph-export-secret --file \S+ --encoding utf-8 .*--expires \d{4}-/.test(c),
    ),
  );
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
  assert.match(denied.out, /\(Forbidden\) Caller is not authorized/, "az's error is shown");
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
      assert.ok(
        first.calls.some((c) => creates.test(c)),
        `${label}: the first run creates the credential`,
      );

      fs.rmSync(path.join(box.state, 'calls'));
      const again = run(script, [...args], box, env);
      assert.equal(again.status, 0, `${label}: ${again.out}`);
      assert.match(again.out, /valid for 36[45] more days/, label);
      assert.deepEqual(
        again.calls.filter((c) => creates.test(c)),
        [],
        `${label}: nothing new while the credential is valid`,
      );

      fs.rmSync(path.join(box.state, 'calls'));
      const expiring = run(script, [...args], box, { ...env, FAKE_AZ_EXPIRES_IN_DAYS: '10' });
      assert.equal(expiring.status, 0, `${label}: ${expiring.out}`);
      assert.ok(
        expiring.calls.some((c) => creates.test(c)),
        `${label}: a credential expiring in 10 days (< 30) is renewed`,
      );
    }
});

test('the azd postprovision hook provisions the credential type the deployment chose', () => {
  const none = run(HOOK, [], sandbox(), { AZURE_KEY_VAULT_NAME: 'kv', GRAPH_CLIENT_ID: '' });
  assert.equal(none.status, 0);
  assert.match(none.out, /GRAPH_CLIENT_ID is empty/);
  assert.deepEqual(none.calls, []);

  const cert = run(HOOK, [], sandbox(), {
    AZURE_KEY_VAULT_NAME: 'kv',
    GRAPH_CLIENT_ID: 'app',
    GRAPH_CREDENTIAL_TYPE: 'certificate',
    GRAPH_CREDENTIAL_NAME: 'graph-export-cert',
  });
  assert.equal(cert.status, 0, cert.out);
  assert.ok(cert.calls.some((c) => c.startsWith('keyvault certificate create --vault-name kv -n graph-export-cert')));

  const secret = run(HOOK, [], sandbox(), {
    AZURE_KEY_VAULT_NAME: 'kv',
    GRAPH_CLIENT_ID: 'app',
    GRAPH_CREDENTIAL_TYPE: 'secret',
    GRAPH_CREDENTIAL_NAME: 'graph-secret',
  });
  assert.equal(secret.status, 0, secret.out);
  assert.ok(secret.calls.some((c) => c.startsWith('keyvault secret set --vault-name kv -n graph-secret')));
  assert.ok(!secret.out.includes(PASSWORD));

  const skip = run(HOOK, [], sandbox(), { SKIP_CREDENTIAL_PROVISIONING: 'true' });
  assert.equal(skip.status, 0);
  assert.deepEqual(skip.calls, []);
});

/** The fake's tenant (fixtures/fake-az.sh: `az account show --query tenantId`) and an identity's principal ID. */
const TENANT = '00000000-0000-4000-8000-00000000a11e';
const PRINCIPAL = '6b1a5c0e-2f4d-4a8b-9c3e-7d1f0a2b4c6e';

interface Fic {
  name: string;
  issuer: string;
  subject: string;
  description: string;
  audiences: string[];
}
const fic = (state: string, name = 'entra-users-export'): Fic =>
  JSON.parse(fs.readFileSync(path.join(state, `fic-${name}.json`), 'utf8')) as Fic;
const ficRows = (state: string): string[] =>
  fs.existsSync(path.join(state, 'fics')) ? fs.readFileSync(path.join(state, 'fics'), 'utf8').trim().split('\n') : [];
const changes = (r: Run): string[] => r.calls.filter((c) => /^ad app federated-credential (create|update)/.test(c));

test('provision-federated: --help, and bad or missing arguments exit 2 before calling az', () => {
  const help = run(FEDERATED, ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.out, /^Usage: scripts\/provision-federated\.sh --app-id <appId> --principal-id <objectId>/m);
  assert.deepEqual(help.calls, []);
  for (const [args, says] of [
    [[], /--app-id \(or GRAPH_CLIENT_ID\) is required/],
    [['--app-id', 'app-1'], /--principal-id \(or AZURE_MANAGED_IDENTITY_PRINCIPAL_ID\) is required/],
    [['--app-id', 'app-1', '--principal-id', PRINCIPAL.toUpperCase()], /lowercase GUID \(the subject is compared case-sensitively\)/],
    [['--app-id', 'app-1', '--principal-id', PRINCIPAL, '--name', 'x'], /--name must be 3-120 letters/],
    [['--app-id', 'app-1', '--principal-id', PRINCIPAL, '--name', '-starts-with-dash'], /--name must be 3-120 letters/],
    [['--app-id', 'app-1', '--principal-id', PRINCIPAL, '--bogus'], /unknown argument: --bogus/],
  ] as const) {
    const r = run(FEDERATED, [...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.out}`);
    assert.match(r.out, says);
    assert.deepEqual(r.calls, []);
  }
  // Validated after az: an issuer with a trailing slash (Entra compares it exactly), an audience of no cloud.
  const slash = run(FEDERATED, [
    '--app-id',
    'app-1',
    '--principal-id',
    PRINCIPAL,
    '--issuer',
    `https://login.microsoftonline.com/${TENANT}/v2.0/`,
  ]);
  assert.equal(slash.status, 2, slash.out);
  assert.match(slash.out, /--issuer must be https:\/\/<Entra host>\/<tenant ID>\/v2\.0 \(no trailing slash/);
  const aud = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL, '--audience', 'api://AzureADTokenExchangeMars']);
  assert.equal(aud.status, 2, aud.out);
  assert.deepEqual(changes(slash), []);
  assert.deepEqual(changes(aud), []);
});

test("provision-federated: registers the identity with its cloud's issuer and audience; a second run changes nothing", () => {
  const box = sandbox();
  const first = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], box);
  assert.equal(first.status, 0, first.out);
  assert.deepEqual(
    changes(first).map((c) => c.replace(/ \S+\.json /, ' <file> ')),
    ['ad app federated-credential create --id app-1 --parameters <file> -o none'],
  );
  assert.deepEqual(fic(box.state), {
    name: 'entra-users-export',
    issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
    subject: PRINCIPAL,
    description: "entra-users-export: the function app's user-assigned managed identity signs in as this app (no secret, no certificate).",
    audiences: ['api://AzureADTokenExchange'],
  });
  assert.match(first.out, /GRAPH_FEDERATED_IDENTITY_CLIENT_ID=/);
  assert.deepEqual(fs.readdirSync(first.tmp), [], 'no temporary file is left');

  fs.rmSync(path.join(box.state, 'calls'));
  for (const env of [{}, { FAKE_AZ_CRLF: '1' }]) {
    const again = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], box, env);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /already trusts the identity: federated identity credential entra-users-export holds these values/);
    assert.deepEqual(changes(again), []);
  }
  assert.equal(ficRows(box.state).length, 1);
});

test('provision-federated: per cloud (az cloud show), the documented issuer host and audience; another cloud needs both given', () => {
  for (const [cloud, host, audience] of [
    ['AzureUSGovernment', 'https://login.microsoftonline.us', 'api://AzureADTokenExchangeUSGov'],
    ['AzureChinaCloud', 'https://login.partner.microsoftonline.cn', 'api://AzureADTokenExchangeChina'],
  ] as const) {
    const box = sandbox();
    const r = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], box, { FAKE_AZ_CLOUD: cloud });
    assert.equal(r.status, 0, r.out);
    assert.equal(fic(box.state).issuer, `${host}/${TENANT}/v2.0`, cloud);
    assert.deepEqual(fic(box.state).audiences, [audience], cloud);
  }
  const stack = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], sandbox(), { FAKE_AZ_CLOUD: 'AzureStackCloud' });
  assert.equal(stack.status, 2, stack.out);
  assert.match(stack.out, /cloud 'AzureStackCloud', whose issuer and audience this script does not know: give --issuer and --audience/);
  // The Bicep's outputs (through azd's environment) win over what az says.
  const box = sandbox();
  const given = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], box, {
    FAKE_AZ_CLOUD: 'AzureStackCloud',
    GRAPH_FEDERATED_ISSUER: `https://login.microsoftonline.us/${TENANT}/v2.0`,
    GRAPH_FEDERATED_AUDIENCE: 'api://AzureADTokenExchangeUSGov',
  });
  assert.equal(given.status, 0, given.out);
  assert.equal(fic(box.state).issuer, `https://login.microsoftonline.us/${TENANT}/v2.0`);
  assert.ok(!given.calls.some((c) => c.startsWith('cloud show')), 'az is not asked');
});

test('provision-federated: a credential of the same name with other values, or of the same issuer and subject, is updated, not duplicated', () => {
  const issuer = `https://login.microsoftonline.com/${TENANT}/v2.0`;
  // The identity was recreated: same credential name, another principal ID.
  const renamed = sandbox();
  fs.writeFileSync(
    path.join(renamed.state, 'fics'),
    `entra-users-export\t${issuer}\t11111111-1111-4111-8111-111111111111\tapi://AzureADTokenExchange\n`,
  );
  const r1 = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], renamed);
  assert.equal(r1.status, 0, r1.out);
  assert.match(r1.out, /holds other values: updating it/);
  assert.deepEqual(
    changes(r1).map((c) => c.split(' --parameters')[0]),
    ['ad app federated-credential update --id app-1 --federated-credential-id entra-users-export'],
  );
  assert.deepEqual(ficRows(renamed.state), [`entra-users-export\t${issuer}\t${PRINCIPAL}\tapi://AzureADTokenExchange`]);

  // Someone registered the identity by hand under another name: issuer + subject are unique on an app.
  const byHand = sandbox();
  fs.writeFileSync(path.join(byHand.state, 'fics'), `msi-export\t${issuer}\t${PRINCIPAL}\tapi://AzureADTokenExchange\n`);
  const r2 = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], byHand);
  assert.equal(r2.status, 0, r2.out);
  assert.match(r2.out, /already trusts the identity: federated identity credential msi-export holds these values/);
  assert.deepEqual(changes(r2), []);
  // ... with a wrong audience: that one is corrected.
  const wrongAudience = sandbox();
  fs.writeFileSync(path.join(wrongAudience.state, 'fics'), `msi-export\t${issuer}\t${PRINCIPAL}\tapi://AzureADTokenExchangeUSGov\n`);
  const r3 = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], wrongAudience);
  assert.equal(r3.status, 0, r3.out);
  assert.deepEqual(
    changes(r3).map((c) => c.split(' --parameters')[0]),
    ['ad app federated-credential update --id app-1 --federated-credential-id msi-export'],
  );
  assert.deepEqual(fic(wrongAudience.state, 'msi-export').audiences, ['api://AzureADTokenExchange']);
  assert.equal(fic(wrongAudience.state, 'msi-export').name, 'msi-export');
});

test('provision-federated: an app at the limit of 20 federated credentials, or one az cannot list, stops with what to do', () => {
  const full = sandbox();
  const rows = Array.from(
    { length: 20 },
    (_, i) => `github-${i}\thttps://token.actions.githubusercontent.com\trepo:contoso/app:environment:e${i}\tapi://AzureADTokenExchange`,
  );
  fs.writeFileSync(path.join(full.state, 'fics'), `${rows.join('\n')}\n`);
  const r = run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], full);
  assert.equal(r.status, 4, r.out);
  assert.match(
    r.out,
    /app app-1 already has 20 federated identity credentials, the maximum is 20: delete one you no longer need \(az ad app federated-credential delete --id app-1/,
  );
  assert.deepEqual(changes(r), []);
  const nineteen = sandbox();
  fs.writeFileSync(path.join(nineteen.state, 'fics'), `${rows.slice(1).join('\n')}\n`);
  assert.equal(run(FEDERATED, ['--app-id', 'app-1', '--principal-id', PRINCIPAL], nineteen).status, 0, 'the 20th is added');
  assert.equal(ficRows(nineteen.state).length, 20);

  const denied = run(FEDERATED, ['--app-id', 'app-x', '--principal-id', PRINCIPAL], sandbox(), { FAKE_AZ_FIC_LIST: 'error' });
  assert.equal(denied.status, 4, denied.out);
  assert.match(denied.out, /Resource 'app-x' does not exist/, "az's error is shown");
  assert.match(
    denied.out,
    /^provision-federated: cannot list the federated identity credentials of app app-x: check the app \(client\) ID/m,
  );
});

test('the azd postprovision hook, credentialType federated: registers the credential from the Bicep outputs, or leaves it to the Bicep', () => {
  const box = sandbox();
  const env = {
    GRAPH_CREDENTIAL_TYPE: 'federated',
    GRAPH_CLIENT_ID: 'app-1',
    AZURE_KEY_VAULT_NAME: '',
    AZURE_MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL,
    GRAPH_FEDERATED_ISSUER: `https://login.microsoftonline.us/${TENANT}/v2.0`,
    GRAPH_FEDERATED_AUDIENCE: 'api://AzureADTokenExchangeUSGov',
  };
  const r = run(HOOK, [], box, env);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(fic(box.state).audiences, ['api://AzureADTokenExchangeUSGov']);
  assert.equal(fic(box.state).issuer, env.GRAPH_FEDERATED_ISSUER);
  assert.equal(fic(box.state).subject, PRINCIPAL);
  assert.ok(!r.calls.some((c) => c.startsWith('keyvault')), 'no Key Vault call');

  const inBicep = run(HOOK, [], sandbox(), { ...env, CREATE_GRAPH_APP: 'true' });
  assert.equal(inBicep.status, 0, inBicep.out);
  assert.match(inBicep.out, /declared in the Bicep \(CREATE_GRAPH_APP=true\): nothing to provision/);
  assert.deepEqual(inBicep.calls, []);

  const noIdentity = run(HOOK, [], sandbox(), { ...env, AZURE_MANAGED_IDENTITY_PRINCIPAL_ID: '' });
  assert.equal(noIdentity.status, 1);
  assert.match(noIdentity.out, /AZURE_MANAGED_IDENTITY_PRINCIPAL_ID is not in the azd environment/);
});
