/**
 * The naive exporter the benchmark compares the product with — what most samples do: get a Graph token
 * with MSAL, `fetch` every page one after the other, collect all users in one array, `JSON.stringify` it
 * and upload it in one `uploadData` call. Same settings, same Key Vault credential and MSAL code as the
 * product (reused from src/, since the credential is not what is being compared); no retries, no
 * manifest. Prints one line of JSON: { userCount, pages, bytes, blobName }.
 *
 * Run by tools/bench/bench.ts as `node --require usage-hook.js baseline.js` with the product's environment.
 */
import { DefaultAzureCredential } from '@azure/identity';
import { BlobServiceClient } from '@azure/storage-blob';
import { loadGraphCredential } from '../../src/credential.js';
import { firstPageUrl } from '../../src/graph.js';
import { readSettings } from '../../src/settings.js';
import { graphTokenProvider } from '../../src/token.js';

interface GraphPage {
  value: Array<Record<string, unknown>>;
  '@odata.nextLink'?: string;
}

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  if (settings.storage.kind !== 'connectionString') throw new Error('the baseline needs EXPORT_STORAGE (a connection string)');
  const azureCredential = new DefaultAzureCredential();
  const credential = await loadGraphCredential(settings, azureCredential);
  const token = await graphTokenProvider(settings, credential).getToken();

  const all: Array<Record<string, unknown>> = [];
  let pages = 0;
  let url: string | undefined = firstPageUrl(settings.graphEndpoint, settings.select, settings.filter);
  while (url) {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
    if (!response.ok) throw new Error(`Graph answered HTTP ${response.status}: ${await response.text()}`);
    const page = (await response.json()) as GraphPage;
    for (const user of page.value) all.push(user);
    pages += 1;
    url = page['@odata.nextLink'];
  }

  const body = Buffer.from(JSON.stringify(all));
  const container = BlobServiceClient.fromConnectionString(settings.storage.connectionString).getContainerClient(settings.container);
  await container.createIfNotExists();
  const blobName = `baseline/${Date.now()}/users.json`;
  await container.getBlockBlobClient(blobName).uploadData(body, { blobHTTPHeaders: { blobContentType: 'application/json' } });
  process.stdout.write(`${JSON.stringify({ userCount: all.length, pages, bytes: body.length, blobName })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`baseline failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
