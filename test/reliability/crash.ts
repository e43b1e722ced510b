/**
 * Crash safety: the export is SIGKILLed at deterministic points — the sim hangs the matching request and
 * the suite kills the process as soon as the hang fires; the proxy kills it from its onFire hook when the
 * matching storage request arrives ("before") or once Azurite has applied it ("after"). After every kill
 * the container must satisfy checkInvariant (harness.ts): latest.json names a complete snapshot whose
 * sha256 verifies, no users file is partial, and latest.json only ever moves forward. A next run then
 * succeeds on top of whatever the killed one left.
 */
import assert from 'node:assert/strict';
import type { StorageCall } from '../../stand-ins/fault-proxy/index.js';
import type { FaultTarget } from '../../stand-ins/sim-tenant/index.js';
import { checkInvariant, containerState, until, type ReliabilitySuite } from './harness.js';

export const CRASH_POOL = 'crash';
/** 11,000 users: 12 Graph pages and about 5 MB of JSON, i.e. two blocks (4 MiB and the rest). */
export const CRASH_USERS = 11_000;

export type KillPoint =
  | { id: string; label: string; side: 'sim'; target: FaultTarget; page?: number; keyVaultRequest?: number; after?: undefined }
  | { id: string; label: string; side: 'proxy'; call: StorageCall; nth?: number; after: boolean }
  | { id: string; label: string; side: 'backoff'; page: number };

export const KILL_POINTS: readonly KillPoint[] = [
  { id: 'openid', label: 'OpenID discovery requested', side: 'sim', target: 'openid' },
  { id: 'token', label: 'token requested', side: 'sim', target: 'token' },
  { id: 'msi', label: 'managed-identity token requested', side: 'sim', target: 'msi' },
  { id: 'kv-challenge', label: 'Key Vault challenge request', side: 'sim', target: 'keyvault', keyVaultRequest: 1 },
  { id: 'kv-get', label: 'Key Vault secret requested with a token', side: 'sim', target: 'keyvault', keyVaultRequest: 2 },
  { id: 'container-before', label: 'container create sent', side: 'proxy', call: 'container-create', after: false },
  { id: 'container-after', label: 'container create answered', side: 'proxy', call: 'container-create', after: true },
  { id: 'graph-p0', label: 'Graph page 1 requested (nothing listed yet)', side: 'sim', target: 'graph', page: 0 },
  { id: 'graph-p1', label: 'Graph page 2 requested (page 1 served)', side: 'sim', target: 'graph', page: 1 },
  { id: 'graph-p9', label: 'Graph page 10 requested (9 pages served)', side: 'sim', target: 'graph', page: 9 },
  { id: 'graph-p11', label: 'last Graph page requested (11 of 12 served)', side: 'sim', target: 'graph', page: 11 },
  { id: 'graph-backoff', label: 'in the backoff after a Graph 503 (page 5)', side: 'backoff', page: 5 },
  { id: 'stage1-before', label: 'block 1 stage sent', side: 'proxy', call: 'block-stage', nth: 1, after: false },
  { id: 'stage1-after', label: 'block 1 staged', side: 'proxy', call: 'block-stage', nth: 1, after: true },
  { id: 'stage2-before', label: 'block 2 (last) stage sent', side: 'proxy', call: 'block-stage', nth: 2, after: false },
  { id: 'stage2-after', label: 'block 2 (last) staged', side: 'proxy', call: 'block-stage', nth: 2, after: true },
  { id: 'commit-before', label: 'block commit sent (before the commit)', side: 'proxy', call: 'block-commit', after: false },
  { id: 'commit-after', label: 'block list committed (before the manifest)', side: 'proxy', call: 'block-commit', after: true },
  { id: 'manifest-before', label: 'manifest.json upload sent', side: 'proxy', call: 'manifest-put', after: false },
  { id: 'manifest-after', label: 'manifest.json written (before latest.json)', side: 'proxy', call: 'manifest-put', after: true },
  // A run reads latest.json twice: at the start (the previous snapshot, for the change report) and when it
  // publishes. The kill points are at the second, after the manifest.
  { id: 'latest-get-before', label: 'latest.json read sent', side: 'proxy', call: 'latest-get', nth: 2, after: false },
  { id: 'latest-get-after', label: 'latest.json read answered', side: 'proxy', call: 'latest-get', nth: 2, after: true },
  { id: 'latest-put-before', label: 'latest.json write sent', side: 'proxy', call: 'latest-put', after: false },
  { id: 'latest-put-after', label: 'latest.json written (before the summary)', side: 'proxy', call: 'latest-put', after: true },
];

/**
 * The 'graph-backoff' kill point's 503 asks for this pause (Retry-After, seconds), which the export honours up
 * to min(60 s, its request timeout of REQUEST_TIMEOUT_SECONDS): the kill, BACKOFF_KILL_DELAY_MS after the
 * fault fired, lands in that pause unless the machine stalls for that long. With the export's own first backoff (0.4-1 s)
 * the kill had to win a race against the retry: on a loaded machine the retry reached the sim first.
 */
const BACKOFF_RETRY_AFTER_SECONDS = 20;
/** How long after the Graph 503 fired the 'graph-backoff' kill waits: for the 503 to reach the export. */
const BACKOFF_KILL_DELAY_MS = 1000;

