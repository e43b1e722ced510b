/**
 * Fault injection: rules that make one of the sim's services misbehave the way real ones do (throttling,
 * outages, resets, hangs, proxy HTML pages, and Graph-specific oddities), matched before normal processing.
 */
import type http from 'node:http';
import { htmlErrorPage } from './errors.js';
import { reasonPhrase, sendJson, sendText } from './http.js';

export type FaultTarget = 'openid' | 'token' | 'msi' | 'keyvault' | 'graph';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number; body?: unknown; contentType?: string }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'html'; status: number }
  | { kind: 'invalid-token' }
  | { kind: 'expire-skiptoken' }
  | { kind: 'no-value' }
  | { kind: 'foreign-nextlink' };

export interface FaultRule {
  target: FaultTarget;
  /**
   * Which requests of that target: page = 0-based Graph page index of the listing (first page 0, counting pages
   * served with the same skiptoken position, so a retried page has the same index); nth = 1-based count of
   * requests to the target. Omitted = every request.
   */
  page?: number;
  nth?: number;
  /** How many times the rule fires before it is spent; default 1; use Infinity for a persistent fault. */
  times?: number;
  fault: Fault;
}

const GRAPH_ONLY = new Set<Fault['kind']>(['invalid-token', 'expire-skiptoken', 'no-value', 'foreign-nextlink']);

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export class FaultInjector {
  private rules: ActiveRule[] = [];

  constructor(private readonly onFire: () => void) {}

  add(rule: FaultRule): void {
    if (GRAPH_ONLY.has(rule.fault.kind) && rule.target !== 'graph') {
      throw new TypeError(`fault '${rule.fault.kind}' applies to target 'graph' only, not '${rule.target}'`);
    }
    if (rule.page !== undefined && rule.target !== 'graph') throw new TypeError(`'page' applies to target 'graph' only`);
    const times = rule.times ?? 1;
    if (!(times > 0)) throw new TypeError('times must be > 0');
    this.rules.push({ rule: { ...rule, fault: { ...rule.fault } }, remaining: times });
  }

  clear(): void {
    this.rules = [];
  }

  /**
   * The fault for this request, if a rule matches (first added wins); consumes one firing of that rule.
   * `nth` is the 1-based number of this request to the target; `page` the Graph page index when known.
   */
  take(target: FaultTarget, at: { nth: number; page?: number }): Fault | undefined {
    for (const active of this.rules) {
      const { rule } = active;
      if (rule.target !== target || active.remaining <= 0) continue;
      if (rule.nth !== undefined && rule.nth !== at.nth) continue;
      if (rule.page !== undefined && rule.page !== at.page) continue;
      active.remaining--;
      this.onFire();
      return rule.fault;
    }
    return undefined;
  }
}

/**
 * Applies the faults that look the same on every service. Returns false for service-specific kinds, which the
 * caller handles. `defaultBody` gives the real service's error body for a status when the rule has none.
 */
export function applyCommonFault(
  fault: Fault,
  res: http.ServerResponse,
  defaultBody: (status: number) => unknown,
  extraHeaders: Record<string, string> = {},
): boolean {
  switch (fault.kind) {
    case 'status': {
      const headers: Record<string, string> = { ...extraHeaders };
      if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
      const body = fault.body === undefined ? defaultBody(fault.status) : fault.body;
      if (fault.contentType !== undefined || typeof body === 'string') {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        sendText(res, fault.status, text, fault.contentType ?? 'text/plain; charset=utf-8', headers);
      } else {
        sendJson(res, fault.status, body, headers);
      }
      return true;
    }
    case 'reset':
      // No response at all: the client sees ECONNRESET / "socket hang up".
      res.socket?.destroy();
      return true;
    case 'hang':
      // Accept and never answer; ServerGroup.close() destroys the socket.
      return true;
    case 'html':
      sendText(res, fault.status, htmlErrorPage(fault.status, reasonPhrase(fault.status)), 'text/html', extraHeaders);
      return true;
    default:
      return false;
  }
}
