/**
 * describeAzureError (src/azure-errors.ts) on what the Azure SDKs really throw: a RestError from the SDK
 * pipeline when a local server answers 503 or nobody listens, and @azure/identity's own error classes.
 * Each becomes the ExportError a user reads: the code (and with it the exit code), what was being done, the
 * status and only the first line of the service's message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPipelineRequest, RestError, type HttpClient, type PipelineResponse } from '@azure/core-rest-pipeline';
import { AggregateAuthenticationError, AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { describeAzureError } from '../../src/azure-errors.js';
import { ExportError } from '../../src/errors.js';
import { localServer, loopbackHttpClient } from '../helpers/loopback.js';

const busy = localServer((_req, res) => {
  res.writeHead(503, { 'content-type': 'text/plain' }).end('Server busy\nsecond line that must not be shown');
});

/** What the SDK's own HTTP client throws, or the RestError a client built on the pipeline makes of a response. */
async function thrownBy(client: HttpClient, url: string): Promise<unknown> {
  let response: PipelineResponse;
  try {
    response = await client.sendRequest(createPipelineRequest({ url }));
  } catch (e) {
    return e;
  }
  return new RestError(response.bodyAsText ?? '', { statusCode: response.status, code: 'ServerBusy', request: response.request, response });
}

test("a service's error: the code asked for, exit 1, what was being done, the status and its first line only", async () => {
  const e = describeAzureError(await thrownBy(loopbackHttpClient, `${busy.endpoint}/x`), 'reading the blob x', 'StorageFailed');
  assert.ok(e instanceof ExportError);
  assert.equal(e.code, 'StorageFailed');
  assert.equal(e.exitCode, 1);
  assert.match(e.message, /^Reading the blob x failed with HTTP 503 ServerBusy: Server busy$/);
});

test('nobody listening: the network error code, and where to look', async () => {
  // Port 9 (discard) on loopback: nothing listens there on a test machine.
  const thrown = await thrownBy(loopbackHttpClient, 'http://127.0.0.1:9/x');
  assert.equal((thrown as { code?: unknown }).code, 'ECONNREFUSED', String(thrown));
  const e = describeAzureError(thrown, 'reading the secret s from Key Vault', 'KeyVaultFailed');
  assert.equal(e.code, 'KeyVaultFailed');
  assert.match(e.message, /^Reading the secret s from Key Vault failed: .*ECONNREFUSED/);
  assert.match(e.message, /HTTPS_PROXY/);
});

test('no Azure identity at all is a configuration problem (exit 2); an identity endpoint that keeps failing is not (exit 1)', () => {
  const none = describeAzureError(
    new CredentialUnavailableError('ManagedIdentityCredential: no managed identity endpoint found.'),
    'reading the secret s',
    'KeyVaultFailed',
  );
  assert.equal(none.code, 'IdentityUnavailable');
  assert.equal(none.exitCode, 2);
  assert.match(none.message, /^Reading the secret s failed: no Azure identity could get a token\./);

  const failing = Object.assign(new Error('ManagedIdentityCredential: the endpoint answered 503'), { status: 503 });
  const aggregate = new AggregateAuthenticationError(
    [new CredentialUnavailableError('EnvironmentCredential is unavailable.'), failing],
    'DefaultAzureCredential failed',
  );
  const transient = describeAzureError(aggregate, 'reading the secret s', 'KeyVaultFailed');
  assert.equal(transient.code, 'IdentityFailed');
  assert.equal(transient.exitCode, 1);
  assert.match(transient.message, /kept failing \(HTTP 503\)/);
});

test('an identity endpoint that refuses (4xx) is a configuration problem; a 5xx answer a failure', () => {
  const refused = describeAzureError(
    new AuthenticationError(400, { error: 'invalid_request', error_description: 'Identity not found' }),
    'getting a Storage token',
    'StorageFailed',
  );
  assert.equal(refused.code, 'IdentityUnavailable');
  assert.equal(refused.exitCode, 2);
  assert.match(refused.message, /refused a token \(HTTP 400\)/);
  const failed = describeAzureError(
    new AuthenticationError(500, { error: 'server_error', error_description: 'Try again' }),
    'getting a Storage token',
    'StorageFailed',
  );
  assert.equal(failed.code, 'IdentityFailed');
  assert.equal(failed.exitCode, 1);
});

test('an ExportError already made is passed on as it is', () => {
  const original = new ExportError('GraphFailed', 'already explained');
  assert.equal(describeAzureError(original, 'anything', 'StorageFailed'), original);
});
