/**
 * How every client of a run goes over the network, decided once from the settings and handed to each — Key
 * Vault's SecretClient, the Storage client, DefaultAzureCredential's managed-identity calls, the Graph
 * client and MSAL's network module — as the Azure SDKs take one client options bag (`CommonClientOptions`).
 *
 * One setting, EXPORT_REQUEST_TIMEOUT_SECONDS, bounds every wait: no attempt of any call lasts longer, and no
 * pause between two attempts (backoff or a server's Retry-After) is longer either, nor longer than 60 s. With
 * a bounded number of attempts, a call that keeps failing gives up within attempts × (timeout + pause).
 * The proxy is each pipeline's own proxy policy, which reads HTTPS_PROXY / NO_PROXY from the environment.
 */
import { createDefaultHttpClient, type HttpClient, type PipelinePolicy, type PipelineRetryOptions } from '@azure/core-rest-pipeline';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import type { StoragePipelineOptions } from '@azure/storage-blob';
import { attemptPolicy, withAttemptPolicy, type HttpOptions } from './http.js';
import { REQUEST_TIMEOUT_SECONDS, type ExportSettings } from './settings.js';

/** The longest pause between two attempts, whatever the request timeout. */
const MAX_RETRY_DELAY_MS = 60_000;
/** Base delay of every client's exponential backoff. */
const RETRY_DELAY_MS = 800;
/** Key Vault's pauses are capped lower: a run waits on it before anything else starts. */
const KEY_VAULT_MAX_RETRY_DELAY_MS = 30_000;
/** Retries after the first attempt, per client: Graph's listing is the long haul and gets the most. */
const MAX_RETRIES = { graph: 6, token: 4, keyVault: 4, managedIdentity: 3, storage: 5 } as const;
const USER_AGENT_PREFIX = 'entra-users-export';

/** The options of every client of a run. */
export interface Transport {
  /** The longest one attempt of any call may take, ms (EXPORT_REQUEST_TIMEOUT_SECONDS). */
  readonly attemptTimeoutInMs: number;
  /** The longest pause between two attempts of any call, ms. */
  readonly maxRetryDelayInMs: number;
  /** For Graph requests ({@link HttpClientWithRetries}); the caller adds its `onRetry`. */
  readonly graph: Readonly<HttpOptions>;
  /** For MSAL's token requests and the authority's OpenID configuration ({@link HttpClientWithRetries}). */
  readonly token: Readonly<HttpOptions>;
  /** SecretClient's client options. */
  readonly keyVault: SecretClientOptions;
  /** DefaultAzureCredential's transport: its HTTP client (each attempt timed out) and retry options. */
  readonly identity: { httpClient: HttpClient; retryOptions: PipelineRetryOptions };
  /**
   * BlobServiceClient's pipeline options, and the attempt policy its pipeline must get after the retry phase
   * (Storage's options take no per-retry policies: storage.ts adds it).
   */
  readonly storage: { pipelineOptions: StoragePipelineOptions & { retryOptions: { maxTries: number } }; perRetryPolicy: PipelinePolicy };
}

/** Every client's options, from the request timeout (default: EXPORT_REQUEST_TIMEOUT_SECONDS's default). */
export function createTransport(
  settings: Pick<ExportSettings, 'requestTimeoutMs'> = { requestTimeoutMs: REQUEST_TIMEOUT_SECONDS.default * 1000 },
): Transport {
  const attemptTimeoutInMs = settings.requestTimeoutMs;
  const maxRetryDelayInMs = Math.min(MAX_RETRY_DELAY_MS, attemptTimeoutInMs);
  const http = { retryDelayInMs: RETRY_DELAY_MS, maxRetryDelayInMs, attemptTimeoutInMs, userAgentPrefix: USER_AGENT_PREFIX };
  // The identity library and the Storage SDK set no client-side timeout, and Key Vault's none either: each of
  // their attempts (each retry, and Key Vault's challenge round trip) gets one.
  const attempt = { timeoutInMs: attemptTimeoutInMs, maxRetryAfterInMs: maxRetryDelayInMs };
  return {
    attemptTimeoutInMs,
    maxRetryDelayInMs,
    graph: { ...http, maxRetries: MAX_RETRIES.graph },
    token: { ...http, maxRetries: MAX_RETRIES.token },
    keyVault: {
      retryOptions: {
        maxRetries: MAX_RETRIES.keyVault,
        retryDelayInMs: RETRY_DELAY_MS,
        maxRetryDelayInMs: Math.min(KEY_VAULT_MAX_RETRY_DELAY_MS, maxRetryDelayInMs),
      },
      additionalPolicies: [{ policy: attemptPolicy(attempt), position: 'perRetry' }],
      userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX },
    },
    identity: {
      httpClient: withAttemptPolicy(createDefaultHttpClient(), attempt),
      retryOptions: { maxRetries: MAX_RETRIES.managedIdentity, retryDelayInMs: RETRY_DELAY_MS, maxRetryDelayInMs },
    },
    storage: {
      pipelineOptions: {
        // tryTimeoutInMs is only the server-side `timeout` parameter; the client side is perRetryPolicy.
        retryOptions: {
          maxTries: MAX_RETRIES.storage + 1,
          tryTimeoutInMs: attemptTimeoutInMs,
          retryDelayInMs: RETRY_DELAY_MS,
          maxRetryDelayInMs,
        },
        userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX },
      },
      // No Retry-After cap: Storage's own retry policy paces its retries (retryDelayInMs, maxRetryDelayInMs above).
      perRetryPolicy: attemptPolicy({ timeoutInMs: attemptTimeoutInMs }),
    },
  };
}
