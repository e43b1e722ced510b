/**
 * The fault matrix: every external call of a run in turn — OpenID discovery, the token endpoint, the
 * managed-identity endpoint, Key Vault, each Graph page, container create, block stage, block commit,
 * manifest upload, latest.json GET and PUT — failing with 429, 503, a connection reset and a hang past the
 * request timeout; once (transient: the run succeeds with exactly the tenant's users, none duplicated) and
 * for good (persistent: the run fails with its specified error, nothing visible changes, latest.json is
 * untouched). Storage calls also lose their answer after Azurite applied them (reset-after / hang-after).
 */
import assert from 'node:assert/strict';
import type { ProxyFault, StorageCall } from '../../stand-ins/fault-proxy/index.js';
import type { Fault, FaultTarget } from '../../stand-ins/sim-tenant/index.js';
import {
  assertFailure,
  assertSnapshot,
  containerState,
  countUsersLost,
  SHORT_REQUEST_TIMEOUT_SECONDS,
  type Lane,
  type ReliabilitySuite,
} from './harness.js';

export const MATRIX_POOL = 'matrix';
/** 2,500 users: three Graph pages (999, 999, 502). */
export const MATRIX_USERS = 2500;

/**
 * The faults the sim (Entra, managed identity, Key Vault, Graph) and the proxy (Storage) inject alike, once
 * for both: each value is a sim Fault and a ProxyFault at the same time.
 */
const COMMON_FAULTS = {
  '429': { kind: 'status', status: 429, retryAfter: 0 },
  '503': { kind: 'status', status: 503, retryAfter: 0 },
  reset: { kind: 'reset' },
  hang: { kind: 'hang' },
} as const satisfies Record<string, Fault & ProxyFault>;

/** Storage only: the proxy forwards the request (Azurite applies it) and the answer is lost. */
const STORAGE_ONLY_FAULTS = {
  'reset-after': { kind: 'reset-after' },
  'hang-after': { kind: 'hang-after' },
} as const satisfies Record<string, ProxyFault>;

type CommonFaultKind = keyof typeof COMMON_FAULTS;
export type FaultKind = CommonFaultKind | keyof typeof STORAGE_ONLY_FAULTS;
export type Persistence = 'transient' | 'persistent';

export interface CallSpec {
  id: string;
  /** What the matrix row says. */
  label: string;
  side: 'sim' | 'proxy';
  target?: FaultTarget;
  page?: number;
  call?: StorageCall;
  /** The error a persistent fault of this call ends the run with (exit 1). */
  persistent: RegExp;
}

export const CALLS: readonly CallSpec[] = [
  {
    id: 'openid',
    label: 'OpenID configuration (authority)',
    side: 'sim',
    target: 'openid',
    persistent: /\[TokenRequestFailed\]: Reading the OpenID configuration .*(after all retries|failed:)/,
  },
  {
    id: 'token',
    label: 'token endpoint (MSAL)',
    side: 'sim',
    target: 'token',
    persistent: /\[TokenRequestFailed\]: Getting a Microsoft Graph token from .* failed/,
  },
  {
    id: 'msi',
    label: 'managed-identity endpoint',
    side: 'sim',
    target: 'msi',
    persistent: /\[IdentityFailed\]: Reading the .* from Key Vault .* the managed identity endpoint kept failing/,
  },
  {
    id: 'keyvault',
    label: 'Key Vault secret',
    side: 'sim',
    target: 'keyvault',
    persistent: /\[KeyVaultFailed\]: Reading the .* from Key Vault .* failed/,
  },
  {
    id: 'graph-p0',
    label: 'Graph page 1 of 3',
    side: 'sim',
    target: 'graph',
    page: 0,
    persistent: /\[GraphFailed\]: Listing users from Microsoft Graph .*failed/,
  },
  {
    id: 'graph-p1',
    label: 'Graph page 2 of 3',
    side: 'sim',
    target: 'graph',
    page: 1,
    persistent: /\[GraphFailed\]: Listing users from Microsoft Graph .*\(next page\)/,
  },
  {
    id: 'graph-p2',
    label: 'Graph page 3 of 3 (last)',
    side: 'sim',
    target: 'graph',
    page: 2,
    persistent: /\[GraphFailed\]: Listing users from Microsoft Graph .*\(next page\)/,
  },
  {
    id: 'container',
    label: 'container create',
    side: 'proxy',
    call: 'container-create',
    persistent: /\[StorageFailed\]: Creating container .* failed/,
  },
  {
    id: 'stage',
    label: 'block stage (comp=block)',
    side: 'proxy',
    call: 'block-stage',
    persistent: /\[StorageFailed\]: Uploading a block of .* failed/,
  },
  {
    id: 'commit',
    label: 'block commit (comp=blocklist)',
    side: 'proxy',
    call: 'block-commit',
    persistent: /\[StorageFailed\]: Committing snapshots\/.* failed/,
  },
  {
    id: 'manifest',
    label: 'manifest.json upload',
    side: 'proxy',
    call: 'manifest-put',
    persistent: /\[StorageFailed\]: Writing snapshots\/.*\/manifest\.json .*failed/,
  },
  {
    id: 'latest-get',
    label: 'latest.json GET',
    side: 'proxy',
    call: 'latest-get',
    persistent: /\[StorageFailed\]: Reading latest\.json .*failed/,
  },
  {
    id: 'latest-put',
    label: 'latest.json PUT (conditional)',
    side: 'proxy',
    call: 'latest-put',
    persistent: /\[StorageFailed\]: Writing latest\.json .*failed/,
  },
];

