/**
 * Cost of one BREACHED_PASSWORDS_FILE lookup (src/domain/breached-passwords.ts): writes a sorted
 * Pwned-Passwords-format file of BREACH_LINES random hashes (default 1,000,000, CRLF) to a temp
 * folder, then times lookups of present and absent hashes one after the other, counts the
 * positioned reads per lookup, and watches the event loop's delay meanwhile.
 *
 *   npx tsx bench/breached-lookup.ts            BREACH_LINES=1000000 BREACH_LOOKUPS=2000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { BreachedPasswords } from '../src/domain/breached-passwords.ts';
import { randomHash, writeCorpus } from '../test/support/breach-corpus.ts';

const lines = Number(process.env.BREACH_LINES ?? 1_000_000);
const lookups = Number(process.env.BREACH_LOOKUPS ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'rekey-breach-bench-'));

try {
  const path = join(dir, 'pwned.txt');
  let started = performance.now();
  const entries = writeCorpus(path, [], { filler: lines });
  const probe = await open(path, 'r');
  const size = (await probe.stat()).size;
  // Count positioned reads by wrapping FileHandle.read (one prototype for every handle).
  const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const read = proto.read;
  let reads = 0;
  proto.read = function (this: unknown, ...args: unknown[]) {
    reads += 1;
    return read.apply(this, args);
  };
  console.log(`file: ${lines.toLocaleString('en')} lines, ${(size / 1e6).toFixed(1)} MB, written in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const corpus = new BreachedPasswords(path);
  for (let i = 0; i < 50; i += 1) await corpus.count(entries[i * 97]!.hash); // warm-up (and page cache)

  for (const kind of ['present', 'absent'] as const) {
    const hashes = Array.from({ length: lookups }, () => (kind === 'present' ? entries[Math.floor(Math.random() * entries.length)]!.hash : randomHash()));
    const times: number[] = [];
    reads = 0;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    started = performance.now();
    for (const hash of hashes) {
      const t0 = performance.now();
      const found = await corpus.count(hash);
      times.push(performance.now() - t0);
      if ((found !== undefined) !== (kind === 'present')) throw new Error(`wrong answer for ${hash}`);
    }
    const total = performance.now() - started;
    delay.disable();
    times.sort((a, b) => a - b);
    const pct = (p: number): string => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(3);
    console.log(
      `${kind}: ${lookups} lookups, mean ${(total / lookups).toFixed(3)} ms, p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, ` +
        `${(reads / lookups).toFixed(1)} reads/lookup; event-loop delay max ${(delay.max / 1e6).toFixed(1)} ms, mean ${(delay.mean / 1e6).toFixed(2)} ms`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
