/**
 * Just enough JWT (RFC 7519 / JWS compact) for the sim: decode without trusting, verify RS256 / PS256, and issue
 * RS256 access tokens with the sim's signing key. No external library: the point is to verify exactly what
 * Entra, Graph and Key Vault verify, and nothing more lenient.
 */
import { KeyObject, constants, createHash, createPublicKey, randomUUID, sign, verify } from 'node:crypto';

export type JwtAlgorithm = 'RS256' | 'PS256';
export type JwtClaims = Record<string, unknown>;

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: JwtClaims;
  signingInput: string;
  signature: Buffer;
}

export const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

function parseSegment(segment: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error('not base64url');
  const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  return value as Record<string, unknown>;
}

/** Splits and parses a compact JWS; returns undefined when it is not one (three base64url parts, JSON objects). */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined;
    return { header: parseSegment(h), payload: parseSegment(p), signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
  } catch {
    return undefined;
  }
}

/** Verifies the signature for `alg` (PS256 = RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length 32 per RFC 7518). */
export function verifyJwtSignature(jwt: DecodedJwt, alg: JwtAlgorithm, publicKey: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  try {
    if (alg === 'RS256') return verify('sha256', data, publicKey, jwt.signature);
    return verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, jwt.signature);
  } catch {
    return false;
  }
}

export function signJwt(header: Record<string, unknown>, payload: JwtClaims, privateKey: KeyObject): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), privateKey))}`;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The outcome of checking a bearer token the sim issued. */
export type BearerCheck =
  { ok: true; claims: JwtClaims } | { ok: false; reason: 'missing' | 'malformed' | 'signature' | 'expired' | 'not-yet-valid' };

/**
 * The sim's token-signing key: issues RS256 access tokens (Entra's format, `kid`/`x5t` header) and verifies the
 * ones resource servers receive. One key per tenant instance, published in the JWKS document.
 */
export class TokenSigner {
  readonly kid: string;
  private readonly publicKey: KeyObject;

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    const spki = this.publicKey.export({ type: 'spki', format: 'der' });
    this.kid = base64url(createHash('sha1').update(spki).digest());
  }

  /** Signs `claims` plus a fresh `uti` (Entra's unique token id). */
  issue(claims: JwtClaims): string {
    return signJwt(
      { typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid },
      { ...claims, uti: base64url(randomUUID()) },
      this.privateKey,
    );
  }

  /** Signature and lifetime (no skew: the sim's clock is the issuer's). Audience and claims are the caller's. */
  check(token: string | undefined): BearerCheck {
    if (token === undefined || token === '') return { ok: false, reason: 'missing' };
    const jwt = decodeJwt(token);
    if (jwt === undefined || jwt.header['alg'] !== 'RS256') return { ok: false, reason: 'malformed' };
    if (!verifyJwtSignature(jwt, 'RS256', this.publicKey)) return { ok: false, reason: 'signature' };
    const now = nowSeconds();
    const exp = jwt.payload['exp'];
    const nbf = jwt.payload['nbf'];
    if (typeof exp !== 'number' || exp <= now) return { ok: false, reason: 'expired' };
    if (typeof nbf === 'number' && nbf > now) return { ok: false, reason: 'not-yet-valid' };
    return { ok: true, claims: jwt.payload };
  }

  /** The public key as a JWKS document (what `jwks_uri` serves). */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e }] };
  }
}

/** The token from an `Authorization: Bearer <token>` header (scheme case-insensitive). */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer\s+(\S*)\s*$/i.exec(authorization);
  return m === null ? undefined : m[1];
}
