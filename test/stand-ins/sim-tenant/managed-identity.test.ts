import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type SimTenant, startSimTenant } from '../../../stand-ins/sim-tenant/index.js';
import { decodeClaims, request } from './helpers.js';

let sim: SimTenant;
before(async () => {
  sim = await startSimTenant({ userCount: 1 });
});
after(() => sim.close());

const msi = (query: Record<string, string>, headers: Record<string, string> = { 'X-IDENTITY-HEADER': sim.identityHeader }) =>
  request(sim, `${sim.identityEndpoint}?${new URLSearchParams(query).toString()}`, { headers });

test('the endpoint is plain http on 127.0.0.1, like App Service', () => {
  assert.match(sim.identityEndpoint, /^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/);
  assert.match(sim.identityHeader, /^[0-9a-f]{48}$/);
});

test('system-assigned identity: App Service 2019-08-01 response and token', async () => {
  const res = await msi({ 'api-version': '2019-08-01', resource: 'https://vault.azure.net' });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json).sort(), ['access_token', 'client_id', 'expires_on', 'resource', 'token_type']);
  assert.equal(res.json.token_type, 'Bearer');
  assert.equal(res.json.resource, 'https://vault.azure.net');
  assert.equal(res.json.client_id, sim.systemIdentity.clientId);
  assert.match(res.json.expires_on, /^\d{10}$/, 'epoch seconds, as a string');
  const claims = decodeClaims(res.json.access_token);
  assert.equal(claims['aud'], 'https://vault.azure.net');
  assert.equal(claims['oid'], sim.systemIdentity.principalId);
  assert.equal(claims['appid'], sim.systemIdentity.clientId);
  assert.equal(claims['tid'], sim.tenantId);
  assert.equal(claims['iss'], `https://sts.windows.net/${sim.tenantId}/`);
  assert.equal(Number(claims['exp']), Number(res.json.expires_on));
});

test('user-assigned identity by client_id; unknown client_id is "Unable to load the proper Managed Identity."', async () => {
  const uami = sim.addUserAssignedIdentity();
  const res = await msi({ 'api-version': '2019-08-01', resource: 'https://vault.azure.net', client_id: uami.clientId });
  assert.equal(res.status, 200);
  assert.equal(decodeClaims(res.json.access_token)['oid'], uami.principalId);

  const unknown = await msi({
    'api-version': '2019-08-01',
    resource: 'https://vault.azure.net',
    client_id: '11111111-2222-3333-4444-555555555555',
  });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.statusCode, 400);
  assert.equal(unknown.json.message, 'Unable to load the proper Managed Identity.');
  assert.match(unknown.json.correlationId, /^[0-9a-f-]{36}$/);
});

test('rejections: missing or wrong X-IDENTITY-HEADER, missing resource, wrong api-version', async () => {
  const q = { 'api-version': '2019-08-01', resource: 'https://vault.azure.net' };
  assert.equal((await msi(q, {})).status, 400);
  assert.equal((await msi(q, { 'X-IDENTITY-HEADER': 'guess' })).status, 401);
  assert.equal((await msi({ 'api-version': '2019-08-01' })).status, 400);
  assert.equal((await msi({ 'api-version': '2017-09-01', resource: 'https://vault.azure.net' })).status, 400);
});

test('msi faults: status, reset', async () => {
  const q = { 'api-version': '2019-08-01', resource: 'https://vault.azure.net' };
  sim.addFault({ target: 'msi', fault: { kind: 'status', status: 500 } });
  const failed = await msi(q);
  assert.equal(failed.status, 500);
  assert.equal(failed.json.statusCode, 500);
  sim.addFault({ target: 'msi', fault: { kind: 'reset' } });
  await assert.rejects(msi(q), /socket hang up|ECONNRESET/);
  assert.equal((await msi(q)).status, 200);
});

test('a resource the tenant does not know fails as Entra fails it (AADSTS500011); known ones match with or without a trailing slash', async () => {
  const unknown = await msi({ 'api-version': '2019-08-01', resource: 'https://vault.azure.nett' });
  assert.equal(unknown.status, 400, unknown.text);
  assert.match(unknown.json.message, /^AADSTS500011: The resource principal named https:\/\/vault\.azure\.nett was not found/);
  for (const resource of ['https://vault.azure.net/', 'https://storage.azure.com', 'HTTPS://STORAGE.AZURE.COM/', sim.graphEndpoint]) {
    const res = await msi({ 'api-version': '2019-08-01', resource });
    assert.equal(res.status, 200, `${resource}: ${res.text}`);
  }
});
