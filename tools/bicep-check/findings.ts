import type { Loc } from './parse.js';

/** The check that reported a finding: each has its own rules (see README of the check in docs/deploy.md). */
export type CheckName = 'syntax' | 'symbols' | 'types' | 'posture' | 'conventions';

export interface Finding {
  check: CheckName;
  /** Stable rule id, e.g. `types/unknown-property`, `posture/storage-shared-key`. */
  rule: string;
  file: string;
  line: number;
  message: string;
  /** Posture / conventions: the documented fact the rule follows, or why it is our own choice (rules.ts). */
  source?: string;
}

export function finding(check: CheckName, rule: string, loc: Loc | { file: string; line: number }, message: string): Finding {
  return { check, rule: `${check}/${rule}`, file: loc.file, line: loc.line, message };
}

export function formatFinding(f: Finding): string {
  return `infra/${f.file}:${f.line}: [${f.rule}] ${f.message}${f.source ? ` (${f.source})` : ''}`;
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function distance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d = Array.from({ length: m + 1 }, (_, i) => [i, ...Array<number>(n).fill(0)]);
  for (let j = 1; j <= n; j++) d[0]![j] = j;
  for (let i = 1; i <= m; i++)
    for (let j = 1; j <= n; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[m]![n]!;
}

export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word.toLowerCase(), c.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}
