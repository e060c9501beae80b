/**
 * Closed-loop load: `concurrency` workers each run one operation after the other. After a
 * warm-up, operations that complete inside the measured window count; the server processes'
 * CPU time is read from /proc at the window's edges, so cost per operation is CPU time, not
 * wall time (the load generator shares the machine).
 */
import { cpuMs, threadCpuMs } from './proc.ts';

export interface LoadOptions {
  name: string;
  concurrency: number;
  durationMs: number;
  warmupMs?: number;
  /** Server processes whose CPU time is the cost. */
  pids: readonly number[];
  /** One operation; `worker` is 0 … concurrency-1, `n` counts that worker's operations. Return false when out of work. */
  op: (worker: number, n: number) => Promise<boolean | void>;
}

export interface LoadResult {
  name: string;
  concurrency: number;
  ops: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** Server CPU (all listed processes) during the window, ms. */
  serverCpuMs: number;
  /** Server CPU per operation, ms. */
  cpuPerOp: number;
  /** Operations per second of server CPU: throughput per fully used core. */
  perCoreSecond: number;
  /** The workers ran out of prepared work before the window ended. */
  exhausted: boolean;
  /**
   * Per server process: CPU ms of its main (JavaScript) thread in the window, and of its other
   * threads, busiest first (the libuv pool's threads, where argon2 runs, lead under a sign-in load).
   */
  threads: { main: number; others: number[] }[];
  /** Every latency (ms), ascending. */
  latencies: number[];
}

function threadDelta(pid: number, before: Map<number, number>, after: Map<number, number>): { main: number; others: number[] } {
  let main = 0;
  const others: number[] = [];
  for (const [tid, ms] of after) {
    const d = ms - (before.get(tid) ?? 0);
    if (tid === pid) main = d;
    else others.push(d);
  }
  return { main, others: others.sort((a, b) => b - a) };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const warmupMs = o.warmupMs ?? 1000;
  let measuring = false;
  // The real edges (timers fire late on a busy loop).
  let windowStart = 0;
  let windowEnd = 0;
  let cpuStart = 0;
  let cpuEnd = 0;
  let threadsStart: Map<number, number>[] = [];
  let threadsEnd: Map<number, number>[] = [];
  const snapshot = (): Map<number, number>[] => o.pids.map((p) => threadCpuMs(p));
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let exhausted = false;

  const startTimer = setTimeout(() => {
    threadsStart = snapshot();
    cpuStart = cpuMs(o.pids);
    windowStart = performance.now();
    measuring = true;
  }, warmupMs);
  let stopped = false;
  const endTimer = setTimeout(() => {
    cpuEnd = cpuMs(o.pids);
    threadsEnd = snapshot();
    windowEnd = performance.now();
    measuring = false;
    stopped = true;
  }, warmupMs + o.durationMs);

  async function worker(w: number): Promise<void> {
    for (let n = 0; !stopped; n += 1) {
      const t0 = performance.now();
      try {
        const more = await o.op(w, n);
        const t1 = performance.now();
        // Completions inside the window: in steady state that is the throughput.
        if (measuring) latencies.push(t1 - t0);
        if (more === false) {
          exhausted = true;
          return;
        }
      } catch (e) {
        if (measuring) errors += 1;
        firstError ??= (e as Error).message;
        // An error storm must not spin: back off a little.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  if (!stopped) {
    // Every worker ran out of work: close the window now.
    clearTimeout(endTimer);
    windowEnd = performance.now();
    cpuEnd = cpuMs(o.pids);
    threadsEnd = snapshot();
    if (!measuring) {
      cpuStart = cpuEnd;
      threadsStart = threadsEnd;
      windowStart = windowEnd;
    }
    measuring = false;
  }
  clearTimeout(startTimer);
  const seconds = Math.max(0.001, (windowEnd - windowStart) / 1000);
  const sorted = latencies.sort((a, b) => a - b);
  const serverCpuMs = cpuEnd - cpuStart;
  const ops = sorted.length;
  return {
    name: o.name,
    concurrency: o.concurrency,
    ops,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds,
    perSecond: ops / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    serverCpuMs,
    cpuPerOp: ops > 0 ? serverCpuMs / ops : NaN,
    perCoreSecond: serverCpuMs > 0 ? (ops * 1000) / serverCpuMs : NaN,
    exhausted,
    threads: o.pids.map((p, i) => threadDelta(p, threadsStart[i] ?? new Map(), threadsEnd[i] ?? new Map())),
    latencies: sorted,
  };
}

/** Several windows of one load as one result. */
export function mergeLoads(parts: LoadResult[]): LoadResult {
  const first = parts[0]!;
  const ops = parts.reduce((a, p) => a + p.ops, 0);
  const seconds = parts.reduce((a, p) => a + p.seconds, 0);
  const serverCpuMs = parts.reduce((a, p) => a + p.serverCpuMs, 0);
  const latencies = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
  const firstError = parts.find((p) => p.firstError)?.firstError;
  return {
    name: first.name,
    concurrency: first.concurrency,
    ops,
    errors: parts.reduce((a, p) => a + p.errors, 0),
    ...(firstError ? { firstError } : {}),
    seconds,
    perSecond: ops / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    serverCpuMs,
    cpuPerOp: ops > 0 ? serverCpuMs / ops : NaN,
    perCoreSecond: serverCpuMs > 0 ? (ops * 1000) / serverCpuMs : NaN,
    exhausted: parts.some((p) => p.exhausted),
    threads: first.threads.map((_, i) => {
      const main = parts.reduce((a, p) => a + (p.threads[i]?.main ?? 0), 0);
      const width = Math.max(...parts.map((p) => p.threads[i]?.others.length ?? 0));
      // Busiest-first positions summed: the pool threads lead in every window of a sign-in load.
      const others = Array.from({ length: width }, (_, k) => parts.reduce((a, p) => a + (p.threads[i]?.others[k] ?? 0), 0));
      return { main, others };
    }),
    latencies,
  };
}

/**
 * Two loads measured side by side: short windows taking turns (a, b, a, b, …), so a machine
 * that gets busier or quieter meanwhile weighs on both alike.
 */
export async function runPaired(
  a: Omit<LoadOptions, 'durationMs' | 'warmupMs'>,
  b: Omit<LoadOptions, 'durationMs' | 'warmupMs'>,
  o: { rounds: number; windowMs: number; warmupMs: number },
): Promise<{ a: LoadResult; b: LoadResult }> {
  const pa: LoadResult[] = [];
  const pb: LoadResult[] = [];
  for (let round = 0; round < o.rounds; round += 1) {
    const warmupMs = round === 0 ? o.warmupMs : Math.min(250, o.warmupMs);
    pa.push(await runLoad({ ...a, durationMs: o.windowMs, warmupMs }));
    pb.push(await runLoad({ ...b, durationMs: o.windowMs, warmupMs }));
    if (pa.at(-1)!.exhausted || pb.at(-1)!.exhausted) break;
  }
  return { a: mergeLoads(pa), b: mergeLoads(pb) };
}
