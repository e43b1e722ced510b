/**
 * One HTTP stack for the calls we make ourselves (Graph, and MSAL's token requests): the Azure SDK's
 * `@azure/core-rest-pipeline`, so they get exactly what Key Vault and Storage get from their SDKs —
 * `HTTPS_PROXY`/`NO_PROXY`, retries of 429/503 honouring `Retry-After`, exponential backoff with jitter
 * for 5xx and connection errors, bounded attempts — plus a timeout on every attempt.
 *
 * {@link HttpClientWithRetries.sendStreaming} reads a 200 body as it arrives (Graph pages), with the same
 * bounds: the body shares its attempt's timeout, and a body that breaks off or stalls is retried.
 *
 * {@link attemptPolicy} is also added to the Key Vault, managed-identity and Storage clients (transport.ts),
 * so that one setting (EXPORT_REQUEST_TIMEOUT_SECONDS) bounds every wait of a run.
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
  type SendRequest,
} from '@azure/core-rest-pipeline';
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** A client's retry and timeout options; {@link createTransport} (transport.ts) gives every client its own. */
export interface HttpOptions {
  /** Retries after the first attempt (429/503/504, 5xx, connection errors, attempt timeouts). */
  maxRetries: number;
  /** Base delay of the exponential backoff, ms. */
  retryDelayInMs: number;
  /** Cap of one backoff delay, and of a server's Retry-After, ms. */
  maxRetryDelayInMs: number;
  /** Timeout of one attempt, headers and body (also a body read by {@link HttpClientWithRetries.sendStreaming}), ms. */
  attemptTimeoutInMs: number;
  /** Prefix of the User-Agent header. */
  userAgentPrefix: string;
  /** Called before each retry of a request, with what the previous attempt got (for progress and the manifest's `retries`). */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  url: string;
  attempt: number;
  status: number | undefined;
  error: string | undefined;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What {@link HttpClientWithRetries.sendStreaming} returns: also a 200's body as it came. */
export interface StreamedResult extends HttpResult {
  /**
   * The body's bytes: a 200's as received (`body` is their UTF-8 text, decoded when first read); for a status the
   * pipeline read as text (any other, or a client that does not stream), that text's UTF-8 encoding.
   */
  bytes: Buffer;
}

export interface SendInit {
  headers?: Record<string, string>;
  body?: string;
  abortSignal?: AbortSignal;
}

export interface StreamingInit extends SendInit {
  /**
   * Sees each chunk of a 200 body as it arrives, with its offset in the body. Offset 0 after earlier chunks
   * means that attempt's body broke off and a retry started it over. Must not throw.
   */
  onChunk?: (chunk: Buffer, offset: number) => void;
}

/** A small client over a core-rest-pipeline pipeline. */
export class HttpClientWithRetries {
  readonly #pipeline: Pipeline;
  readonly #client: HttpClient;
  readonly #options: HttpOptions;
  readonly #attempts: AttemptPolicy;