export const KINDS = Object.keys(COMMON_FAULTS) as readonly FaultKind[];
export const AFTER_KINDS = Object.keys(STORAGE_ONLY_FAULTS) as readonly FaultKind[];

export interface MatrixCell {
  call: CallSpec;
  kind: FaultKind;
  persistence: Persistence;
  name: string;
}

export function matrixCells(): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const persistence of ['persistent', 'transient'] as const) {
    for (const call of CALLS) {
      const kinds = call.side === 'proxy' && persistence === 'transient' ? [...KINDS, ...AFTER_KINDS] : KINDS;
      for (const kind of kinds) cells.push({ call, kind, persistence, name: `${persistence} ${kind} on ${call.label}` });
    }
  }
  return cells;
}

function isCommon(kind: FaultKind): kind is CommonFaultKind {
  return Object.hasOwn(COMMON_FAULTS, kind);
}

function simFault(kind: FaultKind): Fault {
  if (!isCommon(kind)) throw new Error(`${kind} is a storage-only fault`);
  return { ...COMMON_FAULTS[kind] };
}

function proxyFault(kind: FaultKind): ProxyFault {
  return { ...(isCommon(kind) ? COMMON_FAULTS[kind] : STORAGE_ONLY_FAULTS[kind]) };
}

/** Arms the fault of a cell on the lane (its sim, or the proxy for its container). */
export function arm(suite: ReliabilitySuite, lane: Lane, cell: Pick<MatrixCell, 'call' | 'kind' | 'persistence'>): void {
  const times = cell.persistence === 'persistent' ? Infinity : 1;
  const { call } = cell;
  if (call.side === 'sim') {
    lane.sim.addFault({ target: call.target!, ...(call.page !== undefined ? { page: call.page } : {}), times, fault: simFault(cell.kind) });
  } else {
    suite.proxy.addRule({ call: call.call!, container: lane.containerName, times, fault: proxyFault(cell.kind) });
  }
}

