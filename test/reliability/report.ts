/**
 * Renders the generated parts of docs/reliability.md — the fault matrix, the kill points, the bad-input
 * catalogue and the figures — from the suite's own tables and the figures of its last run
 * (dist/reliability-figures.json, written by reliability.test.ts):
 *
 *   npm run build && node --test dist/test/reliability/reliability.test.js && node dist/test/reliability/report.js --write
 *
 * Each part sits between `<!-- generated:<name> -->` and `<!-- /generated:<name> -->` markers; the prose
 * around them is the document's own. reliability.test.ts checks that every case of the tables is there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BAD_INPUTS } from './bad-input.js';
import { RACES } from './concurrency.js';
import { KILL_POINTS } from './crash.js';
import { AFTER_KINDS, CALLS, KINDS, SPECIAL_CASES, type FaultKind } from './fault-matrix.js';
import { REPO } from './supply-chain.js';

export interface FiguresFile {
  faultsInjected: number;
  simFaults: number;
  proxyFaults: number;
  killPoints: string[];
  badInputs: string[];
  usersLost: number;
  partialSnapshotsVisible: number;
  secretsInLogs: number;
  secretsOnDisk: number;
  bearerRequests: number;
  bearerMisdirected: number;
  orphanUsersFiles: number;
  uncommittedAfterKill: number;
  runs: number;
  outputsScanned: number;
  secretsCollected: number;
  blobsScanned: number;
  suiteSeconds: number;
  faultsByScenario: Record<string, number>;
  notes: Record<string, Record<string, unknown>>;
}

/** A regular expression as a reader would write the message: escapes dropped, wildcards as "…". */
export function readable(re: RegExp): string {
  return re.source
    .replace(/\\d\{4\}-?/g, 'YYYY-')
    .replace(/\\d\+/g, 'n')
    .replace(/\.\*/g, '…')
    .replace(/\(\?:[^)]*\)/g, '…')
    .replace(/\\(.)/g, '$1')
    .replace(/\{(\d+)\}/g, '×$1')
    .replace(/\|/g, ' / ')
    .replace(/\^|\$/g, '');
}

const KIND_LABEL: Record<FaultKind, string> = {
  '429': '429',
  '503': '503',
  reset: 'reset',
  hang: 'hang > timeout',
  'reset-after': 'applied, then reset',
  'hang-after': 'applied, then hang',
};

function matrix(f: FiguresFile | undefined): string {
  const head = [
    'call',
    ...KINDS.map((k) => `${KIND_LABEL[k]} once`),
    ...AFTER_KINDS.map((k) => `${KIND_LABEL[k]} once`),
    ...KINDS.map((k) => `${KIND_LABEL[k]} always`),
  ];
  const rows = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const call of CALLS) {
    const cell = (kind: FaultKind, persistence: 'transient' | 'persistent'): string => {
      if (persistence === 'transient' && AFTER_KINDS.includes(kind) && call.side !== 'proxy') return '—';
      const name = `${persistence} ${kind} on ${call.label}`;
      const n = f?.faultsByScenario[name];
      const outcome = persistence === 'transient' ? 'ok' : 'exit 1';
      return n === undefined ? outcome : `${outcome} (${n})`;
    };
    rows.push(
      `| ${call.label} | ${[...KINDS.map((k) => cell(k, 'transient')), ...AFTER_KINDS.map((k) => cell(k, 'transient')), ...KINDS.map((k) => cell(k, 'persistent'))].join(' | ')} |`,
    );
  }
  const messages = [
    '',
    '| call | a persistent fault ends the run with (exit 1) |',
    '|---|---|',
    ...CALLS.map((c) => `| ${c.label} | \`${readable(c.persistent)}\` |`),
  ];
  const specials = [
    '',
    '| storage answer lost on every attempt | outcome |',
    '|---|---|',
    ...SPECIAL_CASES.map(
      (s) =>
        `| ${s.name.split(':')[0]} | ${s.name.split(':').slice(1).join(':').trim()}${s.expect === 'success' ? ' (exit 0)' : ` (exit ${s.expect.exitCode})`} |`,
    ),
  ];
  return [...rows, ...messages, ...specials].join('\n');
}

