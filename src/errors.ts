/**
 * Typed errors. Every failure the export can meet is turned into an {@link ExportError} whose message is one
 * paragraph a user can act on (what failed, which setting or resource, how to fix it) and whose `code` a
 * program can switch on. Messages never contain secret values, keys or tokens.
 */

/** Exit code for a configuration, permission or credential problem: retrying will not help until something is changed. */
export const EXIT_CONFIG = 2;
/** Exit code for any other failure (service errors, retries exhausted, timeouts, unexpected responses). */
export const EXIT_FAILURE = 1;

export type ExportErrorCode =
  | 'InvalidSettings'
  | 'KeyVaultForbidden'
  | 'KeyVaultNotFound'
  | 'KeyVaultFailed'
  | 'IdentityUnavailable'
  | 'IdentityFailed'
  | 'CredentialMaterialInvalid'
  | 'TokenRequestRejected'
  | 'TokenRequestFailed'
  | 'GraphForbidden'
  | 'GraphUnauthorized'
  | 'GraphFailed'
  | 'GraphProtocolError'
  | 'StorageForbidden'
  | 'StorageFailed'
  | 'InvalidArguments'
  | 'SnapshotNotFound'
  | 'SnapshotUnreadable'
  | 'Unexpected';

/** Codes that mean "change the configuration, the credential or a permission" (exit code 2). */
const CONFIG_CODES: ReadonlySet<ExportErrorCode> = new Set<ExportErrorCode>([
  'InvalidSettings',
  'KeyVaultForbidden',
  'KeyVaultNotFound',
  'IdentityUnavailable',
  'CredentialMaterialInvalid',
  'TokenRequestRejected',
  'GraphForbidden',
  'StorageForbidden',
  'InvalidArguments',
  'SnapshotNotFound',
]);

export class ExportError extends Error {
  override readonly name = 'ExportError';
  readonly code: ExportErrorCode;
  /** 2 for configuration / permission / credential problems, 1 otherwise. */
  readonly exitCode: number;
  /** Extra structured detail safe to log (never secrets): e.g. the list of setting problems. */
  readonly details: readonly string[];

  constructor(code: ExportErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = CONFIG_CODES.has(code) ? EXIT_CONFIG : EXIT_FAILURE;
    this.details = options.details ?? [];
  }
}

export function isExportError(e: unknown): e is ExportError {
  return e instanceof ExportError;
}

/** The HTTP status an Azure SDK error carries (RestError's `statusCode`), if any. */
export function statusOf(e: unknown): number | undefined {
  const status = (e as { statusCode?: unknown } | null | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A short, secret-free description of an unknown thrown value (message only, no stack, no request bodies). */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const status = statusOf(e);
    const parts = [e.message.split('\n')[0]?.trim() || e.name];
    if (typeof code === 'string' && !parts[0]!.includes(code)) parts.push(`(${code})`);
    if (status !== undefined) parts.push(`[HTTP ${status}]`);
    return parts.join(' ');
  }
  return String(e);
}
