/**
 * The sim's side of the secretless credential, at the HTTP level: the identity endpoint issues the managed identity's
 * token for the token-exchange audience, and the token endpoint accepts it as a client assertion only against a
 * matching federated identity credential of the app — refusing everything else as Entra does.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type SimTenant, startSimTenant } from '../../../stand-ins/sim-tenant/index.js';
import { type SimResponse, decodeClaims, miToken, postForm, request, tokenEndpoint } from './helpers.js';

let sim: SimTenant;
let identity: { principalId: string; clientId: string };
before(async () => {
  sim = await startSimTenant({ userCount: 1 });
  identity = sim.addUserAssignedIdentity();
});
after(() => sim.close());

const EXCHANGE = 'api://AzureADTokenExchange';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const exchange = (clientId: string, assertion: string): Promise<SimResponse> =>
  postForm(sim, tokenEndpoint(sim), {
    grant_type: 'client_credentials',
    client_id: clientId,
    scope: `${sim.graphEndpoint}/.default`,
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion,
  });

function assertRefused(res: SimResponse, code: number, text: string): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_client');
  assert.deepEqual(res.json.error_codes, [code]);
  assert.ok(String(res.json.error_description).startsWith(`AADSTS${code}: ${text}`), res.json.error_description);
}

const appTrusting = (fic: Partial<{ issuer: string; subject: string; audiences: string[] }> = {}): string =>
  sim.addApp({ federatedIdentityCredentials: [{ issuer: sim.issuer, subject: identity.principalId, audiences: [EXCHANGE], ...fic }] })
    .clientId;

test('the identity endpoint issues a v2.0 token for the exchange audience: iss, sub = principal ID, aud', async () => {
  const token = await miToken(sim, EXCHANGE, identity.clientId);
  const claims = decodeClaims(token);
  assert.equal(sim.issuer, `${sim.authorityHost}/${sim.tenantId}/v2.0`);
  assert.equal(claims['iss'], sim.issuer);
  assert.equal(claims['sub'], identity.principalId);
  assert.equal(claims['oid'], identity.principalId);
  assert.equal(claims['aud'], EXCHANGE);
  assert.equal(claims['azp'], identity.clientId);
  assert.equal(claims['tid'], sim.tenantId);
  assert.equal(claims['ver'], '2.0');
  assert.equal(Number(claims['exp']) - Number(claims['iat']), 86_399);
  assert.match(String(claims['xms_mirid']), /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//);
});

test("another cloud's exchange audience is not a resource of this one (AADSTS500011)", async () => {
  const q = new URLSearchParams({ 'api-version': '2019-08-01', resource: 'api://AzureADTokenExchangeUSGov', client_id: identity.clientId });
  const res = await request(sim, `${sim.identityEndpoint}?${q.toString()}`, { headers: { 'X-IDENTITY-HEADER': sim.identityHeader } });
  assert.equal(res.status, 400);
  assert.match(res.json.message, /^AADSTS500011: The resource principal named api:\/\/AzureADTokenExchangeUSGov was not found/);
});

test("a matching federated identity credential: the identity's token gets the app a Graph token", async () => {
  const clientId = appTrusting();
  const before = sim.stats.federatedTokensIssued;
  const res = await exchange(clientId, await miToken(sim, EXCHANGE, identity.clientId));
  assert.equal(res.status, 200, res.text);
  const claims = decodeClaims(res.json.access_token);
  assert.equal(claims['appid'], clientId);
  assert.equal(claims['aud'], sim.graphEndpoint);
  assert.equal(sim.stats.federatedTokensIssued - before, 1);
});

test('issuer, subject (case-sensitive), audience: each mismatch is refused with its AADSTS code and the presented value', async () => {
  const token = await miToken(sim, EXCHANGE, identity.clientId);
  assertRefused(
    await exchange(appTrusting({ issuer: `${sim.authorityHost}/${sim.tenantDomain}/v2.0` }), token),
    700211,
    `No matching federated identity record found for presented assertion issuer '${sim.issuer}'.`,
  );
  assertRefused(
    await exchange(appTrusting({ subject: sim.systemIdentity.principalId }), token),
    700213,
    `No matching federated identity record found for presented assertion subject '${identity.principalId}'.`,
  );
  assertRefused(
    await exchange(appTrusting({ subject: identity.principalId.toUpperCase() }), token),
    7002138,
    `No matching federated identity record found for presented assertion subject '${identity.principalId}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison.`,
  );
  assertRefused(
    await exchange(appTrusting({ audiences: ['api://AzureADTokenExchangeChina'] }), token),
    700212,
    `No matching federated identity record found for presented assertion audience '${EXCHANGE}'.`,
  );
  assertRefused(
    await exchange(sim.addApp().clientId, token),
    700211,
    'No matching federated identity record found for presented assertion issuer',
  );
});

test("a token for another audience, or one whose signature is not the tenant's, is refused", async () => {
  const clientId = appTrusting();
  const vaultToken = await miToken(sim, 'https://vault.azure.net', identity.clientId);
  // A v1.0 token for Key Vault: its issuer (sts.windows.net) is no federated credential's.
  assertRefused(
    await exchange(clientId, vaultToken),
    700211,
    "No matching federated identity record found for presented assertion issuer 'https://sts.windows.net/",
  );
  // The exchange token with a longer life written in: the signature no longer verifies.
  const [h, p, s] = (await miToken(sim, EXCHANGE, identity.clientId)).split('.') as [string, string, string];
  const payload: Record<string, unknown> = decodeClaims(`${h}.${p}.${s}`);
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, exp: Number(payload['exp']) + 1 })).toString('base64url')}.${s}`;
  assertRefused(await exchange(clientId, forged), 50027, 'Invalid JWT token. External ID token from issuer failed signature verification.');
});

test('at most 20 federated identity credentials per app', () => {
  const { clientId } = sim.addApp();
  for (let i = 0; i < 20; i++)
    sim.addFederatedIdentityCredential(clientId, { issuer: sim.issuer, subject: `s${i}`, audiences: [EXCHANGE] });
  assert.throws(
    () => sim.addFederatedIdentityCredential(clientId, { issuer: sim.issuer, subject: 's20', audiences: [EXCHANGE] }),
    /20 federated identity credentials/,
  );
});