export async function runCell(suite: ReliabilitySuite, cell: MatrixCell): Promise<void> {
  await suite.withLane(MATRIX_POOL, async (lane) => {
    const before = await containerState(lane.container);
    const faultsBefore = suite.faultsIn(lane);
    arm(suite, lane, cell);
    // A hang ends only when the request timeout does, and the pauses between attempts are bounded by it too
    // (retryBounds, src/http.ts): a cell that hangs, or whose fault comes back on every attempt, runs with the
    // short timeout — else each persistent reset would wait out the full exponential backoff — the rest with
    // the lane's long one.
    const short = cell.kind === 'hang' || cell.kind === 'hang-after' || cell.persistence === 'persistent';
    const env = short ? { ...lane.env, EXPORT_REQUEST_TIMEOUT_SECONDS: SHORT_REQUEST_TIMEOUT_SECONDS } : lane.env;
    const result = await suite.run(env, `${cell.name} [${lane.id}]`);
    const injected = suite.faultsIn(lane) - faultsBefore;
    suite.figures.faultsByScenario.set(cell.name, injected);
    const context = `lane ${lane.id}, exit ${result.code}, ${injected} faults; stderr:\n${result.stderr}`;
    if (cell.persistence === 'transient') {
      // Counted before anything is asserted: assertSnapshot throws on the first missing user. (Awaited first:
      // `usersLost += await …` would read the sum before the await and lose the concurrent cells' additions.)
      const lost = await countUsersLost(lane, result);
      suite.figures.usersLost += lost;
      assert.equal(injected, 1, `exactly one fault fired: ${context}`);
      const { manifest } = await assertSnapshot(lane.world, env, result);
      suite.figures.notes.set(cell.name, { wallMs: result.wallMs, retries: manifest['retries'] });
    } else {
      assert.ok(injected >= 2, `the fault fired on every attempt: ${context}`);
      assertFailure(result, { exitCode: 1, message: cell.call.persistent });
      assert.deepEqual(await containerState(lane.container), before, 'nothing visible changed, latest.json untouched');
      suite.figures.notes.set(cell.name, { wallMs: result.wallMs, attempts: injected });
    }
  });
}

/**
 * Persistent faults where the request *was* applied by Storage but every answer is lost: the outcome is
 * defined too, and it is never a partial snapshot.
 */
export interface SpecialCase {
  name: string;
  call: StorageCall;
  fault: ProxyFault;
  expect: 'success' | { exitCode: number; message: RegExp; latest: 'this-run' | 'unchanged' };
}

export const SPECIAL_CASES: readonly SpecialCase[] = [
  // Every retry of the commit gets 409 (the blob is there); the writer recognises its own blob.
  {
    name: 'persistent reset-after on block commit: the applied commit is recognised',
    call: 'block-commit',
    fault: { kind: 'reset-after' },
    expect: 'success',
  },
  {
    name: 'persistent reset-after on manifest.json: the applied upload is recognised',
    call: 'manifest-put',
    fault: { kind: 'reset-after' },
    expect: 'success',
  },
  // latest.json was replaced but no answer ever arrives: the run fails, and keeps the snapshot latest.json names.
  {
    name: 'persistent reset-after on latest.json PUT: the run fails but keeps the snapshot latest.json now names',
    call: 'latest-put',
    fault: { kind: 'reset-after' },
    expect: { exitCode: 1, message: /\[StorageFailed\]: Writing latest\.json .*failed/, latest: 'this-run' },
  },
];

export async function runSpecial(suite: ReliabilitySuite, special: SpecialCase): Promise<void> {
  await suite.withLane(MATRIX_POOL, async (lane) => {
    const before = await containerState(lane.container);
    const faultsBefore = suite.faultsIn(lane);
    suite.proxy.addRule({ call: special.call, container: lane.containerName, times: Infinity, fault: special.fault });
    const result = await suite.run(lane.env, special.name);
    const injected = suite.faultsIn(lane) - faultsBefore;
    suite.figures.faultsByScenario.set(special.name, injected);
    const context = `lane ${lane.id}, exit ${result.code}, ${injected} faults; stderr:\n${result.stderr}`;
    if (special.expect === 'success') {
      const lost = await countUsersLost(lane, result);
      suite.figures.usersLost += lost;
    }
    // Azurite applied the first attempt; its answer was lost, and so was every retry's (409: the blob is there).
    assert.ok(injected >= 2, `the fault fired on every attempt: ${context}`);
    if (special.expect === 'success') {
      await assertSnapshot(lane.world, lane.env, result);
      return;
    }
    assertFailure(result, special.expect);
    const after = await containerState(lane.container);
    const latest = JSON.parse(after.latest ?? '{}') as Record<string, unknown>;
    assert.notEqual(after.latest, before.latest, 'latest.json was replaced (the write was applied)');
    const manifest = after.names.find((n) => n.endsWith(`${String(latest['runId'])}/manifest.json`));
    assert.ok(manifest, 'the snapshot latest.json names is still there');
  });
}
