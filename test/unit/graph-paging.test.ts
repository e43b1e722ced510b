/** listUserPages over a canned transport (the SDK's HttpClient interface): paging rules that need no tenant. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { ExportError } from '../../src/errors.js';
import { listUserPages } from '../../src/graph.js';
import { HttpClientWithRetries } from '../../src/http.js';
import { createTransport } from '../../src/transport.js';

const endpoint = 'https://graph.example';

function transport(pages: (url: URL) => unknown, seen: string[]): HttpClient {
  return {
    sendRequest: async (request: PipelineRequest): Promise<PipelineResponse> => {
      seen.push(request.url);
      return { request, status: 200, headers: createHttpHeaders({ 'content-type': 'application/json' }), bodyAsText: JSON.stringify(pages(new URL(request.url))) };
    },
  };
}

async function collect(client: HttpClient): Promise<number> {
  let users = 0;
  for await (const page of listUserPages({
    graphEndpoint: endpoint,
    select: ['id'],
    tokens: { getToken: async () => 'token' },
    http: new HttpClientWithRetries(createTransport().graph, client),
  })) {
    users += page.count;
  }
  return users;
}

test('follows @odata.nextLink as given until it is absent', async () => {
  const seen: string[] = [];
  const users = await collect(
    transport((url) => {
      const n = Number(url.searchParams.get('$skiptoken') ?? 0);
      return { '@odata.context': 'x', ...(n < 2 ? { '@odata.nextLink': `${endpoint}/v1.0/users?$select=id&$top=999&$skiptoken=${n + 1}` } : {}), value: [{ id: `a${n}` }, { id: `b${n}` }] };
    }, seen),
  );
  assert.equal(users, 6);
  assert.equal(seen.length, 3);
  assert.match(seen[0]!, /\/v1\.0\/users\?%24select=id&%24top=999$/);
});

test('a nextLink that comes back again stops the export instead of looping', async () => {
  const seen: string[] = [];
  const loop = `${endpoint}/v1.0/users?$skiptoken=same`;
  await assert.rejects(
    collect(transport(() => ({ '@odata.nextLink': loop, value: [{ id: 'x' }] }), seen)),
    (e: unknown) => e instanceof ExportError && e.code === 'GraphProtocolError' && e.exitCode === 1 && /already returned/.test(e.message),
  );
  assert.ok(seen.length <= 3, `stopped after ${seen.length} requests`);
});
