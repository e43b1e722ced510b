/**
 * Preloaded into a measured process (`node --require dist/tools/bench/usage-hook.js <script>`): when the
 * process exits, writes its own resource usage to the file named by BENCH_USAGE_FILE — peak RSS as the
 * kernel counted it, CPU time and V8's heap peak — so the benchmark measures the export process alone, not
 * the simulated tenant or Azurite beside it.
 *
 * The peak RSS is the process's own memory's high-water mark (VmHWM in /proc/self/status on Linux), not
 * getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec, so a child of a
 * big parent (the bench holding its tenant's rendered pages) would report the parent's size.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

export interface ProcessUsage {
  /** Peak resident set size, bytes. */
  maxRssBytes: number;
  userCpuMs: number;
  systemCpuMs: number;
  /** Largest V8 heap size seen at a sample (sampled every 250 ms and at exit), bytes. */
  peakHeapUsedBytes: number;
  exitCode: number;
}

const file = process.env['BENCH_USAGE_FILE'];
if (file) {
  let peakHeap = 0;
  const sample = (): void => {
    peakHeap = Math.max(peakHeap, v8.getHeapStatistics().used_heap_size);
  };
  setInterval(sample, 250).unref();
  process.on('exit', (code) => {
    sample();
    const usage = process.resourceUsage();
    const report: ProcessUsage = {
      // Both in kilobytes.
      maxRssBytes: (ownPeakRssKiB() ?? usage.maxRSS) * 1024,
      userCpuMs: usage.userCPUTime / 1000,
      systemCpuMs: usage.systemCPUTime / 1000,
      peakHeapUsedBytes: peakHeap,
      exitCode: code,
    };
    writeFileSync(file, JSON.stringify(report));
  });
}

/** VmHWM of /proc/self/status in KiB (Linux), or undefined elsewhere. */
function ownPeakRssKiB(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
