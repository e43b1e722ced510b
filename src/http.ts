/**
 * One HTTP stack for the calls we make ourselves (Graph, and MSAL's token requests): the Azure SDK's
 * `@azure/core-rest-pipeline`, so they get exactly what Key Vault and Storage get from their SDKs —
 * `HTTPS_PROXY`/`NO_PROXY`, retries of 429/503 honouring `Retry-After`, exponential backoff with jitter
 * for 5xx and connection errors, bounded attempts — plus a timeout on every attempt.
 *
 * {@link attemptPolicy} is also added to the Key Vault, managed-identity and Storage clients, so that one
 * setting (EXPORT_REQUEST_TIMEOUT_SECONDS) bounds every wait of a run: no attempt of any call lasts longer,
 * and no pause between attempts (backoff or a server's Retry-After) is longer either (nor than 60 s).
 */
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  RestError,
  type HttpClient,
  type HttpHeaders,
  type HttpMethods,
  type Pipeline,
  type PipelinePolicy,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';

export interface HttpOptions {
  /** Retries after the first attempt (429/503/504, 5xx, connection errors, attempt timeouts). */
  maxRetries?: number;
  /** Base delay of the exponential backoff, ms. */
  retryDelayInMs?: number;
  /** Cap of one backoff delay, ms. */
  maxRetryDelayInMs?: number;
  /** Timeout of one attempt, headers and body, ms. */
  attemptTimeoutInMs?: number;
  /** Called before each retry of a request, with what the previous attempt got (for progress and the manifest's `retries`). */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  url: string;
  attempt: number;
  status: number | undefined;
  error: string | undefined;
}

export const DEFAULT_HTTP_OPTIONS = {
  maxRetries: 6,
  retryDelayInMs: 800,
  maxRetryDelayInMs: 60_000,
  attemptTimeoutInMs: 100_000,
} as const satisfies HttpOptions;

/** The longest pause between two attempts, whatever the request timeout. */
export const MAX_RETRY_DELAY_MS = 60_000;

/**
 * The bounds every client of a run gets from the request timeout: each attempt at most `timeoutMs`, each
 * pause between attempts (exponential backoff, or Retry-After) at most min(60 s, `timeoutMs`). With the
 * bounded number of attempts, a call that keeps failing gives up within attempts × (timeout + pause).
 */
export function retryBounds(timeoutMs: number): { attemptTimeoutInMs: number; maxRetryDelayInMs: number } {
  return { attemptTimeoutInMs: timeoutMs, maxRetryDelayInMs: Math.min(MAX_RETRY_DELAY_MS, timeoutMs) };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A small client over a core-rest-pipeline pipeline. */
export class HttpClientWithRetries {
  readonly #pipeline: Pipeline;
  readonly #client: HttpClient;

  constructor(options: HttpOptions = {}, client: HttpClient = createDefaultHttpClient()) {
    const o = { ...DEFAULT_HTTP_OPTIONS, ...options };
    this.#client = client;
    // createPipelineFromOptions gives the SDK's standard policies: proxy from the environment,
    // user agent, client request id, the default retry policy (throttling + exponential + system errors).
    this.#pipeline = createPipelineFromOptions({
      retryOptions: { maxRetries: o.maxRetries, retryDelayInMs: o.retryDelayInMs, maxRetryDelayInMs: o.maxRetryDelayInMs },
      userAgentOptions: { userAgentPrefix: 'entra-users-export' },
    });
    // Per attempt (after the retry phase): a timeout that the retry strategies see as a retriable system error.
    this.#pipeline.addPolicy(attemptPolicy({ timeoutInMs: o.attemptTimeoutInMs, maxRetryAfterInMs: o.maxRetryDelayInMs, onRetry: options.onRetry }), { afterPhase: 'Retry' });
  }

  async send(method: HttpMethods, url: string, init: { headers?: Record<string, string>; body?: string; abortSignal?: AbortSignal } = {}): Promise<HttpResult> {
    const request = createPipelineRequest({
      url,
      method,
      headers: createHttpHeaders(init.headers),
      body: init.body,
      abortSignal: init.abortSignal,
    });
    const response = await this.#pipeline.sendRequest(this.#client, request);
    return { status: response.status, headers: response.headers.toJSON(), body: response.bodyAsText ?? '' };
  }
}

interface AttemptState {
  attempt: number;
  lastStatus: number | undefined;
  lastError: string | undefined;
}
const attempts = new WeakMap<PipelineRequest, AttemptState>();

export interface AttemptPolicyOptions {
  /** Timeout of one attempt (until the response headers, or the whole body when it is buffered), ms. */
  timeoutInMs: number;
  /** A longer Retry-After (429/503) is shortened to this, ms; default: honoured as given. */
  maxRetryAfterInMs?: number;
  onRetry?: HttpOptions['onRetry'];
}

