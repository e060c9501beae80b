/**
 * `buildReport` and `rekey report` against a known population: ten accounts with chosen
 * methods, groups, status and confirmation dates, and a known set of audit events placed on
 * chosen days (some just outside the period). Every figure is written out by hand.
 */
import assert from 'node:assert/strict';
import { FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';
import { runCli, type CliRun } from '../support/cli.ts';
import { buildReport, type Report } from '../../src/domain/report.ts';
import type { AuditEvent } from '../../src/domain/audit.ts';
import type { MethodKind, MethodRecord } from '../../src/domain/methods/types.ts';
import { ACR_MFA, ACR_PWD } from '../../src/provider/acr.ts';

const DAY = 24 * 3600 * 1000;
const PASSWORD = 'plum-harbour-sketches-rain';

describe('report: registration coverage and activity of a known population (sqlite)', function () {
  this.timeout(120_000);
  let t: TestApp;
  /** The app's clock: set to each seeded event's time while it is recorded. */
  let now = Date.now();
  const NOW = now;
  const today = Math.floor(NOW / DAY) * DAY;
  /** Noon of `k` days ago; today's events are a few seconds old. */
  const day = (k: number): number => (k === 0 ? Math.max(today, NOW - 5_000) : today - k * DAY + 12 * 3600_000);
  const date = (k: number): string => new Date(today - k * DAY).toISOString().slice(0, 10);
  const ids: Record<string, string> = {};
  const policy = {
    SSPR_SCOPE: 'groups',
    SSPR_GROUPS: 'staff',
    SSPR_METHODS: 'email,mobile_phone,authenticator_app,security_questions,recovery_codes',
    SSPR_METHODS_REQUIRED: '2',
    SSPR_RECONFIRM_DAYS: '180',
    TWO_FACTOR: 'admins',
  };

  function method(kind: MethodKind, confirmedDaysAgo = 10): MethodRecord {
    const at = NOW - confirmedDaysAgo * DAY;
    const base = { id: `${kind}-${Math.random().toString(36).slice(2, 8)}`, registeredAt: at, confirmedAt: at };
    switch (kind) {
      case 'email':
        return { ...base, kind, address: `${base.id}@example.org` };
      case 'mobile_phone':
      case 'office_phone':
        return { ...base, kind, e164: '+48601234599', country: 'PL' };
      case 'authenticator_app':
        return { ...base, kind, secret: t.services.box.seal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'), lastStep: 0 };
      case 'security_questions':
        return { ...base, kind, answers: [] };
      case 'recovery_codes':
        return { ...base, kind, codes: [{ hash: 'x' }] };
      case 'security_key':
        return { ...base, kind, credentialId: 'AAAA', publicKey: 'AAAA', counter: 0, label: 'Key' };
    }
  }

  async function user(login: string, o: { groups?: string[]; admin?: boolean; disabled?: boolean; methods?: MethodRecord[] }): Promise<void> {
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD, groups: o.groups ?? [], admin: o.admin ?? false });
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods: o.methods ?? [], status: o.disabled ? 'disabled' : 'active' }));
    ids[login] = account.id;
  }

  async function record(at: number, event: AuditEvent): Promise<void> {
    now = at;
    try {
      await t.services.audit.record(event);
    } finally {
      now = NOW;
    }
  }

  before(async () => {
    t = await startTestApp(policy, { clock: () => now });
    const staff = ['staff'];
    await user('u01', { groups: staff, methods: [method('email'), method('authenticator_app')] }); // registered, 2FA
    await user('u02', { groups: staff, methods: [method('email')] }); // partial
    await user('u03', { groups: staff }); // none
    await user('u04', { groups: staff, methods: [method('mobile_phone', 200), method('recovery_codes', 200)] }); // registered, overdue, 2FA
    await user('u05', { groups: staff, admin: true, methods: [method('email'), method('security_questions')] }); // admin: questions do not count → partial
    await user('u06', { groups: staff, disabled: true, methods: [method('email'), method('authenticator_app')] }); // disabled
    await user('u07', { groups: ['ops'], methods: [method('authenticator_app')] }); // out of scope, 2FA
    await user('u08', {}); // out of scope
    await user('u09', { groups: staff, methods: [method('security_questions'), method('recovery_codes'), method('email')] }); // registered, 2FA
    await user('u10', { groups: ['ops', 'staff'], methods: [method('office_phone'), method('email')] }); // office phone not offered → partial

    const a = (login: string) => ({ accountId: ids[login]!, ip: '192.0.2.10', userAgent: 'seed' });
    const events: [number, AuditEvent][] = [
      // Outside the period (the day before it starts, and long ago): never counted.
      [today - 7 * DAY + 12 * 3600_000, { type: 'reset.started', outcome: 'success', ...a('u01') }],
      [today - 6 * DAY - 1, { type: 'reset.started', outcome: 'success', ...a('u01') }],
      [today - 30 * DAY, { type: 'signin.completed', outcome: 'success', ...a('u01'), details: { client: 'test-rp', acr: ACR_MFA, amr: 'pwd,otp,mfa' } }],
      // The first moment of the period counts.
      [today - 6 * DAY, { type: 'reset.started', outcome: 'success', ...a('u02') }],
      [day(2), { type: 'reset.started', outcome: 'success', ...a('u04') }],
      [day(0), { type: 'reset.started', outcome: 'success', ...a('u01') }],
      [day(1), { type: 'reset.started', outcome: 'success', ip: '192.0.2.66', reason: 'no_usable_account' }],
      [day(1), { type: 'reset.started', outcome: 'success', ip: '192.0.2.66', reason: 'no_usable_account' }],
      [day(3), { type: 'reset.started', outcome: 'blocked', ip: '192.0.2.66', reason: 'reset_too_many_starts' }],
      [day(3), { type: 'reset.started', outcome: 'blocked', ...a('u02'), reason: 'reset_blocked' }],
      [day(0), { type: 'reset.proof_failed', outcome: 'failure', ...a('u01'), reason: 'code_wrong', details: { kind: 'email' } }],
      [day(0), { type: 'reset.proof_failed', outcome: 'failure', ...a('u01'), reason: 'code_wrong', details: { kind: 'authenticator_app' } }],
      [day(2), { type: 'reset.proof_failed', outcome: 'failure', ...a('u04'), reason: 'code_expired', details: { kind: 'mobile_phone' } }],
      [day(1), { type: 'reset.proof_failed', outcome: 'failure', ip: '192.0.2.66', reason: 'code_wrong', details: { kind: 'email', decoy: true } }],
      [day(1), { type: 'reset.proof_failed', outcome: 'failure', ip: '192.0.2.66', reason: 'code_wrong', details: { kind: 'email', decoy: true } }],
      [day(0), { type: 'reset.proof_succeeded', outcome: 'success', ...a('u01'), details: { kind: 'email', channel: 'email' } }],
      [day(0), { type: 'reset.proof_succeeded', outcome: 'success', ...a('u01'), details: { kind: 'authenticator_app' } }],
      [day(2), { type: 'reset.proof_succeeded', outcome: 'success', ...a('u04'), details: { kind: 'mobile_phone', channel: 'sms' } }],
      [day(4), { type: 'reset.blocked', outcome: 'blocked', ...a('u02'), reason: 'too_many_failed_proofs', details: { kind: 'email' } }],
      [day(0), { type: 'reset.completed', outcome: 'success', ...a('u01'), details: { proofs: 'email,authenticator_app', admin: false } }],
      [day(5), { type: 'reset.completed', outcome: 'success', ...a('u05'), details: { proofs: 'email,mobile_phone', admin: true } }],
      [day(5), { type: 'admin.reset_started', outcome: 'success', ...a('u05'), actor: 'cli' }],
      [day(5), { type: 'admin.reset_started', outcome: 'success', ...a('u01'), actor: 'cli' }],
      [day(6), { type: 'admin.reset_started', outcome: 'failure', ...a('u03'), actor: 'cli', reason: 'no_methods' }],
      // Sign-ins.
      [day(0), { type: 'signin.password', outcome: 'success', ...a('u01'), details: { client: 'test-rp' } }],
      [day(0), { type: 'signin.password', outcome: 'success', ...a('u04'), details: { client: 'test-rp' } }],
      [day(1), { type: 'signin.password', outcome: 'success', ...a('u09'), details: { client: 'test-rp' } }],
      [day(1), { type: 'signin.password', outcome: 'success', ...a('u09'), details: { client: 'test-rp' } }],
      [day(0), { type: 'signin.password', outcome: 'failure', ...a('u02'), reason: 'wrong_credentials', details: { client: 'test-rp' } }],
      [day(1), { type: 'signin.password', outcome: 'failure', ...a('u02'), reason: 'wrong_credentials', details: { client: 'test-rp' } }],
      [day(1), { type: 'signin.password', outcome: 'failure', ip: '192.0.2.66', reason: 'wrong_credentials', details: { client: 'test-rp', identifierHash: 'abcdefabcdefabcd' } }],
      [day(2), { type: 'signin.password', outcome: 'failure', ...a('u06'), reason: 'disabled', details: { client: 'test-rp' } }],
      [day(2), { type: 'signin.password', outcome: 'blocked', ...a('u02'), reason: 'locked', details: { client: 'test-rp' } }],
      [day(3), { type: 'signin.password', outcome: 'blocked', ip: '192.0.2.66', reason: 'ip_throttled', details: { client: 'test-rp' } }],
      [day(3), { type: 'signin.password', outcome: 'blocked', ip: '192.0.2.66', reason: 'ip_throttled', details: { client: 'test-rp' } }],
      [day(0), { type: 'second_factor.succeeded', outcome: 'success', ...a('u01'), details: { kind: 'authenticator_app' } }],
      [day(0), { type: 'second_factor.succeeded', outcome: 'success', ...a('u04'), details: { kind: 'mobile_phone' } }],
      [day(0), { type: 'second_factor.failed', outcome: 'failure', ...a('u04'), reason: 'code_wrong', details: { kind: 'mobile_phone' } }],
      [day(4), { type: 'second_factor.failed', outcome: 'blocked', ...a('u04'), reason: 'locked', details: { kind: 'mobile_phone' } }],
      [day(0), { type: 'signin.completed', outcome: 'success', ...a('u01'), details: { client: 'test-rp', acr: ACR_MFA, amr: 'pwd,otp,mfa', rememberedDevice: false } }],
      [day(0), { type: 'signin.completed', outcome: 'success', ...a('u04'), details: { client: 'test-rp', acr: ACR_MFA, amr: 'pwd,sms,mfa', rememberedDevice: false } }],
      [day(1), { type: 'signin.completed', outcome: 'success', ...a('u09'), details: { client: 'test-rp', acr: ACR_PWD, amr: 'pwd', rememberedDevice: true } }],
      [day(1), { type: 'signin.failed', outcome: 'failure', ...a('u09'), reason: 'aborted', details: { client: 'test-rp' } }],
      [day(6), { type: 'signin.failed', outcome: 'failure', ...a('u09'), reason: 'unmet_authentication_requirements', details: { client: 'test-rp' } }],
      // Lockouts and throttles.
      [day(2), { type: 'lockout.started', outcome: 'blocked', ...a('u02'), reason: 'soft', details: { via: 'password', seconds: 60 } }],
      [day(4), { type: 'lockout.started', outcome: 'blocked', ...a('u04'), reason: 'soft', details: { via: 'second_factor', seconds: 60 } }],
      [day(5), { type: 'lockout.started', outcome: 'blocked', ...a('u02'), reason: 'hard', details: { via: 'password' } }],
      [day(1), { type: 'lockout.started', outcome: 'blocked', ip: '192.0.2.66', reason: 'soft', details: { via: 'password', seconds: 60, identifierHash: 'abcdefabcdefabcd' } }],
      [day(3), { type: 'code.throttled', outcome: 'blocked', ...a('u02'), reason: 'send_throttled', details: { purpose: 'reset', kind: 'email', channel: 'email' } }],
      [day(3), { type: 'code.throttled', outcome: 'blocked', ...a('u04'), reason: 'send_throttled', details: { purpose: 'second_factor', kind: 'mobile_phone', channel: 'sms' } }],
      // Not counted anywhere but present.
      [day(2), { type: 'code.sent', outcome: 'success', ...a('u04'), details: { purpose: 'reset', kind: 'mobile_phone', channel: 'sms' } }],
      [day(3), { type: 'method.registered', outcome: 'success', ...a('u09'), details: { kind: 'recovery_codes' } }],
    ];
    for (const [at, event] of events) await record(at, event);
  });
  after(() => t?.close());

  const expected = (): Omit<Report, 'generatedAt' | 'period'> => ({
    version: 1,
    policy: {
      scope: 'groups',
      groups: ['staff'],
      enabledMethods: ['email', 'mobile_phone', 'authenticator_app', 'security_questions', 'recovery_codes'],
      methodsRequired: 2,
      adminMethodsRequired: 2,
      reconfirmDays: 180,
      twoFactor: 'admins',
      twoFactorMethods: ['mobile_phone', 'authenticator_app', 'recovery_codes'],
    },
    registration: {
      users: 10,
      active: 9,
      disabled: 1,
      inScope: 7,
      registered: 3,
      partial: 3,
      none: 1,
      registeredPercent: 42.9,
      partialPercent: 42.9,
      nonePercent: 14.3,
      reconfirmOverdue: 1,
      secondFactorCapable: 4,
      secondFactorCapablePercent: 44.4,
      byMethod: [
        { kind: 'email', enabled: true, users: 5, percent: 71.4 },
        { kind: 'mobile_phone', enabled: true, users: 1, percent: 14.3 },
        { kind: 'office_phone', enabled: false, users: 0, percent: 0 },
        { kind: 'authenticator_app', enabled: true, users: 1, percent: 14.3 },
        { kind: 'security_questions', enabled: true, users: 1, percent: 14.3 },
        { kind: 'recovery_codes', enabled: true, users: 2, percent: 28.6 },
        { kind: 'security_key', enabled: false, users: 0, percent: 0 },
      ],
    },
    resets: {
      started: 3,
      decoyStarts: 2,
      startsRefused: [
        { reason: 'reset_blocked', count: 1 },
        { reason: 'reset_too_many_starts', count: 1 },
      ],
      completed: 2,
      completedPercent: 66.7,
      proofsSucceeded: 3,
      proofsFailed: 3,
      failuresByReason: [
        { reason: 'code_wrong', count: 2 },
        { reason: 'code_expired', count: 1 },
      ],
      decoyProofsFailed: 2,
      blocked: 1,
      byMethod: [
        { kind: 'email', proofsSucceeded: 1, proofsFailed: 1, completedResets: 2 },
        { kind: 'mobile_phone', proofsSucceeded: 1, proofsFailed: 1, completedResets: 1 },
        { kind: 'office_phone', proofsSucceeded: 0, proofsFailed: 0, completedResets: 0 },
        { kind: 'authenticator_app', proofsSucceeded: 1, proofsFailed: 1, completedResets: 1 },
        { kind: 'security_questions', proofsSucceeded: 0, proofsFailed: 0, completedResets: 0 },
        { kind: 'recovery_codes', proofsSucceeded: 0, proofsFailed: 0, completedResets: 0 },
        { kind: 'security_key', proofsSucceeded: 0, proofsFailed: 0, completedResets: 0 },
      ],
    },
    signins: {
      completed: 3,
      completedWithMfa: 2,
      rememberedDevice: 1,
      password: { succeeded: 4, failed: 4, blocked: 3 },
      passwordFailuresByReason: [
        { reason: 'wrong_credentials', count: 3 },
        { reason: 'ip_throttled', count: 2 },
        { reason: 'disabled', count: 1 },
        { reason: 'locked', count: 1 },
      ],
      secondFactor: { succeeded: 2, failed: 1, blocked: 1 },
      notCompleted: [
        { reason: 'aborted', count: 1 },
        { reason: 'unmet_authentication_requirements', count: 1 },
      ],
    },
    throttles: {
      total: 8,
      byReason: [
        { type: 'code.throttled', reason: 'send_throttled', count: 2 },
        { type: 'signin.password', reason: 'ip_throttled', count: 2 },
        { type: 'reset.started', reason: 'reset_blocked', count: 1 },
        { type: 'reset.started', reason: 'reset_too_many_starts', count: 1 },
        { type: 'second_factor.failed', reason: 'locked', count: 1 },
        { type: 'signin.password', reason: 'locked', count: 1 },
      ],
    },
    lockouts: { soft: 3, hard: 1, total: 4, unknownIdentifiers: 1 },
    admin: { cliResetsStarted: 2, cliResetsFailed: 1, adminAccountResets: 1 },
    daily: [
      { date: date(6), resetsStarted: 1, resetsCompleted: 0, signinsSucceeded: 0, signinsFailed: 0 },
      { date: date(5), resetsStarted: 0, resetsCompleted: 1, signinsSucceeded: 0, signinsFailed: 0 },
      { date: date(4), resetsStarted: 0, resetsCompleted: 0, signinsSucceeded: 0, signinsFailed: 1 },
      { date: date(3), resetsStarted: 0, resetsCompleted: 0, signinsSucceeded: 0, signinsFailed: 2 },
      { date: date(2), resetsStarted: 1, resetsCompleted: 0, signinsSucceeded: 0, signinsFailed: 2 },
      { date: date(1), resetsStarted: 0, resetsCompleted: 0, signinsSucceeded: 1, signinsFailed: 2 },
      { date: date(0), resetsStarted: 1, resetsCompleted: 1, signinsSucceeded: 2, signinsFailed: 2 },
    ],
  });

  it('buildReport: every figure of the seeded population and its events, in a stable shape', async () => {
    const report = await buildReport(t.services, { days: 7, now: NOW });
    const { generatedAt, period, ...rest } = report;
    assert.equal(generatedAt, new Date(NOW).toISOString());
    assert.deepEqual(period, { days: 7, since: new Date(today - 6 * DAY).toISOString(), until: new Date(NOW).toISOString(), auditRetentionDays: 180, complete: true });
    assert.deepEqual(rest, expected());
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'plain JSON');
  });

  it('a period longer than the audit retention says it is incomplete; one day has one row', async () => {
    const long = await buildReport(t.services, { days: 365, now: NOW });
    assert.equal(long.period.complete, false);
    assert.equal(long.daily.length, 365);
    assert.equal(long.signins.completed, 4, 'the sign-in of 30 days ago is in the long period');
    assert.equal(long.resets.started, 5, 'and so are the starts just before the 7 days');
    const one = await buildReport(t.services, { days: 1, now: NOW });
    assert.deepEqual(one.daily, [expected().daily[6]]);
    assert.equal(one.resets.started, 1);
    assert.deepEqual(one.registration, expected().registration, 'coverage does not depend on the period');
  });

  const cliEnv = (): Record<string, string> => ({ NODE_ENV: 'test', DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', DEMO: 'false', ISSUER: t.url, ...policy, ...FAST_ARGON2 });
  const ok = (run: CliRun): CliRun => {
    assert.equal(run.code, 0, `exit 0 expected:\n${run.stdout}\n${run.stderr}`);
    return run;
  };

  it('rekey report --json prints the same object as buildReport at its own time', async () => {
    const json = JSON.parse(ok(await runCli(['report', '--days', '7', '--json'], cliEnv())).stdout) as Report;
    // The CLI runs on the real clock, a few seconds after NOW: the same figures (unless a UTC day ended meanwhile).
    assert.deepEqual(json, await buildReport(t.services, { days: 7, now: Date.parse(json.generatedAt) }));
    if (json.period.since === new Date(today - 6 * DAY).toISOString()) {
      const { generatedAt: _g, period: _p, ...rest } = json;
      assert.deepEqual(rest, expected());
    }
  });

  it('rekey report prints aligned text with the key figures and percentages; bad --days is refused', async () => {
    const [text, bad, zero] = await Promise.all([
      runCli(['report', '--days', '7'], cliEnv()),
      runCli(['report', '--days', 'week'], cliEnv()),
      runCli(['report', '--days', '0'], cliEnv()),
    ]);
    const out = ok(text).stdout;
    for (const line of [
      /^Registration and usage report: the last 7 days \(\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d, UTC\)$/m,
      /Policy: SSPR_SCOPE=groups \(staff\), 2 methods required \(admins 2\), re-confirmation every 180 days, TWO_FACTOR=admins\./,
      /^ {2}Users\s+10$/m,
      /^ {2}In SSPR scope \(active\)\s+7$/m,
      /^ {2}Registered\s+3\s+42\.9%$/m,
      /^ {2}Partially registered\s+3\s+42\.9%$/m,
      /^ {2}Not registered\s+1\s+14\.3%$/m,
      /^ {2}Re-confirmation overdue\s+1$/m,
      /^ {2}Second-factor capable \(of active\)\s+4\s+44\.4%$/m,
      /^ {2}email\s+5\s+71\.4%$/m,
      /^ {2}office_phone \(not offered\)\s+0\s+0\.0%$/m,
      /^ {2}Completed \(of started\)\s+2\s+66\.7%$/m,
      /^ {2}Started for unknown identifiers \(decoys\)\s+2$/m,
      /^ {4}code_wrong\s+2$/m,
      /^ {2}Blocked \(too many failed proofs\)\s+1$/m,
      /^ {2}authenticator_app\s+1\s+1\s+1$/m,
      /^ {2}Passwords blocked\s+3$/m,
      /^ {2}code\.throttled\s+send_throttled\s+2$/m,
      /^ {2}Total\s+8$/m,
      /^ {2}Soft \(timed\)\s+3$/m,
      /^ {2}Hard \(until an admin unlocks\)\s+1$/m,
      /^ {2}Resets started from the CLI\s+2$/m,
      /^ {2}Completed resets of admin accounts\s+1$/m,
      /^ {2}Date\s+Resets started\s+Resets completed\s+Sign-ins\s+Failed sign-in attempts$/m,
    ]) {
      assert.match(out, line);
    }
    // Figures are right-aligned under their headings.
    const header = out.split('\n').find((l) => l.includes('Resets started   Resets completed'))!;
    const rows = out.split('\n').filter((l) => /^ {2}\d{4}-\d\d-\d\d\s/.test(l));
    assert.equal(rows.length, 7);
    for (const row of rows) assert.equal(row.length, header.length, `aligned: ${row}`);
    for (const run of [bad, zero]) {
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: --days "(week|0)" is invalid: a whole number of days from 1 to 3650\n$/);
    }
  });
});
