/**
 * Reading the trail back: `rekey audit` filters (user, type and prefix, outcome, since/until,
 * limit), its table and JSON Lines export and its refusals; the times admins type; and paging
 * through many events, several per millisecond, on every store backend.
 */
import assert from 'node:assert/strict';
import { BACKENDS, FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';
import { runCli, type CliRun } from '../support/cli.ts';
import type { AuditEvent, StoredAuditEvent } from '../../src/domain/audit.ts';
import { detailsText, findAuditEvents, isTypePattern, parseTime } from '../../src/domain/audit-query.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe('audit query: times, type patterns, details', () => {
  const now = Date.UTC(2026, 5, 15, 12, 30);

  it('parses ages, ISO dates (a whole UTC day) and ISO times (UTC unless zoned); refuses anything else', () => {
    assert.equal(parseTime('30m', now, 'start'), now - 30 * 60_000);
    assert.equal(parseTime('24h', now, 'start'), now - DAY);
    assert.equal(parseTime('7d', now, 'end'), now - 7 * DAY);
    assert.equal(parseTime('2w', now, 'start'), now - 14 * DAY);
    assert.equal(parseTime('2026-01-31', now, 'start'), Date.UTC(2026, 0, 31));
    assert.equal(parseTime('2026-01-31', now, 'end'), Date.UTC(2026, 1, 1), 'a date alone as --until covers that day');
    assert.equal(parseTime('2026-01-31T08:15', now, 'start'), Date.UTC(2026, 0, 31, 8, 15));
    assert.equal(parseTime('2026-01-31 08:15:30', now, 'end'), Date.UTC(2026, 0, 31, 8, 15, 30));
    assert.equal(parseTime('2026-01-31T08:15:30.5Z', now, 'start'), Date.UTC(2026, 0, 31, 8, 15, 30, 500));
    assert.equal(parseTime('2026-01-31T08:15+01:00', now, 'start'), Date.UTC(2026, 0, 31, 7, 15));
    assert.equal(parseTime('2026-01-31T08:15-0230', now, 'start'), Date.UTC(2026, 0, 31, 10, 45));
    for (const bad of ['', 'yesterday', '7', '7y', '-1d', '2026-02-30', '2026-13-01', '2026-01-31T25:00', '2026-01-31T08:60', '31.01.2026', '2026-1-5']) {
      assert.equal(parseTime(bad, now, 'start'), undefined, bad);
    }
  });

  it('type patterns: exact types and prefixes with *', () => {
    for (const good of ['signin.password', 'reset.*', 'reset*', 'admin.user.*', '*', 'code.delivery_failed']) assert.ok(isTypePattern(good), good);
    for (const bad of ['Reset', 'reset.', 'reset.**', '*.failed', 'reset .started', '', 'a..b']) assert.ok(!isTypePattern(bad), bad);
  });

  it('details on one line, quoting values with spaces', () => {
    assert.equal(detailsText({ kind: 'email', decoy: true, count: 2, label: 'Firefox on Linux' }), 'kind=email decoy=true count=2 label="Firefox on Linux"');
    assert.equal(detailsText(undefined), '');
  });
});

