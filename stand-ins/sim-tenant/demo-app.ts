/**
 * Sets up "the Graph app" in a simulated tenant the way an administrator would in a real one: an app registration
 * with User.Read.All (application, admin-consented), a credential registered on it, that credential stored in
 * Key Vault, and Key Vault Secrets User on that secret for the function's system-assigned identity.
 * The demo and the integration tests start from this.
 */
import { createAppCertificate, toPemBundle, toPfxBase64 } from './certs.js';
import type { SimTenant } from './index.js';

export type DemoCredential = 'certificate-pfx' | 'certificate-pem' | 'secret' | 'federated';

export interface DemoApp {
  clientId: string;
  /**
   * GRAPH_CLIENT_ID plus GRAPH_CLIENT_SECRET_NAME or GRAPH_CLIENT_CERTIFICATE_NAME, or GRAPH_FEDERATED_IDENTITY_CLIENT_ID
   * (which needs no KEY_VAULT_URL: a caller may drop the sim's).
   */
  env: Record<string, string>;
  /** The user-assigned identity the app trusts (federated only). */
  identity?: { principalId: string; clientId: string };
}

export function setupDemoApp(sim: SimTenant, opts: { credential: DemoCredential; secretName?: string }): DemoApp {
  if (opts.credential === 'federated') {
    // Secretless: a user-assigned identity, and the app trusting it through a federated identity credential
    // (issuer = the tenant's v2.0 issuer, subject = the identity's principal ID, audience = the exchange audience).
    const identity = sim.addUserAssignedIdentity();
    const app = sim.addApp({
      displayName: 'entra-users-export',
      federatedIdentityCredentials: [
        { name: 'entra-users-export', issuer: sim.issuer, subject: identity.principalId, audiences: [sim.tokenExchangeAudience] },
      ],
    });
    return {
      clientId: app.clientId,
      identity,
      env: { GRAPH_CLIENT_ID: app.clientId, GRAPH_FEDERATED_IDENTITY_CLIENT_ID: identity.clientId },
    };
  }
  const app = sim.addApp({ displayName: 'entra-users-export' });
  let name: string;
  if (opts.credential === 'secret') {
    name = opts.secretName ?? 'graph-export-secret';
    sim.setSecret(name, sim.addClientSecret(app.clientId), { contentType: 'text/plain' });
  } else {
    name = opts.secretName ?? 'graph-export-cert';
    const cert = createAppCertificate({ commonName: 'entra-users-export' });
    sim.addCertificate(app.clientId, cert.certPem);
    if (opts.credential === 'certificate-pfx') {
      // Key Vault returns the chain leaf-last in its PKCS#12 secrets.
      sim.setSecret(name, toPfxBase64({ keyPem: cert.keyPem, certsPem: [...cert.chainPem].reverse() }), {
        contentType: 'application/x-pkcs12',
      });
    } else {
      sim.setSecret(name, toPemBundle({ keyPem: cert.keyPem, certsPem: cert.chainPem }), { contentType: 'application/x-pem-file' });
    }
  }
  sim.grantKeyVaultSecretsUser(sim.systemIdentity.principalId, { secret: name });
  const credentialSetting = opts.credential === 'secret' ? 'GRAPH_CLIENT_SECRET_NAME' : 'GRAPH_CLIENT_CERTIFICATE_NAME';
  return { clientId: app.clientId, env: { GRAPH_CLIENT_ID: app.clientId, [credentialSetting]: name } };
}
