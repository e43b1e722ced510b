/**
 * The tenant's directory objects the sim's services consult: app registrations (with their granted app roles,
 * client secrets and certificates) and managed identities. Users live in users.ts (generated, never stored).
 */
import { X509Certificate, createHash, randomBytes, randomUUID } from 'node:crypto';

export interface RegisteredCertificate {
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly sha256: Buffer;
  readonly sha1: Buffer;
}

export interface ClientSecret {
  readonly value: string;
  readonly expired: boolean;
}

/**
 * A federated identity credential on an app (Graph's federatedIdentityCredential: issuer, subject, audiences;
 * https://learn.microsoft.com/graph/api/resources/federatedidentitycredential). Stored as given: like Entra, the
 * sim checks nothing when one is added, only when a token is presented against it.
 */
export interface FederatedIdentityCredential {
  readonly name: string;
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
}

export interface AppRegistration {
  readonly displayName: string;
  readonly clientId: string;
  /** The service principal's object id: the `oid` of the app's tokens. */
  readonly objectId: string;
  readonly roles: readonly string[];
  readonly secrets: ClientSecret[];
  readonly certificates: RegisteredCertificate[];
  readonly federatedIdentityCredentials: FederatedIdentityCredential[];
}

export type FederatedIdentityCredentialInput = Omit<FederatedIdentityCredential, 'name'> & { name?: string };

export interface ManagedIdentity {
  readonly principalId: string;
  readonly clientId: string;
  readonly kind: 'system' | 'user';
}

/** Entra client secrets look like `Abc8Q~` followed by 34 URL-safe characters (40 in all). */
function newSecretValue(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-';
  const pick = (n: number): string => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');
  return `${pick(3)}8Q~${pick(34)}`;
}

export class Directory {
  private readonly apps = new Map<string, AppRegistration>();
  private readonly identities = new Map<string, ManagedIdentity>();
  readonly systemIdentity: ManagedIdentity = { principalId: randomUUID(), clientId: randomUUID(), kind: 'system' };

  constructor() {
    this.identities.set(this.systemIdentity.clientId, this.systemIdentity);
  }

  addApp(
    opts: { displayName?: string; roles?: string[]; federatedIdentityCredentials?: readonly FederatedIdentityCredentialInput[] } = {},
  ): AppRegistration {
    const app: AppRegistration = {
      displayName: opts.displayName ?? 'entra-users-export',
      clientId: randomUUID(),
      objectId: randomUUID(),
      roles: [...(opts.roles ?? ['User.Read.All'])],
      secrets: [],
      certificates: [],
      federatedIdentityCredentials: [],
    };
    this.apps.set(app.clientId, app);
    for (const fic of opts.federatedIdentityCredentials ?? []) this.addFederatedIdentityCredential(app.clientId, fic);
    return app;
  }

  /** At most 20 per app, as Entra allows ("Configure an application to trust a managed identity"). */
  addFederatedIdentityCredential(clientId: string, fic: FederatedIdentityCredentialInput): void {
    const list = this.requireApp(clientId).federatedIdentityCredentials;
    if (list.length >= 20) throw new Error(`sim-tenant: app ${clientId} already has 20 federated identity credentials`);
    list.push({ name: fic.name ?? `fic-${list.length + 1}`, issuer: fic.issuer, subject: fic.subject, audiences: [...fic.audiences] });
  }

  app(clientId: string): AppRegistration | undefined {
    return this.apps.get(clientId.toLowerCase());
  }

  private requireApp(clientId: string): AppRegistration {
    const app = this.app(clientId);
    if (app === undefined) throw new Error(`sim-tenant: no app registration with client id ${clientId}`);
    return app;
  }

  addClientSecret(clientId: string, opts: { expired?: boolean } = {}): string {
    const value = newSecretValue();
    this.requireApp(clientId).secrets.push({ value, expired: opts.expired ?? false });
    return value;
  }

  addCertificate(clientId: string, certPem: string): void {
    const x509 = new X509Certificate(certPem);
    this.requireApp(clientId).certificates.push({
      pem: certPem,
      x509,
      sha256: createHash('sha256').update(x509.raw).digest(),
      sha1: createHash('sha1').update(x509.raw).digest(),
    });
  }

  addUserAssignedIdentity(): ManagedIdentity {
    const identity: ManagedIdentity = { principalId: randomUUID(), clientId: randomUUID(), kind: 'user' };
    this.identities.set(identity.clientId, identity);
    return identity;
  }

  identity(clientId: string): ManagedIdentity | undefined {
    return this.identities.get(clientId.toLowerCase());
  }

  identityByPrincipal(principalId: string): ManagedIdentity | undefined {
    const id = principalId.toLowerCase();
    return [...this.identities.values()].find((i) => i.principalId === id);
  }
}
