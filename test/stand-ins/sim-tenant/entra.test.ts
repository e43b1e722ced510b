import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAppCertificate, sha256Thumbprint } from '../../../stand-ins/sim-tenant/certs.js';
import { type SimTenant, startSimTenant } from '../../../stand-ins/sim-tenant/index.js';
import type { MsalCase, MsalResult } from './fixtures/msal-token.js';
import { type SimResponse, decodeClaims, makeAssertion, postForm, request, runFixture, tokenEndpoint } from './helpers.js';

let sim: SimTenant;
let clientId: string;
let secret: string;
let cert: ReturnType<typeof createAppCertificate>;

before(async () => {
  sim = await startSimTenant({ userCount: 10 });
  ({ clientId } = sim.addApp());
  secret = sim.addClientSecret(clientId);
  cert = createAppCertificate();
  sim.addCertificate(clientId, cert.certPem);
});
after(() => sim.close());

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

function assertAadError(res: SimResponse, status: number, error: string, code: number): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error);
  assert.deepEqual(res.json.error_codes, [code]);
  assert.match(
    res.json.error_description,
    new RegExp(
      `^AADSTS${code}: .+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`,
    ),
  );
  for (const field of ['timestamp', 'trace_id', 'correlation_id', 'error_uri']) assert.ok(res.json[field], field);
}

const secretForm = (overrides: Record<string, string> = {}): Record<string, string> => ({
  grant_type: 'client_credentials',
  client_id: clientId,
  client_secret: secret,
  scope: `${sim.graphEndpoint}/.default`,
  ...overrides,
});

const assertionForm = (assertion: string): Record<string, string> => ({
  grant_type: 'client_credentials',
  client_id: clientId,
  client_assertion_type: JWT_BEARER,
  client_assertion: assertion,
  scope: `${sim.graphEndpoint}/.default`,
});

const assertion = (opts: Partial<Parameters<typeof makeAssertion>[0]> = {}): string =>
  makeAssertion({ clientId, aud: tokenEndpoint(sim), keyPem: cert.keyPem, certPem: cert.certPem, ...opts });

test('OpenID configuration for the tenant id and the domain; unknown tenant is AADSTS90002 invalid_tenant', async () => {
  for (const tenant of [sim.tenantId, sim.tenantDomain]) {
    const res = await request(sim, `${sim.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    assert.equal(res.json.issuer, `${sim.authorityHost}/${sim.tenantId}/v2.0`);
    assert.equal(res.json.token_endpoint, `${sim.authorityHost}/${sim.tenantId}/oauth2/v2.0/token`);
    for (const field of ['authorization_endpoint', 'jwks_uri', 'token_endpoint_auth_methods_supported']) assert.ok(res.json[field], field);
  }
  const res = await request(sim, `${sim.authorityHost}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration`);
  assertAadError(res, 400, 'invalid_tenant', 90002);
  assert.match(res.json.error_description, /Tenant 'fabrikam.onmicrosoft.com' not found/);
});

test('instance discovery and JWKS answer like Entra', async () => {
  const host = new URL(sim.authorityHost).host;
  const q = new URLSearchParams({
    'api-version': '1.1',
    authorization_endpoint: `${sim.authorityHost}/${sim.tenantId}/oauth2/v2.0/authorize`,
  });
  const res = await request(sim, `${sim.authorityHost}/common/discovery/instance?${q.toString()}`);
  assert.equal(res.status, 200);
  assert.equal(res.json.tenant_discovery_endpoint, `${sim.authorityHost}/${sim.tenantId}/v2.0/.well-known/openid-configuration`);
  assert.deepEqual(res.json.metadata[0].aliases, [host]);
  const jwks = await request(sim, `${sim.authorityHost}/${sim.tenantId}/discovery/v2.0/keys`);
  assert.equal(jwks.json.keys[0].kty, 'RSA');
});

test('client secret: success issues a Graph app token with the granted roles', async () => {
  const res = await postForm(sim, tokenEndpoint(sim), secretForm());
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.token_type, 'Bearer');
  assert.equal(res.json.expires_in, 3599);
  assert.equal(res.json.ext_expires_in, 3599);
  const claims = decodeClaims(res.json.access_token);
  assert.equal(claims['aud'], sim.graphEndpoint);
  assert.equal(claims['iss'], `https://sts.windows.net/${sim.tenantId}/`);
  assert.equal(claims['tid'], sim.tenantId);
  assert.equal(claims['appid'], clientId);
  assert.equal(claims['idtyp'], 'app');
  assert.deepEqual(claims['roles'], ['User.Read.All']);
  assert.equal(Number(claims['exp']) - Number(claims['iat']), 3599);
});

test('an app without granted roles gets a token without the roles claim', async () => {
  const app = sim.addApp({ roles: [] });
  const s = sim.addClientSecret(app.clientId);
  const res = await postForm(sim, tokenEndpoint(sim), secretForm({ client_id: app.clientId, client_secret: s }));
  assert.equal(res.status, 200);
  assert.equal('roles' in decodeClaims(res.json.access_token), false);
});

test('token endpoint rejects like Entra: tenant, grant, app, scope, secret', async () => {
  assertAadError(await postForm(sim, tokenEndpoint(sim, 'nope.onmicrosoft.com'), secretForm()), 400, 'invalid_request', 90002);
  assertAadError(await postForm(sim, tokenEndpoint(sim), secretForm({ grant_type: 'password' })), 400, 'unsupported_grant_type', 70003);
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), secretForm({ client_id: '11111111-2222-3333-4444-555555555555' })),
    400,
    'unauthorized_client',
    700016,
  );
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), secretForm({ scope: `${sim.graphEndpoint}/User.Read.All` })),
    400,
    'invalid_scope',
    1002012,
  );
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), secretForm({ scope: 'https://graph.microsoft.com/.default' })),
    400,
    'invalid_resource',
    500011,
  );
  assertAadError(await postForm(sim, tokenEndpoint(sim), secretForm({ client_secret: 'not-the-secret' })), 401, 'invalid_client', 7000215);
  const { client_secret: _omitted, ...noCredential } = secretForm();
  assertAadError(await postForm(sim, tokenEndpoint(sim), noCredential), 401, 'invalid_client', 7000216);

  const expired = sim.addClientSecret(clientId, { expired: true });
  assertAadError(await postForm(sim, tokenEndpoint(sim), secretForm({ client_secret: expired })), 401, 'invalid_client', 7000222);

  // A trailing slash on the resource is accepted, like Entra does.
  assert.equal((await postForm(sim, tokenEndpoint(sim), secretForm({ scope: `${sim.graphEndpoint}//.default` }))).status, 200);
  assert.equal((await postForm(sim, tokenEndpoint(sim, sim.tenantDomain), secretForm())).status, 200, 'domain as tenant');
});

