/**
 * Before/after table of two bench runs (test-artifacts/bench.json of each), as Markdown:
 *
 *   node --import tsx bench/compare.ts before.json after.json
 *
 * CPU figures of two runs are only as comparable as the machine was quiet; the ratios to the
 * bare baseline (measured in turns within each run) and the store counts are the steadier ones.
 */
import { readFileSync } from 'node:fs';
import type { Report, StoreReport } from './lib/report.ts';
import { hashCpuInServer, signinEfficiency, stepRatio } from './lib/report.ts';

const [a, b] = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, 'utf8')) as Report);
if (!a || !b) {
  process.stderr.write('usage: compare.ts before.json after.json\n');
  process.exit(2);
}

const f = (n: number | undefined, d = 2): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
const rows: string[] = ['| store | figure | before | after |', '| --- | --- | ---: | ---: |'];

function metric(label: string, get: (r: Report, s: StoreReport) => number | undefined, d = 2): void {
  for (const sa of a!.stores) {
    const sb = b!.stores.find((x) => x.kind === sa.kind);
    if (!sb) continue;
    rows.push(`| ${sa.kind} | ${label} | ${f(get(a!, sa), d)} | ${f(get(b!, sb), d)} |`);
  }
}

metric('sign-in: server CPU ms', (_r, s) => s.loads.signin?.cpuPerOp);
metric('sign-in: CPU ms besides argon2', (r, s) => (s.loads.signin ? s.loads.signin.cpuPerOp - hashCpuInServer(s.loads.signin, r.threadpool) : undefined));
metric('sign-in: efficiency', (r, s) => signinEfficiency(s, 'signin', r.threadpool));
metric('sign-in: per core-second', (_r, s) => s.loads.signin?.perCoreSecond, 1);
metric('sign-in without the hash ÷ bare', (r, s) => stepRatio(r, s, 'signin'));
metric('TOTP sign-in: CPU ms besides argon2', (r, s) => (s.loads.signinTotp ? s.loads.signinTotp.cpuPerOp - hashCpuInServer(s.loads.signinTotp, r.threadpool) : undefined));
metric('TOTP sign-in: efficiency', (r, s) => signinEfficiency(s, 'signinTotp', r.threadpool));
for (const [key, label] of [
  ['refresh', 'refresh grant'],
  ['page', 'sign-in page'],
  ['resetStart', 'reset start'],
  ['resetVerify', 'reset code verify'],
  ['totp', 'TOTP verify'],
] as const) {
  metric(`${label}: CPU ms`, (_r, s) => s.loads[key]?.cpuPerOp, 3);
  metric(`${label}: ÷ bare`, (r, s) => (s.bare?.[key] ? stepRatio(r, s, key) : undefined));
}
metric('refresh grants per core-second', (_r, s) => s.loads.refresh?.perCoreSecond, 0);
for (const step of b.stores[0]?.costs.steps.map((c) => c.step) ?? []) {
  const key = step.replace(/ \(.*requests\)$/, '');
  metric(`store calls: ${key}`, (_r, s) => s.costs.steps.find((c) => c.step.replace(/ \(.*requests\)$/, '') === key)?.calls, 1);
}
metric('bytes per pending reset flow', (_r, s) => s.costs.space.pendingBytesPerFlow ?? s.costs.space.bytesPerFlow, 0);
metric('RSS idle MB', (_r, s) => Math.max(...s.idleRss), 0);
metric('RSS peak under sign-ins MB', (_r, s) => Math.max(...s.peakRss), 0);
process.stdout.write(`${rows.join('\n')}\n`);
