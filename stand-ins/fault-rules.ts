/**
 * The fault-rule engine of the stand-ins: the simulated tenant's FaultRule (stand-ins/sim-tenant/faults.ts) and the
 * storage fault proxy's ProxyRule (stand-ins/fault-proxy/index.ts) are both kept and matched here.
 *
 * Rules are tried in the order they were added. A rule fires on a request it matches (its target, call,
 * container, page: the caller's `matches`) when it is on its `nth` matching request (any, when `nth` is
 * omitted) and has firings left; the first such rule wins and spends one firing. `times` (default 1) is how
 * many times a rule fires; Infinity makes a persistent fault.
 */

/** How often a rule fires: which of its matching requests, and how many times. */
export interface Firing {
  /** 1-based; omitted = every matching request. */
  nth?: number;
  /** Default 1; Infinity for a persistent fault. */
  times?: number;
}

interface ActiveRule<R> {
  rule: R;
  remaining: number;
  /** Requests this rule matched since it was added. */
  seen: number;
}

export class FaultRules<R extends Firing, Q> {
  private rules: ActiveRule<R>[] = [];

  /**
   * `matches` says whether a rule applies to a request. A rule's `nth` is compared with the number of requests
   * it has matched since it was added, or with `ordinal(request)` when given (the simulated tenant numbers the
   * requests to each service over its whole life).
   */
  constructor(
    private readonly matches: (rule: R, request: Q) => boolean,
    private readonly ordinal?: (request: Q) => number,
  ) {}

  add(rule: R): void {
    const times = rule.times ?? 1;
    if (!(times > 0)) throw new TypeError('times must be > 0');
    if (rule.nth !== undefined && !(Number.isInteger(rule.nth) && rule.nth >= 1)) throw new TypeError('nth must be a positive integer');
    this.rules.push({ rule, remaining: times, seen: 0 });
  }

  /** Removes the rules `which` selects (every rule by default). */
  clear(which: (rule: R) => boolean = () => true): void {
    this.rules = this.rules.filter((active) => !which(active.rule));
  }

  /** The rule that fires for this request, if any; spends one of its firings. */
  take(request: Q): R | undefined {
    let fired: R | undefined;
    for (const active of this.rules) {
      if (!this.matches(active.rule, request)) continue;
      active.seen += 1;
      if (fired !== undefined || active.remaining <= 0) continue;
      const position = this.ordinal?.(request) ?? active.seen;
      if (active.rule.nth !== undefined && active.rule.nth !== position) continue;
      active.remaining -= 1;
      fired = active.rule;
    }
    return fired;
  }
}