test('certificate assertion: PS256 with x5t#S256 and RS256 with legacy x5t both work; x5c must hold the registered leaf', async () => {
  const ps = await postForm(sim, tokenEndpoint(sim), assertionForm(assertion()));
  assert.equal(ps.status, 200, ps.text);
  assert.equal(decodeClaims(ps.json.access_token)['appidacr'], '2');
  assert.equal((await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ alg: 'RS256' })))).status, 200);
  const x5c = cert.chainPem.map((p) => p.replace(/-----[^-]+-----|\s/g, ''));
  assert.equal((await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ header: { x5c } })))).status, 200);
  const other = createAppCertificate();
  const wrongX5c = [other.certPem.replace(/-----[^-]+-----|\s/g, '')];
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ header: { x5c: wrongX5c } }))),
    401,
    'invalid_client',
    700027,
  );
});

test('certificate assertion rejections: unknown key, other signer, iss/sub, aud, time, type', async () => {
  const other = createAppCertificate();
  // A certificate that is not registered on the app.
  const unknown = await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ keyPem: other.keyPem, certPem: other.certPem })));
  assertAadError(unknown, 401, 'invalid_client', 700027);
  assert.match(unknown.json.error_description, /The key was not found\., Thumbprint of key used by client: '[0-9A-F]{64}'/);
  assert.ok(unknown.json.error_description.includes(sha256Thumbprint(other.certPem).toUpperCase()));

  // Signed by another key, while claiming the registered certificate's thumbprint.
  const forged = await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ keyPem: other.keyPem })));
  assertAadError(forged, 401, 'invalid_client', 700027);
  assert.match(forged.json.error_description, /did not match the expected signature value/);

  assertAadError(
    await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ claims: { iss: 'someone-else' } }))),
    401,
    'invalid_client',
    700021,
  );
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ aud: 'https://login.microsoftonline.com/x/oauth2/v2.0/token' }))),
    401,
    'invalid_client',
    700023,
  );
  assert.equal(
    (await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ aud: `${sim.authorityHost}/${sim.tenantId}/v2.0` })))).status,
    200,
    'the issuer is accepted as audience',
  );

  const now = Math.floor(Date.now() / 1000);
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ claims: { nbf: now - 3600, exp: now - 3000 } }))),
    401,
    'invalid_client',
    700024,
  );
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ claims: { nbf: now + 3600, exp: now + 3900 } }))),
    401,
    'invalid_client',
    700024,
  );
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ claims: { exp: now + 86_400 } }))),
    401,
    'invalid_client',
    700024,
  );
  assertAadError(await postForm(sim, tokenEndpoint(sim), assertionForm(assertion({ claims: { jti: '' } }))), 400, 'invalid_request', 50027);
  assertAadError(
    await postForm(sim, tokenEndpoint(sim), { ...assertionForm(assertion()), client_assertion_type: 'jwt' }),
    400,
    'invalid_request',
    50027,
  );
  assertAadError(await postForm(sim, tokenEndpoint(sim), assertionForm('not.a.jwt')), 400, 'invalid_request', 50027);
});