for (const backend of BACKENDS) {
  describe(`audit query: paging through the trail on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let now = Date.now();
    const base = now - HOUR;

    before(async () => {
      t = await startTestApp({}, { clock: () => now }, backend);
      // 30 events on 10 milliseconds, three per millisecond, types and outcomes alternating.
      for (let i = 0; i < 30; i += 1) {
        now = base + Math.floor(i / 3);
        await t.services.audit.record({ type: i % 2 ? 'reset.proof_failed' : 'signin.password', outcome: i % 3 ? 'failure' : 'success', accountId: `acc-${i % 5}`, details: { n: i } });
      }
      now = base + HOUR;
    });
    after(() => t?.close());

    const ns = (events: StoredAuditEvent[]): number[] => events.map((e) => Number(e.details?.n));

    it('scans every event once, newest first, whatever the page size', async () => {
      for (const pageSize of [1, 4, 7, 30, 1000]) {
        const seen: StoredAuditEvent[] = [];
        for await (const e of t.services.audit.scan({ since: base, pageSize })) seen.push(e);
        assert.deepEqual(ns(seen), Array.from({ length: 30 }, (_, i) => 29 - i), `page size ${pageSize}`);
      }
      const window: StoredAuditEvent[] = [];
      for await (const e of t.services.audit.scan({ since: base + 2, until: base + 5, pageSize: 2 })) window.push(e);
      assert.deepEqual(ns(window), [14, 13, 12, 11, 10, 9, 8, 7, 6]);
    });

    it('finds the newest matching events by account, type prefix and outcome', async () => {
      const found = await findAuditEvents(t.services.audit, { accountId: 'acc-1', types: ['reset.*'], outcome: 'failure', since: base, limit: 2 });
      const all = await findAuditEvents(t.services.audit, { accountId: 'acc-1', types: ['reset.*'], outcome: 'failure', since: base, limit: 100 });
      const expected = Array.from({ length: 30 }, (_, i) => 29 - i).filter((i) => i % 5 === 1 && i % 2 === 1 && i % 3 !== 0);
      assert.deepEqual(ns(all), expected);
      assert.deepEqual(ns(found), expected.slice(0, 2));
      const exact = await findAuditEvents(t.services.audit, { types: ['signin.password'], since: base, limit: 100 });
      assert.equal(exact.length, 15);
    });
  });
}

describe('rekey audit: filters, table and JSON Lines (sqlite)', function () {
  this.timeout(120_000);
  let t: TestApp;
  let now = Date.now();
  const NOW = now;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};
  const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

  before(async () => {
    t = await startTestApp({}, { clock: () => now });
    env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', DEMO: 'false', ISSUER: t.url, ...FAST_ARGON2 };
    for (const login of ['ann', 'ben']) ids[login] = (await t.services.accounts.create({ login, email: `${login}@example.com`, password: 'violet-kettle-sings-softly' })).account.id;
    const from = (login: string) => ({ accountId: ids[login]!, ip: '192.0.2.7', userAgent: 'Mozilla/5.0 (X11; Linux) Firefox/140' });
    const events: [number, AuditEvent][] = [
      [NOW - 20 * DAY, { type: 'signin.password', outcome: 'blocked', ...from('ann'), reason: 'ip_throttled', details: { client: 'test-rp' } }],
      [NOW - 10 * DAY, { type: 'reset.started', outcome: 'success', ...from('ann') }],
      [NOW - 3 * DAY, { type: 'reset.proof_failed', outcome: 'failure', ...from('ann'), reason: 'code_wrong', details: { kind: 'email' } }],
      [NOW - 2 * DAY - HOUR, { type: 'signin.password', outcome: 'failure', ...from('ben'), reason: 'wrong_credentials', details: { client: 'test-rp' } }],
      [NOW - DAY, { type: 'reset.completed', outcome: 'success', ...from('ann'), details: { proofs: 'email,authenticator_app', admin: false } }],
      [NOW - 5 * HOUR, { type: 'signin.password', outcome: 'success', ...from('ann'), details: { client: 'test-rp' } }],
      [NOW - HOUR, { type: 'reset.proof_failed', outcome: 'failure', ...from('ben'), reason: 'code_wrong', details: { kind: 'authenticator_app' } }],
      [NOW - 10 * 60_000, { type: 'admin.user.disabled', outcome: 'success', accountId: ids.ben!, actor: 'cli' }],
    ];
    for (const [at, e] of events) {
      now = at;
      await t.services.audit.record(e);
    }
    now = NOW;
  });
  after(() => t?.close());

  const cli = (...args: string[]): Promise<CliRun> => runCli(['audit', ...args], env);
  const ok = (run: CliRun): string => {
    assert.equal(run.code, 0, `exit 0 expected:\n${run.stdout}\n${run.stderr}`);
    return run.stdout;
  };
  /** The TYPE column of a table, top to bottom. */
  const types = (table: string): string[] =>
    table
      .split('\n')
      .filter((l) => /^\d{4}-\d\d-\d\d /.test(l))
      .map((l) => l.split(/\s{2,}/)[1]!);

  it('prints a table, newest first, with the account login, actor, IP, reason and details', async () => {
    const out = ok(await cli());
    const lines = out.split('\n');
    assert.match(lines[0]!, /^TIME\s+TYPE\s+OUTCOME\s+ACCOUNT\s+ACTOR\s+IP\s+REASON\s+DETAILS$/);
    assert.deepEqual(types(out), [
      'admin.user.disabled',
      'reset.proof_failed',
      'signin.password',
      'reset.completed',
      'signin.password',
      'reset.proof_failed',
      'reset.started',
      'signin.password',
    ]);
    assert.match(out, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}admin\.user\.disabled {2}success {2}ben {6}cli {4}- {10}- {18}-$/m);
    assert.match(out, /reset\.completed\s+success\s+ann\s+-\s+192\.0\.2\.7\s+-\s+proofs=email,authenticator_app admin=false$/m);
    assert.match(out, /signin\.password\s+blocked\s+ann\s+-\s+192\.0\.2\.7\s+ip_throttled\s+client=test-rp$/m);
    assert.match(out, /^8 events, newest first\.$/m);
  });

  it('filters by user (login or email), type, prefixes, outcome and time, and stops at --limit', async () => {
    const [ann, benByEmail, resets, failedResets, several, recent, dated, limited] = await Promise.all([
      cli('--user', 'ann'),
      cli('--user', 'BEN@example.com'),
      cli('--type', 'reset.*'),
      cli('--type', 'reset.*', '--outcome', 'failure'),
      cli('--type', 'signin.password,admin*'),
      cli('--since', '2d'),
      cli('--since', isoDate(NOW - 20 * DAY), '--until', isoDate(NOW - 10 * DAY)),
      cli('--limit', '2'),
    ]);
    assert.deepEqual(types(ok(ann)), ['signin.password', 'reset.completed', 'reset.proof_failed', 'reset.started', 'signin.password']);
    assert.ok(ok(ann).split('\n').filter((l) => /^\d{4}/.test(l)).every((l) => /\s{2}ann\s{2}/.test(l)));
    assert.deepEqual(types(ok(benByEmail)), ['admin.user.disabled', 'reset.proof_failed', 'signin.password']);
    assert.deepEqual(types(ok(resets)), ['reset.proof_failed', 'reset.completed', 'reset.proof_failed', 'reset.started']);
    assert.deepEqual(types(ok(failedResets)), ['reset.proof_failed', 'reset.proof_failed']);
    assert.deepEqual(types(ok(several)), ['admin.user.disabled', 'signin.password', 'signin.password', 'signin.password']);
    assert.deepEqual(types(ok(recent)), ['admin.user.disabled', 'reset.proof_failed', 'signin.password', 'reset.completed']);
    assert.deepEqual(types(ok(dated)), ['reset.started', 'signin.password'], 'a date alone as --until includes that day');
    assert.deepEqual(types(ok(limited)), ['admin.user.disabled', 'reset.proof_failed']);
    assert.match(ok(limited), /^2 events, newest first \(--limit 2 reached; older ones may match too\)\.$/m);
  });

  it('--jsonl exports one event per line, oldest first, every field with the time as ISO text', async () => {
    const [all, annTwo] = await Promise.all([cli('--jsonl'), cli('--jsonl', '--user', 'ann', '--limit', '2')]);
    const lines = ok(all).trimEnd().split('\n');
    assert.equal(lines.length, 8);
    const events = lines.map((l) => JSON.parse(l) as StoredAuditEvent & { time: string });
    assert.deepEqual(
      events.map((e) => e.at),
      [...events.map((e) => e.at)].sort((a, b) => a - b),
      'oldest first',
    );
    for (const e of events) {
      assert.equal(e.time, new Date(e.at).toISOString());
      assert.equal(typeof e.seq, 'number');
      assert.deepEqual(Object.keys(e).slice(0, 5), ['time', 'at', 'seq', 'type', 'outcome']);
    }
    const completed = events.find((e) => e.type === 'reset.completed')!;
    assert.deepEqual(
      { ...completed, time: undefined, at: undefined, seq: undefined },
      { time: undefined, at: undefined, seq: undefined, type: 'reset.completed', outcome: 'success', accountId: ids.ann, ip: '192.0.2.7', userAgent: 'Mozilla/5.0 (X11; Linux) Firefox/140', details: { proofs: 'email,authenticator_app', admin: false } },
    );
    const two = ok(annTwo).trimEnd().split('\n').map((l) => (JSON.parse(l) as StoredAuditEvent).type);
    assert.deepEqual(two, ['reset.completed', 'signin.password'], 'the newest two, oldest first');
  });

  it('says when nothing matches, and refuses bad options with one error line and exit code 1', async () => {
    const [none, noneJsonl, ...bad] = await Promise.all([
      cli('--type', 'nothing.here'),
      cli('--type', 'nothing.here', '--jsonl'),
      cli('--limit', 'ten'),
      cli('--limit', '0'),
      cli('--outcome', 'failed'),
      cli('--since', 'yesterday'),
      cli('--until', '2026-02-30'),
      cli('--type', 'Reset'),
      cli('--user', 'nobody'),
      cli('--since', '1d', '--until', '2d'),
    ]);
    assert.equal(ok(none), 'No audit events match.\n');
    assert.equal(ok(noneJsonl), '');
    const messages = [
      /^error: --limit "ten" is invalid: a whole number from 1 to 1000000$/,
      /^error: --limit "0" is invalid/,
      /^error: --outcome "failed" is invalid: one of success, failure, blocked$/,
      /^error: --since "yesterday" is invalid: an ISO date or time in UTC .* or an age \(30m, 24h, 7d, 2w\)$/,
      /^error: --until "2026-02-30" is invalid/,
      /^error: --type "Reset" is invalid: an event type \(signin\.password\) or a prefix with \* \(reset\.\*\)/,
      /^error: no account "nobody"$/,
      /^error: --since 1d is not before --until 2d$/,
    ];
    bad.forEach((run, i) => {
      assert.equal(run.code, 1, `${messages[i]}: ${run.stdout}${run.stderr}`);
      assert.equal(run.stdout, '');
      assert.match(run.stderr.trimEnd(), messages[i]!);
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, 'one line, no stack trace');
    });
  });
});
