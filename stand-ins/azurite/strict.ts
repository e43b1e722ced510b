/**
 * The child process that stand-ins/azurite/index.ts starts: Azurite's blob service (what its own
 * `azurite/dist/src/blob/main.js` does), with a guard in front of Azurite's request handler that refuses
 * what Azure Storage refuses and Azurite accepts — answered with Azure's own status, error code and body —
 * so that no test, demo or benchmark can pass on behaviour that real Storage would reject.
 *
 * Refused today:
 * - Put Block with an empty body. Azure answers 400 InvalidHeaderValue naming Content-Length 0; Azurite
 *   stores the empty block. Seen from real accounts: fsspec/adlfs#71 (`stage_block` of 0 bytes:
 *   "ErrorCode:InvalidHeaderValue … HeaderName:Content-Length HeaderValue:0") and fsspec/adlfs#155 ("azurite
 *   doesn't raise the exception when trying to write an empty block").
 *
 * The guard sits inside Azurite's process, on its own server, so it costs no extra hop and works for
 * plain HTTP and for HTTPS (--cert/--key, --oauth) alike. Run with Azurite's own command-line options.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The parts of Azurite's (untyped, internal) blob server used here; see azurite/dist/src/blob/main.js. */
interface AzuriteServer {
  readonly config: { enableDebugLog: boolean; debugLogFilePath?: string };
  readonly httpServer: http.Server;
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
}
interface AzuriteModules {
  BlobServerFactory: new () => { createServer(): Promise<AzuriteServer> };
  BlobEnvironment: new () => unknown;
  setExtentMemoryLimit(env: unknown, logToConsole: boolean): void;
  configLogger(enable: boolean, file?: string): void;
}

function loadAzurite(): AzuriteModules {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const factory = require('azurite/dist/src/blob/BlobServerFactory') as Pick<AzuriteModules, 'BlobServerFactory'>;
  const environment = require('azurite/dist/src/blob/BlobEnvironment') as { default: AzuriteModules['BlobEnvironment'] };
  const configuration = require('azurite/dist/src/common/ConfigurationBase') as Pick<AzuriteModules, 'setExtentMemoryLimit'>;
  const logger = require('azurite/dist/src/common/Logger') as Pick<AzuriteModules, 'configLogger'>;
  return {
    BlobServerFactory: factory.BlobServerFactory,
    BlobEnvironment: environment.default,
    setExtentMemoryLimit: configuration.setExtentMemoryLimit,
    configLogger: logger.configLogger,
  };
}

interface AzureRefusal {
  status: number;
  code: string;
  message: string;
  /** Extra XML elements of the error body, e.g. HeaderName / HeaderValue. */
  details: Record<string, string>;
}

/**
 * What Azure Storage would answer instead of Azurite, or undefined to let Azurite answer.
 *
 * Put Block is `PUT …?comp=block&blockid=…` with the block as the body ("Put Block", Blob service REST API:
 * https://learn.microsoft.com/rest/api/storageservices/put-block). Put Block *from URL* is the same comp with
 * an `x-ms-copy-source` header and legitimately no body ("Put Block From URL":
 * https://learn.microsoft.com/rest/api/storageservices/put-block-from-url), so it is not refused.
 */
export function azureRefusal(
  method: string | undefined,
  url: string | undefined,
  headers: http.IncomingHttpHeaders,
): AzureRefusal | undefined {
  if (method !== 'PUT') return undefined;
  const query = new URL(url ?? '/', 'http://azurite.invalid').searchParams;
  if (query.get('comp') !== 'block' || headers['x-ms-copy-source'] !== undefined) return undefined;
  if (headers['content-length'] !== '0') return undefined;
  return {
    status: 400,
    code: 'InvalidHeaderValue',
    // Code and status: "Common REST API error codes" (InvalidHeaderValue, Bad Request (400)):
    // https://learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes. Message (also the
    // HTTP reason phrase) and the HeaderName/HeaderValue elements as real accounts answer it: fsspec/adlfs#71
    // (this very case), Azure/azure-sdk-for-python#15588 ("Status: 400 (The value for one of …)").
    message: 'The value for one of the HTTP headers is not in the correct format.',
    details: { HeaderName: 'Content-Length', HeaderValue: '0' },
  };
}

/**
 * Azure Storage's error response: XML `<Error><Code/><Message>…\nRequestId:…\nTime:…</Message>…</Error>`
 * after a UTF-8 byte order mark, `x-ms-error-code`, `x-ms-request-id` ("Status and error codes":
 * https://learn.microsoft.com/rest/api/storageservices/status-and-error-codes2; the BOM and shape as
 * recorded from real accounts in Azure/azure-storage-ios#85 and Azure-Samples/azure-batch-samples#82).
 */
function writeAzureError(res: http.ServerResponse, refusal: AzureRefusal, version: string | undefined): void {
  const requestId = randomUUID();
  const details = Object.entries(refusal.details)
    .map(([name, value]) => `<${name}>${value}</${name}>`)
    .join('');
  const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${refusal.code}</Code><Message>${refusal.message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message>${details}</Error>`;
  const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml, 'utf8')]);
  res.writeHead(refusal.status, refusal.message, {
    'content-type': 'application/xml',
    'content-length': String(body.length),
    'x-ms-error-code': refusal.code,
    'x-ms-request-id': requestId,
    ...(version ? { 'x-ms-version': version } : {}),
  });
  res.end(body);
}

function guard(azurite: RequestListener): RequestListener {
  return (req, res) => {
    const refusal = azureRefusal(req.method, req.url, req.headers);
    if (!refusal) {
      azurite(req, res);
      return;
    }
    const version = req.headers['x-ms-version'];
    // Read the (empty) body to its end so that the connection stays usable for the client's next request.
    req.resume();
    req.once('end', () => writeAzureError(res, refusal, typeof version === 'string' ? version : undefined));
  };
}

async function main(): Promise<void> {
  const azurite = loadAzurite();
  const server = await new azurite.BlobServerFactory().createServer();
  azurite.configLogger(server.config.enableDebugLog, server.config.debugLogFilePath);
  azurite.setExtentMemoryLimit(new azurite.BlobEnvironment(), true);
  const listeners = server.httpServer.listeners('request') as RequestListener[];
  if (listeners.length !== 1) throw new Error(`expected Azurite's one request listener, found ${listeners.length}`);
  server.httpServer.removeAllListeners('request');
  server.httpServer.on('request', guard(listeners[0]!));
  await server.start();
  // stand-ins/azurite/index.ts waits for this line (Azurite's own wording).
  console.log(`Azurite Blob service successfully listens on ${server.getHttpServerAddress()}`);
  const shutdown = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown).once('SIGINT', shutdown);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`Exit due to unhandled error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