test('an expired registered certificate is refused even with a valid signature', async () => {
  const { clientId: id } = sim.addApp();
  const old = createAppCertificate({ validFrom: new Date(Date.now() - 10 * 86_400_000), validTo: new Date(Date.now() - 86_400_000) });
  sim.addCertificate(id, old.certPem);
  const res = await postForm(sim, tokenEndpoint(sim), {
    ...assertionForm(makeAssertion({ clientId: id, aud: tokenEndpoint(sim), keyPem: old.keyPem, certPem: old.certPem })),
    client_id: id,
  });
  assertAadError(res, 401, 'invalid_client', 700027);
  assert.match(res.json.error_description, /The key used is expired/);
});

test('token endpoint counts requests and issued tokens', async () => {
  const before = { ...sim.stats };
  await postForm(sim, tokenEndpoint(sim), secretForm());
  await postForm(sim, tokenEndpoint(sim), secretForm({ client_secret: 'bad' }));
  assert.equal(sim.stats.token - before.token, 2);
  assert.equal(sim.stats.tokensIssued - before.tokensIssued, 1);
});

test('token faults: status with the AADSTS body and Retry-After, HTML page, nth', async () => {
  sim.addFault({ target: 'token', fault: { kind: 'status', status: 503, retryAfter: 2 } });
  const throttled = await postForm(sim, tokenEndpoint(sim), secretForm());
  assert.equal(throttled.status, 503);
  assert.equal(throttled.headers['retry-after'], '2');
  assert.equal(throttled.json.error, 'temporarily_unavailable');
  assert.equal((await postForm(sim, tokenEndpoint(sim), secretForm())).status, 200, 'times defaults to 1');

  sim.addFault({ target: 'openid', fault: { kind: 'html', status: 502 } });
  const html = await request(sim, `${sim.authorityHost}/${sim.tenantId}/v2.0/.well-known/openid-configuration`);
  assert.equal(html.status, 502);
  assert.match(String(html.headers['content-type']), /^text\/html/);

  sim.addFault({ target: 'token', nth: sim.stats.token + 2, fault: { kind: 'status', status: 500 } });
  assert.equal((await postForm(sim, tokenEndpoint(sim), secretForm())).status, 200);
  assert.equal((await postForm(sim, tokenEndpoint(sim), secretForm())).status, 500);
  sim.clearFaults();
});

test('MSAL ConfidentialClientApplication works against the sim: secret, certificate (thumbprintSha256 + x5c), domain authority, and parses its errors', async () => {
  const base = {
    authority: `${sim.authorityHost}/${sim.tenantId}`,
    knownAuthority: new URL(sim.authorityHost).host,
    clientId,
    scope: `${sim.graphEndpoint}/.default`,
  };
  const cases: MsalCase[] = [
    { ...base, clientSecret: secret },
    {
      ...base,
      clientCertificate: { thumbprintSha256: sha256Thumbprint(cert.certPem), privateKey: cert.keyPem, x5c: cert.chainPem.join('\n') },
    },
    { ...base, authority: `${sim.authorityHost}/${sim.tenantDomain}`, clientSecret: secret },
    { ...base, clientSecret: 'wrong-secret' },
    { ...base, authority: `${sim.authorityHost}/nope.onmicrosoft.com`, clientSecret: secret },
  ];
  const [bySecret, byCert, byDomain, wrongSecret, unknownTenant] = await runFixture<MsalResult[]>('msal-token', sim.env(), cases);
  for (const ok of [bySecret, byCert, byDomain]) {
    assert.ok(ok?.ok, JSON.stringify(ok));
    assert.equal(ok.claims['aud'], sim.graphEndpoint);
    assert.deepEqual(ok.claims['roles'], ['User.Read.All']);
  }
  assert.ok(byCert?.ok && byCert.claims['appidacr'] === '2', 'certificate credential');
  assert.ok(wrongSecret && !wrongSecret.ok);
  assert.equal(wrongSecret.errorCode, 'invalid_client');
  assert.equal(String(wrongSecret.errorNo), '7000215');
  // Like against login.microsoftonline.com: MSAL fails the OpenID discovery of an unknown tenant (400 AADSTS90002)
  // with its own endpoints_resolution_error, without the AADSTS code.
  assert.ok(unknownTenant && !unknownTenant.ok);
  assert.equal(unknownTenant.errorCode, 'endpoints_resolution_error');
});
