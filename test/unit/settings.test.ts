import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportError } from '../../src/errors.js';
import { DEFAULTS, readSettings, SETTING_NAMES } from '../../src/settings.js';

const valid = {
  GRAPH_TENANT_ID: '11111111-2222-3333-4444-555555555555',
  GRAPH_CLIENT_ID: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  KEY_VAULT_URL: 'https://contoso-kv.vault.azure.net/',
  GRAPH_CLIENT_CERTIFICATE_NAME: 'graph-export-cert',
  EXPORT_STORAGE: 'UseDevelopmentStorage=true',
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    readSettings(env);
  } catch (e) {
    assert.ok(e instanceof ExportError);
    assert.equal(e.code, 'InvalidSettings');
    assert.equal(e.exitCode, 2);
    for (const p of e.details) assert.ok(e.message.includes(p), 'the message lists every problem');
    return [...e.details];
  }
  return [];
}

test('defaults apply when only the required settings are given', () => {
  const s = readSettings(valid);
  assert.equal(s.authorityHost, DEFAULTS.GRAPH_AUTHORITY_HOST);
  assert.equal(s.graphEndpoint, DEFAULTS.GRAPH_ENDPOINT);
  assert.deepEqual(s.select, DEFAULTS.USERS_SELECT.split(','));
  assert.equal(s.filter, undefined);
  assert.equal(s.container, 'user-exports');
  assert.equal(s.format, 'json');
  assert.equal(s.compression, 'none');
  assert.equal(s.schedule, '0 0 2 * * *');
  assert.deepEqual(s.credential, { kind: 'certificate', name: 'graph-export-cert' });
  assert.deepEqual(s.storage, { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' });
  assert.equal(s.keyVaultUrl, 'https://contoso-kv.vault.azure.net');
  assert.equal(s.managedIdentityClientId, undefined);
});

test('every setting is read and normalised', () => {
  const s = readSettings({
    ...valid,
    GRAPH_TENANT_ID: 'contoso.onmicrosoft.com',
    GRAPH_CLIENT_CERTIFICATE_NAME: '',
    GRAPH_CLIENT_SECRET_NAME: 'graph-secret',
    GRAPH_AUTHORITY_HOST: 'https://login.microsoftonline.us/',
    GRAPH_ENDPOINT: 'https://graph.microsoft.us',
    USERS_SELECT: ' id , displayName ',
    USERS_FILTER: 'accountEnabled eq true',
    EXPORT_STORAGE: '',
    EXPORT_STORAGE__blobServiceUri: 'https://acct.blob.core.usgovcloudapi.net/',
    EXPORT_CONTAINER: 'my-exports',
    EXPORT_FORMAT: 'NDJSON',
    EXPORT_COMPRESSION: 'gzip',
    EXPORT_SCHEDULE: '0 30 1 * * MON-FRI',
    AZURE_CLIENT_ID: '99999999-8888-7777-6666-555555555555',
  });
  assert.equal(s.tenantId, 'contoso.onmicrosoft.com');
  assert.deepEqual(s.credential, { kind: 'secret', name: 'graph-secret' });
  assert.equal(s.authorityHost, 'https://login.microsoftonline.us');
  assert.deepEqual(s.select, ['id', 'displayName']);
  assert.equal(s.filter, 'accountEnabled eq true');
  assert.deepEqual(s.storage, { kind: 'identity', blobServiceUri: 'https://acct.blob.core.usgovcloudapi.net' });
  assert.equal(s.format, 'ndjson');
  assert.equal(s.compression, 'gzip');
  assert.equal(s.managedIdentityClientId, '99999999-8888-7777-6666-555555555555');
});

test('all problems are reported at once, each naming its setting', () => {
  const found = problems({
    GRAPH_TENANT_ID: 'common',
    GRAPH_CLIENT_ID: 'not-a-guid',
    KEY_VAULT_URL: 'http://contoso-kv.vault.azure.net/',
    GRAPH_CLIENT_SECRET_NAME: 'a',
    GRAPH_CLIENT_CERTIFICATE_NAME: 'b',
    GRAPH_AUTHORITY_HOST: 'login.microsoftonline.com',
    GRAPH_ENDPOINT: 'https://graph.microsoft.com/v1.0',
    EXPORT_STORAGE: 'UseDevelopmentStorage=true',
    EXPORT_STORAGE__blobServiceUri: 'https://acct.blob.core.windows.net',
    EXPORT_CONTAINER: 'X',
    EXPORT_FORMAT: 'csv',
    EXPORT_COMPRESSION: 'zip',
    EXPORT_SCHEDULE: '0 0 2 * *',
    AZURE_CLIENT_ID: 'me',
  });
  const named = (name: string): boolean => found.some((p) => p.startsWith(name));
  for (const name of [
    'GRAPH_TENANT_ID',
    'GRAPH_CLIENT_ID',
    'KEY_VAULT_URL',
    'GRAPH_CLIENT_SECRET_NAME and GRAPH_CLIENT_CERTIFICATE_NAME',
    'GRAPH_AUTHORITY_HOST',
    'GRAPH_ENDPOINT',
    'EXPORT_STORAGE and EXPORT_STORAGE__blobServiceUri',
    'EXPORT_CONTAINER',
    'EXPORT_FORMAT',
    'EXPORT_COMPRESSION',
    'EXPORT_SCHEDULE',
    'AZURE_CLIENT_ID',
  ]) {
    assert.ok(named(name), `${name} is reported: ${found.join(' | ')}`);
  }
  assert.equal(found.length, 12);
});

test('missing required settings are each reported with the expected form', () => {
  const found = problems({});
  assert.equal(found.length, 5);
  assert.match(found[0]!, /^GRAPH_TENANT_ID is missing: set it to/);
  assert.match(found[1]!, /^GRAPH_CLIENT_ID is missing/);
  assert.match(found[2]!, /^KEY_VAULT_URL is missing: set it to the vault URI, e.g. https:\/\//);
  assert.match(
    found[3]!,
    /^GRAPH_CLIENT_CERTIFICATE_NAME, GRAPH_CLIENT_SECRET_NAME or GRAPH_FEDERATED_IDENTITY_CLIENT_ID is missing: set exactly one/,
  );
  assert.match(found[4]!, /^EXPORT_STORAGE__blobServiceUri or EXPORT_STORAGE is missing/);
});

test('EXPORT_SCHEDULE: what the Functions host runs is accepted, a day of month with a day of week included', () => {
  for (const schedule of ['0 0 2 * * *', '0 30 9 * Jan Mon', '0 0 2 1 * 1', '0 */5 * * * *', '0 0 9-17 * * *']) {
    assert.deepEqual(problems({ ...valid, EXPORT_SCHEDULE: schedule }), [], schedule);
  }
});

test('malformed values are rejected with the expected form', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ KEY_VAULT_URL: 'not a url' }, /^KEY_VAULT_URL is 'not a url': not a URL/],
    [{ KEY_VAULT_URL: 'https://kv.vault.azure.net/secrets/x' }, /^KEY_VAULT_URL .* without a path/],
    [{ GRAPH_CLIENT_CERTIFICATE_NAME: 'bad_name!' }, /^GRAPH_CLIENT_CERTIFICATE_NAME is 'bad_name!': a Key Vault certificate name/],
    [{ USERS_SELECT: 'id,display name' }, /^USERS_SELECT is/],
    [{ EXPORT_STORAGE: 'hello' }, /^EXPORT_STORAGE is not a storage connection string/],
    [
      { EXPORT_STORAGE: '', EXPORT_STORAGE__blobServiceUri: 'http://acct.blob.core.windows.net' },
      /^EXPORT_STORAGE__blobServiceUri .* must use https/,
    ],
    [{ EXPORT_SCHEDULE: '0 0 25 * * *' }, /^EXPORT_SCHEDULE is '0 0 25 \* \* \*': expected an NCRONTAB expression with six fields/],
    [{ EXPORT_SCHEDULE: '@daily' }, /^EXPORT_SCHEDULE is '@daily': expected an NCRONTAB expression with six fields/],
    [{ EXPORT_CONTAINER: 'ab' }, /^EXPORT_CONTAINER is 'ab'/],
    [{ EXPORT_CONTAINER: 'a--b' }, /^EXPORT_CONTAINER is 'a--b'/],
    [{ GRAPH_TENANT_ID: 'not a tenant' }, /^GRAPH_TENANT_ID is 'not a tenant'/],
  ];
  for (const [override, expected] of cases) {
    const found = problems({ ...valid, ...override });
    assert.equal(found.length, 1, `${JSON.stringify(override)} gives one problem: ${found.join(' | ')}`);
    assert.match(found[0]!, expected);
  }
});