  constructor(options: HttpOptions, client: HttpClient = createDefaultHttpClient()) {
    const o = options;
    this.#client = client;
    this.#options = o;
    // createPipelineFromOptions gives the SDK's standard policies: proxy from the environment,
    // user agent, client request id, the default retry policy (throttling + exponential + system errors).
    this.#pipeline = createPipelineFromOptions({
      retryOptions: { maxRetries: o.maxRetries, retryDelayInMs: o.retryDelayInMs, maxRetryDelayInMs: o.maxRetryDelayInMs },
      userAgentOptions: { userAgentPrefix: o.userAgentPrefix },
    });
    // Per attempt (after the retry phase): a timeout that the retry strategies see as a retriable system error.
    this.#attempts = attemptPolicy({ timeoutInMs: o.attemptTimeoutInMs, maxRetryAfterInMs: o.maxRetryDelayInMs, onRetry: o.onRetry });
    this.#pipeline.addPolicy(this.#attempts, { afterPhase: 'Retry' });
  }

  async send(method: HttpMethods, url: string, init: SendInit = {}): Promise<HttpResult> {
    const response = await this.#pipeline.sendRequest(this.#client, newRequest(method, url, init));
    return { status: response.status, headers: response.headers.toJSON(), body: response.bodyAsText ?? '' };
  }

  /**
   * Like {@link send}, but a 200's body is handed to `onChunk` as it arrives (any other status is read as
   * text by the pipeline, as `send` does), so that the caller can act on its first bytes.
   *
   * The pipeline's retry policy and attempt timeout end when the headers arrive; the body is read here, under
   * the same guarantees: the attempt (headers and body) must complete within `attemptTimeoutInMs` of its
   * start, and a body that breaks off, stalls past that, or is cut short sends the request again after an
   * exponential backoff, reported through `onRetry` like any other retry. A body failure is retried only
   * while the request has had at most `maxRetries` attempts in all (whatever ended them), so a request that
   * keeps failing mid-body gives up like one that keeps failing before its headers.
   */
  async sendStreaming(method: HttpMethods, url: string, init: StreamingInit = {}): Promise<StreamedResult> {
    const request = newRequest(method, url, init);
    request.streamResponseStatusCodes = new Set([200]);
    for (;;) {
      // The same request object each time: attemptPolicy then numbers its attempts across body retries.
      const response = await this.#pipeline.sendRequest(this.#client, request);
      const result = { status: response.status, headers: response.headers.toJSON() };
      const stream = response.readableStreamBody;
      // Not a streamed status: the pipeline has read the body as text, retries included.
      if (stream === undefined) {
        const body = response.bodyAsText ?? '';
        return { ...result, body, bytes: Buffer.from(body, 'utf8') };
      }
      const state = this.#attempts.attemptOf(request);
      const deadline = (state?.startedAt ?? Date.now()) + this.#options.attemptTimeoutInMs;
      try {
        const bytes = await readBody(stream, {
          deadline,
          timeoutInMs: this.#options.attemptTimeoutInMs,
          signal: init.abortSignal,
          onChunk: init.onChunk,
        });
        // Decoded once, from one buffer, and only if asked for: Graph pages are read from their bytes.
        let text: string | undefined;
        return {
          ...result,
          bytes,
          get body() {
            return (text ??= bytes.toString('utf8'));
          },
        };
      } catch (e) {
        if (!state || !(e instanceof BodyFailure) || init.abortSignal?.aborted) throw e;
        if (state.attempt > this.#options.maxRetries) {
          const error = e;
          throw new RestError(`${error.message}, on attempt ${state.attempt} of ${this.#options.maxRetries + 1}`, { code: error.code });
        }
        // What the next attempt's onRetry reports.
        state.lastStatus = undefined;
        state.lastError = (e as { code?: string }).code ?? 'error';
        await sleep(backoffDelay(state.attempt, this.#options), undefined, { signal: init.abortSignal });
      }
    }
  }
}

function newRequest(method: HttpMethods, url: string, init: SendInit): PipelineRequest {
  return createPipelineRequest({ url, method, headers: createHttpHeaders(init.headers), body: init.body, abortSignal: init.abortSignal });
}

/** The SDK's exponential backoff (base × 2^(attempt-1), capped, then half of it jittered). */
function backoffDelay(attempt: number, o: { retryDelayInMs: number; maxRetryDelayInMs: number }): number {
  const capped = Math.min(o.maxRetryDelayInMs, o.retryDelayInMs * 2 ** (attempt - 1));
  return capped / 2 + Math.random() * (capped / 2);
}

/**
 * Errors of {@link readBody} that a new attempt may cure (not an abort by the caller, not the observer's).
 * Not a RestError subclass: RestError resets its prototype, so `instanceof` would not tell them apart.
 */
class BodyFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function bodyFailure(message: string, code: string): BodyFailure {
  return new BodyFailure(message, code);
}

function ignoreError(): void {}

interface ReadBodyOptions {
  /** Epoch ms by which the whole body must have arrived. */
  deadline: number;
  /** For the message only. */
  timeoutInMs: number;
  signal: AbortSignal | undefined;
  onChunk: StreamingInit['onChunk'];
}

/**
 * Reads a response body to the end, chunk by chunk, holding the chunks until one final concat. It settles
 * exactly once, whatever the stream does: its end; an error, or a close before the end (a reset or a body cut
 * short), as a retriable ECONNRESET; the deadline, as a retriable ETIMEDOUT — a stalled body emits nothing
 * at all, so only a timer of our own can end it; the caller's abort. On failure the stream is destroyed,
 * which closes its connection, so nothing is left open.
 */
function readBody(stream: NodeJS.ReadableStream, options: ReadBodyOptions): Promise<Buffer> {
  const { deadline, timeoutInMs, signal, onChunk } = options;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('close', onClose);
      stream.removeListener('error', onError);
      // A stream may still report an error after we stopped listening; it must not become an uncaught one.
      // (A listener of module scope: one made here would keep this closure, and the chunks, alive with it.)
      stream.on('error', ignoreError);
      if (error === undefined) {
        const body = Buffer.concat(chunks, length);
        chunks.length = 0;
        resolve(body);
        return;
      }
      chunks.length = 0;
      (stream as Partial<Pick<Readable, 'destroy'>>).destroy?.();
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what onChunk threw, passed on as is
      reject(error);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const offset = length;
      chunks.push(bytes);
      length += bytes.length;
      try {
        onChunk?.(bytes, offset);
      } catch (e) {
        finish(e);
      }
    };
    const onEnd = (): void => finish();
    const onError = (e: Error): void => {
      const code = (e as { code?: unknown }).code;
      finish(
        bodyFailure(
          `the response body broke off after ${length} bytes: ${e.message}`,
          typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : 'ECONNRESET',
        ),
      );
    };
    const onClose = (): void => finish(bodyFailure(`the connection closed after ${length} bytes of the response body`, 'ECONNRESET'));
    const onAbort = (): void => {
      const error = new Error('The operation was aborted.');
      error.name = 'AbortError';
      finish(error);
    };
    const timer = setTimeout(
      () =>
        finish(
          bodyFailure(
            `no complete response within ${Math.round(timeoutInMs / 1000)} s (the body stalled after ${length} bytes)`,
            'ETIMEDOUT',
          ),
        ),
      Math.max(0, deadline - Date.now()),
    );
    signal?.addEventListener('abort', onAbort);
    stream.on('error', onError);
    stream.on('close', onClose);
    stream.on('end', onEnd);
    stream.on('data', onData);
    if (signal?.aborted) onAbort();
    // A connection that broke between the headers and now has already said so, and will say nothing more.
    else if ((stream as Partial<Readable>).destroyed) onClose();
  });
}

