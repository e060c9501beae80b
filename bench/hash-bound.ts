/**
 * The hash bound, in a process of its own (its UV_THREADPOOL_SIZE is the one under test):
 * argon2id verifies of one stored hash, `concurrency` at a time, for a fixed time. Prints one
 * JSON line: verifies per second, CPU ms per verify (process.cpuUsage: every thread), and the
 * latency of one verify.
 *
 *   BENCH_M=19456 BENCH_T=2 BENCH_P=1 BENCH_CONCURRENCY=4 BENCH_MS=3000 UV_THREADPOOL_SIZE=4 node --import tsx bench/hash-bound.ts
 */
import argon2 from 'argon2';

const m = Number(process.env.BENCH_M ?? 19456);
const t = Number(process.env.BENCH_T ?? 2);
const p = Number(process.env.BENCH_P ?? 1);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const ms = Number(process.env.BENCH_MS ?? 3000);

const password = 'bench-password-correct-horse-42';
const hash = await argon2.hash(password, { type: argon2.argon2id, memoryCost: m, timeCost: t, parallelism: p });
// Warm up: every pool thread once.
await Promise.all(Array.from({ length: concurrency }, () => argon2.verify(hash, password)));

const latencies: number[] = [];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const end = t0 + ms;
let count = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      if (!(await argon2.verify(hash, password))) throw new Error('verify failed');
      latencies.push(performance.now() - s);
      count += 1;
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
latencies.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    m,
    t,
    p,
    pool: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    concurrency,
    verifies: count,
    perSecond: count / seconds,
    cpuMsPerVerify: (cpu.user + cpu.system) / 1000 / count,
    p50: latencies[Math.floor(latencies.length / 2)] ?? NaN,
  })}\n`,
);