test('SETTING_NAMES lists exactly the README settings', () => {
  assert.equal(new Set(SETTING_NAMES).size, 17);
  assert.ok(SETTING_NAMES.includes('GRAPH_FEDERATED_IDENTITY_CLIENT_ID'));
  assert.ok(SETTING_NAMES.includes('EXPORT_STORAGE__blobServiceUri'));
});

const MI = '0f0f0f0f-1111-2222-3333-444444444444';
const federated = { ...valid, GRAPH_CLIENT_CERTIFICATE_NAME: undefined, KEY_VAULT_URL: undefined, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: MI };

test('GRAPH_FEDERATED_IDENTITY_CLIENT_ID alone is a credential, and KEY_VAULT_URL is then not required', () => {
  const s = readSettings(federated);
  assert.deepEqual(s.credential, { kind: 'federated', managedIdentityClientId: MI });
  assert.equal(s.keyVaultUrl, undefined);
  // Given anyway, it is still validated (and unused).
  assert.match(problems({ ...federated, KEY_VAULT_URL: 'http://kv.vault.azure.net' })[0]!, /^KEY_VAULT_URL .* must use https/);
});

test('exactly one of the three credential settings: every combination is reported, with the other problems at once', () => {
  const pairs: Array<[Record<string, string>, RegExp]> = [
    [
      { GRAPH_CLIENT_SECRET_NAME: 's', GRAPH_CLIENT_CERTIFICATE_NAME: 'c' },
      /^GRAPH_CLIENT_SECRET_NAME and GRAPH_CLIENT_CERTIFICATE_NAME are both set: set exactly one/,
    ],
    [
      { GRAPH_CLIENT_CERTIFICATE_NAME: 'c', GRAPH_FEDERATED_IDENTITY_CLIENT_ID: MI },
      /^GRAPH_CLIENT_CERTIFICATE_NAME and GRAPH_FEDERATED_IDENTITY_CLIENT_ID are both set/,
    ],
    [
      { GRAPH_CLIENT_SECRET_NAME: 's', GRAPH_FEDERATED_IDENTITY_CLIENT_ID: MI },
      /^GRAPH_CLIENT_SECRET_NAME and GRAPH_FEDERATED_IDENTITY_CLIENT_ID are both set/,
    ],
    [
      { GRAPH_CLIENT_SECRET_NAME: 's', GRAPH_CLIENT_CERTIFICATE_NAME: 'c', GRAPH_FEDERATED_IDENTITY_CLIENT_ID: MI },
      /^GRAPH_CLIENT_SECRET_NAME, GRAPH_CLIENT_CERTIFICATE_NAME and GRAPH_FEDERATED_IDENTITY_CLIENT_ID are all set: set exactly one .* and unset the others\.$/,
    ],
  ];
  for (const [credentials, expected] of pairs) {
    const env = { ...valid, GRAPH_CLIENT_CERTIFICATE_NAME: undefined, ...credentials, EXPORT_FORMAT: 'csv' };
    const found = problems(env);
    assert.equal(found.length, 2, `${JSON.stringify(credentials)}: ${found.join(' | ')}`);
    assert.match(found[0]!, expected);
    assert.match(found[1]!, /^EXPORT_FORMAT/);
  }
  // With GRAPH_FEDERATED_IDENTITY_CLIENT_ID among them, a missing KEY_VAULT_URL is not a further problem; without it, it is.
  assert.equal(problems({ ...valid, KEY_VAULT_URL: undefined, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: MI }).length, 1);
  assert.deepEqual(
    problems({ ...valid, KEY_VAULT_URL: undefined }).map((p) => p.split(':')[0]),
    ['KEY_VAULT_URL is missing'],
  );
});

test("GRAPH_FEDERATED_IDENTITY_CLIENT_ID must be a GUID, and not the app's own client ID", () => {
  assert.match(
    problems({ ...federated, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: 'my-identity' })[0]!,
    /^GRAPH_FEDERATED_IDENTITY_CLIENT_ID is 'my-identity': expected the client ID \(a GUID\) of the user-assigned managed identity/,
  );
  const same = problems({ ...federated, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: valid.GRAPH_CLIENT_ID.toUpperCase() });
  assert.equal(same.length, 1);
  assert.match(same[0]!, /^GRAPH_FEDERATED_IDENTITY_CLIENT_ID is the app's own client ID \(GRAPH_CLIENT_ID\)/);
});