/** Kill points after which latest.json may name the killed run: its write reached Storage. */
const LATEST_MAY_MOVE = new Set(['latest-put-after']);
/** Kill points after which the next run is also checked (one of each kind of debris: staged blocks, an orphan, an unpublished snapshot, a moved latest.json). */
const RECOVERY_AFTER = new Set(['graph-p9', 'stage2-after', 'commit-after', 'manifest-after', 'latest-put-before', 'latest-put-after']);
/** Kill points after which a complete but unpublished users file may remain (commit applied, no manifest yet). */
const ORPHAN_POSSIBLE = new Set(['commit-after', 'manifest-before']);

export async function runKillPoint(suite: ReliabilitySuite, point: KillPoint): Promise<void> {
  await suite.withLane(CRASH_POOL, async (lane) => {
    const before = await containerState(lane.container);
    const start = await checkInvariant(lane, before, { allowNewLatest: false });
    let killed = false;
    let victim: { kill(signal: NodeJS.Signals): boolean } | undefined;
    const kill = (): void => {
      killed = true;
      victim?.kill('SIGKILL');
    };
    let simWatch: Promise<void> | undefined;
    const simFaultsBefore = lane.sim.stats.faultsInjected;
    const faultsBefore = suite.faultsIn(lane);
    if (point.side === 'proxy') {
      suite.proxy.addRule({
        call: point.call,
        container: lane.containerName,
        ...(point.nth !== undefined ? { nth: point.nth } : {}),
        fault: point.after ? { kind: 'hang-after' } : { kind: 'hang' },
        onFire: kill,
      });
    } else if (point.side === 'sim') {
      const nth = point.keyVaultRequest !== undefined ? lane.sim.stats.keyvault + point.keyVaultRequest : undefined;
      lane.sim.addFault({
        target: point.target,
        ...(point.page !== undefined ? { page: point.page } : {}),
        ...(nth !== undefined ? { nth } : {}),
        fault: { kind: 'hang' },
      });
    } else {
      // A 503 with a long Retry-After: the export waits that long before retrying; it is killed in that pause.
      lane.sim.addFault({
        target: 'graph',
        page: point.page,
        fault: { kind: 'status', status: 503, retryAfter: BACKOFF_RETRY_AFTER_SECONDS },
      });
    }
    /** Graph requests the sim had seen when the 503 fired, and when the process was killed (backoff only). */
    const graphRequests: { atFault?: number; atKill?: number } = {};
    const run = suite.start(lane.env, `kill at ${point.label}`);
    victim = run.child;
    // The bound only ends a run that never gets there: on a loaded machine 11 Graph pages can take over 30 s.
    const reached = (): Promise<void> =>
      until(() => lane.sim.stats.faultsInjected > simFaultsBefore, 180_000, `the kill point '${point.label}'`);
    if (point.side === 'sim') {
      simWatch = reached().then(kill);
    } else if (point.side === 'backoff') {
      simWatch = reached().then(async () => {
        // The sim counts the fault when the request arrives, before the 503 is written: the kill waits until
        // the 503 has reached the export (1 s, well under the 20 s Retry-After).
        graphRequests.atFault = lane.sim.stats.graph;
        await new Promise((resolve) => setTimeout(resolve, BACKOFF_KILL_DELAY_MS));
        graphRequests.atKill = lane.sim.stats.graph;
        kill();
      });
    }
    const result = await run.done;
    await simWatch;
    suite.figures.faultsByScenario.set(`kill: ${point.label}`, suite.faultsIn(lane) - faultsBefore);
    assert.ok(killed, 'the kill point was reached');
    if (point.side === 'backoff') {
      assert.equal(
        graphRequests.atKill,
        graphRequests.atFault,
        'no Graph request (the retry of the page) reached the sim before the kill: the export was killed in its backoff',
      );
    }
    assert.equal(result.signal, 'SIGKILL', `killed at the kill point (exit ${result.code}); stderr:\n${result.stderr}`);
    suite.proxy.clearRules(lane.containerName);
    lane.sim.clearFaults();

    const report = await checkInvariant(lane, before, { allowNewLatest: LATEST_MAY_MOVE.has(point.id) });
    suite.figures.partialSnapshotsVisible += report.violations.length;
    const newOrphans = report.orphans.length - start.orphans.length;
    const newUncommitted = report.uncommitted.filter((n) => !start.uncommitted.includes(n)).length;
    const newManifests = report.manifests - start.manifests;
    const latestMoved = report.latestRunId !== start.latestRunId;
    suite.figures.orphanUsersFiles += newOrphans;
    suite.figures.uncommittedAfterKill += newUncommitted > 0 ? 1 : 0;
    suite.figures.killPoints.push(point.id);
    suite.figures.notes.set(`kill: ${point.label}`, {
      orphan: newOrphans > 0,
      uncommitted: newUncommitted,
      unpublished: newManifests > 0 && !latestMoved,
      latestMoved,
    });
    assert.deepEqual(report.violations, [], 'the crash-safety invariant holds');
    if (!ORPHAN_POSSIBLE.has(point.id)) assert.equal(newOrphans, 0, 'no unpublished users file');

    if (!RECOVERY_AFTER.has(point.id)) return;
    // Whatever the killed run left, the next one succeeds and moves latest.json forward.
    const next = await suite.run(lane.env, `run after kill at ${point.label}`);
    assert.equal(next.code, 0, next.stderr);
    const afterNext = await checkInvariant(lane, await containerState(lane.container), { allowNewLatest: false });
    suite.figures.partialSnapshotsVisible += afterNext.violations.length;
    assert.deepEqual(afterNext.violations, []);
    assert.equal(afterNext.latestRunId, next.summary?.['runId'], 'latest.json names the run after the kill');
  });
}