function killPoints(f: FiguresFile | undefined): string {
  const rows = ['| # | killed when | side | latest.json after | left behind |', '|---|---|---|---|---|'];
  KILL_POINTS.forEach((p, i) => {
    const note = f?.notes[`kill: ${p.label}`] ?? {};
    const side =
      p.side === 'proxy'
        ? `proxy, ${p.after ? 'after Azurite answered' : 'on arrival'}`
        : p.side === 'sim'
          ? 'sim (hang, then kill)'
          : 'sim (503, kill in backoff)';
    const left =
      [
        note['orphan'] ? 'a complete users file no manifest names' : '',
        note['unpublished'] ? 'a complete snapshot latest.json does not name yet' : '',
        Number(note['uncommitted'] ?? 0) > 0 ? 'staged blocks (invisible)' : '',
      ]
        .filter(Boolean)
        .join('; ') || 'nothing';
    const latest = note['latestMoved'] ? 'names the killed run (complete)' : 'unchanged';
    rows.push(`| ${i + 1} | ${p.label} | ${side} | ${f ? latest : ''} | ${f ? left : ''} |`);
  });
  return rows.join('\n');
}

function catalogue(): string {
  const rows = ['| id | input | exit | code | message (must match) |', '|---|---|---|---|---|'];
  let group = '';
  for (const b of BAD_INPUTS) {
    if (b.group !== group) {
      group = b.group;
      rows.push(`| | **${group}** | | | |`);
    }
    rows.push(
      `| ${b.id} | ${b.input.replace(/\|/g, '\\|')} | ${b.expect.exitCode} | ${b.expect.code ?? '—'} | \`${readable(b.expect.message).replace(/\|/g, '\\|')}\` |`,
    );
  }
  return rows.join('\n');
}

function races(): string {
  return RACES.map((r) => `- ${r.name}`).join('\n');
}

function figures(f: FiguresFile | undefined): string {
  if (!f) return '_Run the suite to fill in the figures._';
  return [
    '| figure | value |',
    '|---|---|',
    `| faults injected (sim + proxy) | **${f.faultsInjected}** (${f.simFaults} + ${f.proxyFaults}) |`,
    `| kill points (SIGKILL) | **${f.killPoints.length}** |`,
    `| bad inputs | **${f.badInputs.length}** |`,
    `| users lost or duplicated | **${f.usersLost}** |`,
    `| partial snapshots visible | **${f.partialSnapshotsVisible}** |`,
    `| secrets in logs | **${f.secretsInLogs}** (${f.outputsScanned} outputs, ${f.secretsCollected} secrets and tokens searched) |`,
    `| secrets on disk or in blobs | **${f.secretsOnDisk}** (${f.blobsScanned} blobs, the processes' TMPDIR / HOME / cwd) |`,
    `| bearer requests to a host other than their audience's | **${f.bearerMisdirected}** of ${f.bearerRequests} |`,
    `| complete but unpublished users files left by kills | ${f.orphanUsersFiles} |`,
    `| kills that left staged (invisible) blocks | ${f.uncommittedAfterKill} |`,
    `| export runs | ${f.runs} |`,
    `| suite wall time (2 cores) | ${f.suiteSeconds} s |`,
  ].join('\n');
}

export function sections(f: FiguresFile | undefined): Record<string, string> {
  return { figures: figures(f), matrix: matrix(f), 'kill-points': killPoints(f), races: races(), catalogue: catalogue() };
}

export function render(doc: string, f: FiguresFile | undefined): string {
  let out = doc;
  for (const [name, body] of Object.entries(sections(f))) {
    const re = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`docs/reliability.md has no generated:${name} section`);
    out = out.replace(re, (_m, open: string, close: string) => `${open}${body}\n${close}`);
  }
  return out;
}

export const DOC = path.join(REPO, 'docs', 'reliability.md');
export const FIGURES = path.join(REPO, 'dist', 'reliability-figures.json');

if (require.main === module) {
  const f = fs.existsSync(FIGURES) ? (JSON.parse(fs.readFileSync(FIGURES, 'utf8')) as FiguresFile) : undefined;
  const out = render(fs.readFileSync(DOC, 'utf8'), f);
  if (process.argv.includes('--write')) fs.writeFileSync(DOC, out);
  else process.stdout.write(out);
}
