import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenExchangeAudience } from '../../src/federated-credential.js';

test('the token-exchange audience follows the cloud of GRAPH_AUTHORITY_HOST', () => {
  // "Configure an application to trust a managed identity", audiences; the hosts are each cloud's login host under
  // every alias MSAL knows (@azure/msal-common src/authority/AuthorityMetadata.ts).
  const cases: Array<[string, string]> = [
    ['https://login.microsoftonline.com', 'api://AzureADTokenExchange'],
    ['https://login.microsoftonline.us', 'api://AzureADTokenExchangeUSGov'],
    ['https://LOGIN.usgovcloudapi.net', 'api://AzureADTokenExchangeUSGov'],
    ['https://login.partner.microsoftonline.cn', 'api://AzureADTokenExchangeChina'],
    ['https://login.chinacloudapi.cn', 'api://AzureADTokenExchangeChina'],
    // Any other host (a test tenant, a private authority): the global service's.
    ['https://localhost:8443', 'api://AzureADTokenExchange'],
  ];
  for (const [host, audience] of cases) assert.equal(tokenExchangeAudience(host), audience, host);
});