export interface AttemptState {
  attempt: number;
  /** When the current attempt began (epoch ms): a body read after the pipeline shares its timeout. */
  startedAt: number;
  lastStatus: number | undefined;
  lastError: string | undefined;
}

export interface AttemptPolicyOptions {
  /** Timeout of one attempt (until the response headers, or the whole body when it is buffered; a streamed body: see sendStreaming), ms. */
  timeoutInMs: number;
  /** A longer Retry-After (429/503) is shortened to this, ms; default: honoured as given. */
  maxRetryAfterInMs?: number;
  onRetry?: HttpOptions['onRetry'];
}

/**
 * A policy for the position after the retry policy ('perRetry'): it times out each attempt as a retriable
 * `ETIMEDOUT` system error, caps the Retry-After the retry policy will honour, and reports retries. It counts
 * the attempts of each request it sees (the retry policy sends the same request object again), for
 * {@link HttpClientWithRetries.sendStreaming}, which reads a body after the pipeline is done with it.
 */
export class AttemptPolicy implements PipelinePolicy {
  readonly name = 'entraUsersExportAttempt';
  readonly #options: AttemptPolicyOptions;
  readonly #attempts = new WeakMap<PipelineRequest, AttemptState>();

  constructor(options: AttemptPolicyOptions) {
    this.#options = options;
  }

  /** The attempts this policy has sent of `request` so far (undefined before its first). */
  attemptOf(request: PipelineRequest): AttemptState | undefined {
    return this.#attempts.get(request);
  }

  async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
    const { timeoutInMs, maxRetryAfterInMs, onRetry } = this.#options;
    const state = this.#attempts.get(request) ?? { attempt: 0, startedAt: 0, lastStatus: undefined, lastError: undefined };
    this.#attempts.set(request, state);
    state.attempt += 1;
    state.startedAt = Date.now();
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
      const error = timedOut ? new RestError(`no response within ${Math.round(timeoutInMs / 1000)} s`, { code: 'ETIMEDOUT', request }) : e;
      const code = (error as { code?: unknown }).code;
      state.lastStatus = undefined;
      state.lastError = typeof code === 'string' ? code : 'error';
      throw error;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
      request.abortSignal = outer;
    }
  }
}

export function attemptPolicy(options: AttemptPolicyOptions): AttemptPolicy {
  return new AttemptPolicy(options);
}

/** Retry-After in seconds or as an HTTP date, and the millisecond variants Azure services send. */
const RETRY_AFTER_HEADERS: ReadonlyArray<[name: string, msPerUnit: number]> = [
  ['retry-after-ms', 1],
  ['x-ms-retry-after-ms', 1],
  ['retry-after', 1000],
];

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
      throw fail(
        `the identity platform answered HTTP ${result.status} with a body that is not JSON (${result.headers['content-type'] ?? 'no content type'})`,
      );
    }
    return { status: result.status, headers: result.headers, body };
  };
  return {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('GET', url, options),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('POST', url, options),
  };
}