/**
 * A policy for the position after the retry policy ('perRetry'): it times out each attempt as a retriable
 * `ETIMEDOUT` system error, caps the Retry-After the retry policy will honour, and reports retries.
 */
export function attemptPolicy(options: AttemptPolicyOptions): PipelinePolicy {
  const { timeoutInMs, maxRetryAfterInMs, onRetry } = options;
  return {
    name: 'entraUsersExportAttempt',
    async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
      const state = attempts.get(request) ?? { attempt: 0, lastStatus: undefined, lastError: undefined };
      attempts.set(request, state);
      state.attempt += 1;
      if (state.attempt > 1) {
        onRetry?.({ url: request.url, attempt: state.attempt, status: state.lastStatus, error: state.lastError });
      }
      const outer = request.abortSignal;
      const controller = new AbortController();
      const onOuterAbort = (): void => controller.abort();
      outer?.addEventListener('abort', onOuterAbort);
      const timer = setTimeout(() => controller.abort(), timeoutInMs);
      request.abortSignal = controller.signal;
      try {
        const response = await next(request);
        state.lastStatus = response.status;
        state.lastError = undefined;
        if (maxRetryAfterInMs !== undefined) capRetryAfter(response.headers, maxRetryAfterInMs);
        return response;
      } catch (e) {
        // The retry policy gives up on an AbortError; a timed-out attempt is a transient failure, so
        // report it as the system error the exponential strategy retries.
        const timedOut = controller.signal.aborted && !outer?.aborted;
        const error = timedOut
          ? new RestError(`no response within ${Math.round(timeoutInMs / 1000)} s`, { code: 'ETIMEDOUT', request })
          : e;
        const code = (error as { code?: unknown }).code;
        state.lastStatus = undefined;
        state.lastError = typeof code === 'string' ? code : 'error';
        throw error;
      } finally {
        clearTimeout(timer);
        outer?.removeEventListener('abort', onOuterAbort);
        request.abortSignal = outer;
      }
    },
  };
}

/** Retry-After in seconds or as an HTTP date, and the millisecond variants Azure services send. */
const RETRY_AFTER_HEADERS: ReadonlyArray<[name: string, msPerUnit: number]> = [['retry-after-ms', 1], ['x-ms-retry-after-ms', 1], ['retry-after', 1000]];

/** Shortens a Retry-After longer than `maxInMs` (a throttled service may ask for minutes or hours). */
function capRetryAfter(headers: HttpHeaders, maxInMs: number): void {
  for (const [name, msPerUnit] of RETRY_AFTER_HEADERS) {
    const value = headers.get(name);
    if (value === undefined) continue;
    let ms = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) * msPerUnit : NaN;
    if (Number.isNaN(ms) && msPerUnit === 1000) ms = Date.parse(value) - Date.now();
    if (ms > maxInMs) headers.set(name, String(maxInMs / msPerUnit));
  }
}

/**
 * An HttpClient that runs every request through {@link attemptPolicy}: for clients that take an HttpClient
 * but no per-retry policies (the managed-identity credential), under their own retry policy.
 */
export function withAttemptPolicy(client: HttpClient, options: AttemptPolicyOptions): HttpClient {
  const policy = attemptPolicy(options);
  return { sendRequest: (request) => policy.sendRequest(request, (r) => client.sendRequest(r)) };
}

/**
 * MSAL's network module on the same pipeline: the token endpoint then gets proxy support (Node's global
 * `fetch`, MSAL's default, ignores `HTTPS_PROXY`) and the same bounded retries of 429/5xx.
 */
export function msalNetworkModule(http: HttpClientWithRetries): INetworkModule {
  // MSAL replaces any other error of a network module by a bare 'network_error' (see
  // https://aka.ms/msal.js.errors); an AuthError carries what actually happened through to the user.
  const fail = (what: string): AuthError => new AuthError('network_error', '', what);
  const send = async <T>(method: HttpMethods, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> => {
    let result: HttpResult;
    try {
      result = await http.send(method, url, { headers: options?.headers, body: options?.body });
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const message = e instanceof Error ? (e.message.split('\n')[0] ?? '').trim() : String(e);
      throw fail(`${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''}`);
    }
    let body: T;
    try {
      body = JSON.parse(result.body) as T;
    } catch {
      throw fail(`the identity platform answered HTTP ${result.status} with a body that is not JSON (${result.headers['content-type'] ?? 'no content type'})`);
    }
    return { status: result.status, headers: result.headers, body };
  };
  return {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('GET', url, options),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('POST', url, options),
  };
}
