/**
 * Development aid (not part of `npm run bench`): CPU per store operation of the embedded
 * store (one process, a file on disk, tables pre-filled to a realistic size).
 *
 *   node --import tsx bench/store-ops.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../adapters/store/sqlite/index.ts';

const store = openSqliteStore({ file: join(mkdtempSync(join(tmpdir(), 'rekey-ops-')), 'rekey.db'), clock: Date.now });
const N = Number(process.env.N ?? 5000);
const far = () => Date.now() + 3_600_000;
for (let i = 0; i < 20_000; i += 1) {
  await store.ephemeral.put(`fill:${i}`, { csrf: 'x'.repeat(24), passed: ['password'], amr: ['pwd'], n: i }, far());
  await store.logs.append('audit', { at: Date.now(), type: 'signin.completed', outcome: 'success', accountId: `a${i}`, ip: '10.0.0.1', details: { client: 'demo' } }, far());
  await store.oidc.upsert('Session', `s${i}`, { accountId: `a${i}`, uid: `u${i}`, exp: 1 }, far(), { accountId: `a${i}`, uid: `u${i}` });
}
async function measure(name: string, op: (i: number) => Promise<unknown>): Promise<void> {
  const t = process.cpuUsage();
  for (let i = 0; i < N; i += 1) await op(i);
  const c = process.cpuUsage(t);
  console.log(`${name.padEnd(28)} ${((c.user + c.system) / N).toFixed(1)} µs`);
}
await measure('ephemeral.get', (i) => store.ephemeral.get(`fill:${i}`));
await measure('ephemeral.put', (i) => store.ephemeral.put(`fill:${i}`, { csrf: 'y'.repeat(24), passed: [], amr: [] }, far()));
await measure('lease acquire+release', async (i) => {
  await store.ephemeral.acquireLease(`lock:${i % 100}`, `o${i}`, Date.now() + 5000);
  await store.ephemeral.releaseLease(`lock:${i % 100}`, `o${i}`);
});
await measure('counters.hit', (i) => store.counters.hit(`c:${i % 1000}`, 60_000));
await measure('logs.append', (i) => store.logs.append('audit', { at: Date.now(), type: 'code.failed', outcome: 'failure', accountId: `a${i}`, ip: '10.0.0.1', details: { purpose: 'signin' } }, far()));
await measure('oidc.upsert (session)', (i) => store.oidc.upsert('Session', `s${i}`, { accountId: `a${i}`, uid: `u${i}`, exp: 2 }, far(), { accountId: `a${i}`, uid: `u${i}` }));
await measure('oidc.find', (i) => store.oidc.find('Session', `s${i}`));
await measure('nothing (await only)', async () => undefined);
await store.close();
