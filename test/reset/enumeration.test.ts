/**
 * No enumeration: a real account and an unknown identifier go through "Forgot password?"
 * with the same statuses, the same page and field structure, the same number of store round
 * trips, and latencies whose medians and 95th percentiles are within 5 ms of each other
 * (≥ 300 interleaved samples of the identify step).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from 'otplib';
import { openSqliteStore } from '../../adapters/store/sqlite/index.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, hiddenValue, type Page } from '../support/browser.ts';
import { countingStore, type CountingStore } from '../support/counting-store.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

const SAMPLES = 300;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The page with everything that may legitimately differ (tokens, masked methods) taken out. */
function structure(page: Page): string {
  return page.text
    .replace(/value="[^"]*"/g, 'value=""')
    .replace(/<div class="choice">[\s\S]*?<\/div>\n?/g, '')
    .replace(/\(\d of \d done\)/g, '')
    .replace(/We sent a code to [^<]*/g, 'We sent a code to …');
}

describe('no enumeration in self-service reset', function () {
  this.timeout(300_000);
  let t: TestApp;
  let counting: CountingStore;
  let smtp: TestSmtpServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-enum-'));
    counting = countingStore(openSqliteStore({ file: join(dir, 'store.sqlite'), clock: Date.now }));
    smtp = await startSmtpServer();
    t = await startTestApp(
        {
          SSPR_SCOPE: 'all',
          SSPR_METHODS: 'email,authenticator_app,recovery_codes',
          SMTP_URL: smtp.url,
          DEV_OUTBOX: 'false',
          RESET_STARTS_PER_IP: '10000',
          EMAIL_SEND_LIMIT: '100',
          // Two proofs, so the weak email method is offered first to real and decoy flows alike.
          SSPR_PROOFS_REQUIRED: '2',
        },
        { store: counting.store },
    );
    const { account } = await t.services.accounts.create({ login: 'xena', email: 'xena@example.com', password: 'granite-tulip-hollow-moon' });
    const now = Date.now();
    const methods: MethodRecord[] = [
      { id: 'e1', kind: 'email', address: 'xena.home@example.org', registeredAt: now, confirmedAt: now },
      { id: 't1', kind: 'authenticator_app', secret: t.services.box.seal(generateSecret()), lastStep: 0, registeredAt: now, confirmedAt: now },
    ];
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods }));
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function identify(identifier: string): Promise<{ page: Page; ms: number; calls: number; browser: Browser }> {
    const browser = new Browser(t.url);
    const form = await browser.open('/reset');
    const before = counting.calls();
    const started = process.hrtime.bigint();
    const res = await browser.post('/reset', { csrf: hiddenValue(form.text, 'csrf'), identifier });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const calls = counting.calls() - before;
    const page = await browser.follow(res);
    return { page, ms, calls, browser };
  }

  it('identify: same status, same page structure, same store round trips, latency within 5 ms (median and p95)', async () => {
    const real: number[] = [];
    const fake: number[] = [];
    let realCalls = -1;
    let fakeCalls = -1;
    let realPage: Page | undefined;
    let fakePage: Page | undefined;
    // Warm-up: JIT, prepared statements, argon2 dummy hash.
    for (let i = 0; i < 20; i += 1) {
      await identify('xena');
      await identify(`ghost-${i}`);
    }
    for (let i = 0; i < SAMPLES; i += 1) {
      // Interleaved, alternating who goes first, so drift hits both alike.
      const pair = i % 2 === 0 ? [await identify('xena'), await identify(`nobody-${i}`)] : [await identify(`nobody-${i}`), await identify('xena')].reverse();
      const [r, f] = pair as [Awaited<ReturnType<typeof identify>>, Awaited<ReturnType<typeof identify>>];
      assert.equal(f.page.status, r.page.status);
      real.push(r.ms);
      fake.push(f.ms);
      if (realCalls === -1) {
        realCalls = r.calls;
        fakeCalls = f.calls;
        realPage = r.page;
        fakePage = f.page;
      }
    }
    assert.equal(fakeCalls, realCalls, 'the same number of store round trips');
    assert.equal(structure(fakePage!), structure(realPage!), 'the same page structure');
    const m = { real: percentile(real, 50), fake: percentile(fake, 50) };
    const p95 = { real: percentile(real, 95), fake: percentile(fake, 95) };
    const note = `medians ${m.real.toFixed(2)} / ${m.fake.toFixed(2)} ms, p95 ${p95.real.toFixed(2)} / ${p95.fake.toFixed(2)} ms over ${SAMPLES} samples each`;
    console.log(`      identify real vs unknown: ${note}; ${realCalls} store calls each`);
    assert.ok(Math.abs(m.real - m.fake) <= 5, note);
    assert.ok(Math.abs(p95.real - p95.fake) <= 5, note);
  });

  it('choosing an email method and a wrong code: same status, structure and store round trips; nothing waits for delivery', async () => {
    for (let i = 0; i < 10; i += 1) {
      const r = await identify('xena');
      const f = await identify('nobody-else');
      assert.equal(f.page.status, r.page.status, `identify ${i + 1}`);
      if (r.page.status === 429) {
        // Both blocked at the same count of failed proofs, with the same page.
        assert.match(f.page.text, /Password reset is blocked/);
        assert.ok(i >= 4, 'blocked after RESET_MAX_FAILED_PROOFS wrong codes');
        continue;
      }
      const pick = (p: Page): string => /id="ref-(m\d)" value="\1"[^>]*>\s*<label[^>]*>Email/.exec(p.text)![1]!;
      const csrf = (p: Page): string => hiddenValue(p.text, 'csrf');
      const step = async (b: Browser, page: Page, form: Record<string, string>) => {
        const before = counting.calls();
        const res = await b.post('/reset/flow', { csrf: csrf(page), ...form });
        const calls = counting.calls() - before;
        const names = counting.log.slice(before);
        return { page: await b.follow(res), calls, names };
      };
      const rc = await step(r.browser, r.page, { action: 'choose', ref: pick(r.page) });
      const fc = await step(f.browser, f.page, { action: 'choose', ref: pick(f.page) });
      assert.equal(fc.page.status, rc.page.status);
      assert.equal(fc.calls, rc.calls, `choose: ${rc.names.join(' ')} vs ${fc.names.join(' ')}`);
      assert.match(fc.page.text, /We sent a code to/);
      const rw = await step(r.browser, rc.page, { action: 'finish', code: '00000000' });
      const fw = await step(f.browser, fc.page, { action: 'finish', code: '00000000' });
      assert.equal(fw.page.status, rw.page.status);
      assert.equal(fw.calls, rw.calls, `wrong code: ${rw.calls} vs ${fw.calls} store calls`);
      assert.equal(structure(fw.page), structure(rw.page));
    }
  });
});
