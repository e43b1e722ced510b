/**
 * Two runs at once (the schedule and a manual trigger) into the same container: latest.json must end up
 * naming the newest completed snapshot (the greatest completedAt), never an older one, and both snapshots
 * must be complete. publishLatest reads latest.json, compares, and writes with If-Match on the ETag it read;
 * these scenarios make the two runs' reads and writes interleave on purpose.
 */
import assert from 'node:assert/strict';
import { assertSnapshot, checkInvariant, containerState, until, type Lane, type ReliabilitySuite, type RunResult } from './harness.js';
import { MATRIX_POOL } from './fault-matrix.js';

export interface RaceScenario {
  name: string;
  run(suite: ReliabilitySuite, lane: Lane): Promise<RunResult[]>;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Both runs' latest.json writes are held at the proxy until both have arrived — so both read the same
 * ETag — then released in the given order: the second write meets 412 and must compare again.
 */
function heldWrites(order: 'newer-first' | 'older-first'): RaceScenario {
  return {
    name: `both latest.json writes held until both read the same ETag, then released ${order === 'newer-first' ? 'newer run first' : 'older run first'}`,
    async run(suite, lane) {
      const gates = [deferred(), deferred()];
      const arrived: Array<{ completedAt: string; runId: string; gate: number }> = [];
      const bothArrived = deferred();
      for (const [i, gate] of gates.entries()) {
        suite.proxy.addRule({
          call: 'latest-put',
          container: lane.containerName,
          nth: i + 1,
          fault: { kind: 'hold', until: gate.promise },
          onFire: (event) => {
            const body = JSON.parse(event.body?.toString('utf8') ?? '{}') as { completedAt?: string; runId?: string };
            arrived.push({ completedAt: String(body.completedAt), runId: String(body.runId), gate: i });
            if (arrived.length === 2) bothArrived.resolve();
          },
        });
      }
      // A long request timeout: a write held here must not time out and be retried while it waits.
      const env = { ...lane.env, EXPORT_REQUEST_TIMEOUT_SECONDS: '30' };
      const runs = [suite.start(env, `race A (${order})`), suite.start(env, `race B (${order})`)];
      await Promise.race([
        bothArrived.promise,
        Promise.all(runs.map((r) => r.done)).then(() => assert.fail('both runs ended before both writes were held')),
      ]);
      const sorted = [...arrived].sort((a, b) => (`${a.completedAt} ${a.runId}` < `${b.completedAt} ${b.runId}` ? -1 : 1));
      const [older, newer] = [sorted[0]!, sorted[1]!];
      const first = order === 'newer-first' ? newer : older;
      const second = order === 'newer-first' ? older : newer;
      gates[first.gate]!.resolve();
      // Let the first write land before the second is let through (its If-Match is stale by then). The bound
      // only ends a wait that would never end: a loaded Azurite can take seconds to answer.
      await until(
        () =>
          suite.proxy.requests.filter((r) => r.container === lane.containerName && r.call === 'latest-put' && typeof r.status === 'number')
            .length >= 1,
        60_000,
        'the first latest.json write',
      );
      gates[second.gate]!.resolve();
      const results = await Promise.all(runs.map((r) => r.done));
      const conflicts = suite.proxy.requests.filter(
        (r) => r.container === lane.containerName && r.call === 'latest-put' && r.status === 412,
      ).length;
      assert.ok(conflicts >= 1, `the second write met 412 Precondition Failed (${conflicts})`);
      return results;
    },
  };
}

/** Page latency makes two runs started a little apart finish close together, in either order. */
function latencyRace(latencyMs: number, staggerMs: number): RaceScenario {
  return {
    name: `two runs ${staggerMs} ms apart with ${latencyMs} ms per Graph page`,
    async run(suite, lane) {
      lane.sim.setPageLatency(latencyMs);
      const a = suite.start(lane.env, `latency race A ${latencyMs}/${staggerMs}`);
      await new Promise((r) => setTimeout(r, staggerMs));
      const b = suite.start(lane.env, `latency race B ${latencyMs}/${staggerMs}`);
      return Promise.all([a.done, b.done]);
    },
  };
}

export const RACES: readonly RaceScenario[] = [
  heldWrites('newer-first'),
  heldWrites('older-first'),
  latencyRace(40, 0),
  latencyRace(40, 60),
  latencyRace(15, 30),
];

export async function runRace(suite: ReliabilitySuite, race: RaceScenario): Promise<void> {
  await suite.withLane(MATRIX_POOL, async (lane) => {
    const before = await containerState(lane.container);
    const results = await race.run(suite, lane);
    for (const result of results) await assertSnapshotLoose(lane, result);
    // The newest by completedAt; two runs completed in the same millisecond are ordered by runId, as publishLatest does.
    const key = (m: Record<string, unknown>): string => `${String(m['completedAt'])} ${String(m['runId'])}`;
    const newest = results.map((r) => r.summary!).sort((x, y) => (key(x) < key(y) ? 1 : -1))[0]!;
    const latest = JSON.parse((await containerState(lane.container)).latest ?? '{}') as Record<string, unknown>;
    assert.equal(latest['runId'], newest['runId'], 'latest.json names the newest completed snapshot');
    const report = await checkInvariant(lane, before, { allowNewLatest: true });
    suite.figures.partialSnapshotsVisible += report.violations.length;
    assert.deepEqual(report.violations, []);
  });
}

/** assertSnapshot without the latest.json check (the other run may own it): the run's own files are complete. */
async function assertSnapshotLoose(lane: Lane, result: RunResult): Promise<void> {
  assert.equal(result.code, 0, result.stderr);
  const latest = (await containerState(lane.container)).latest;
  if (latest && (JSON.parse(latest) as Record<string, unknown>)['runId'] === result.summary?.['runId']) {
    await assertSnapshot(lane.world, lane.env, result);
    return;
  }
  const manifestName = String(result.summary?.['blobName']).replace(/users\.[a-z.]+$/, 'manifest.json');
  const manifest = JSON.parse((await lane.container.getBlobClient(manifestName).downloadToBuffer()).toString('utf8')) as Record<
    string,
    unknown
  >;
  assert.equal(manifest['runId'], result.summary?.['runId']);
  assert.equal(manifest['userCount'], lane.spec.userCount);
}
