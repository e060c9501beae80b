/**
 * The registration commands of the admin CLI (`users methods`, `require-registration`, `tap`,
 * `unregistered`, `invite`, `import --invite`), each run as a child process against the test
 * app's DATA_DIR, with a real SMTP server receiving the invitations.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliRun } from '../support/cli.ts';
import { FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp-server.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';
import type { AccountRecord } from '../../src/store/types.ts';

const DAY = 24 * 3600 * 1000;
const PASSWORD = 'copper-meadow-lantern-drifts';
const CODE = /(?<![a-z0-9-])[a-hjkmnp-z2-9]{5}(?:-[a-hjkmnp-z2-9]{5}){3}(?![a-z0-9-])/;

function invitationCode(mail: Pick<ReceivedMail, 'text'>): string {
  const m = CODE.exec(mail.text);
  if (!m) throw new Error(`no invitation code in mail: ${mail.text.slice(0, 400)}`);
  return m[0];
}

describe('rekey CLI: recovery methods, access passes, invitations', function () {
  this.timeout(120_000);
  let t: TestApp;
  let smtp: TestSmtpServer;
  let env: Record<string, string>;

  const policyEnv = { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes' };

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ ...policyEnv, SMTP_URL: smtp.url, DEV_OUTBOX: 'false' });
    // The CLI shares the server's DATA_DIR (store and keys) and configuration, as in production.
    env = {
      NODE_ENV: 'test',
      DATA_DIR: t.dataDir,
      LOG_LEVEL: 'silent',
      DEMO: 'false',
      TWO_FACTOR: 'off',
      ISSUER: t.url,
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      ...policyEnv,
      ...FAST_ARGON2,
    };
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { ...env, ...extra });
  const ok = (run: CliRun): CliRun => {
    assert.equal(run.code, 0, `exit 0 expected:\n${run.stdout}\n${run.stderr}`);
    return run;
  };
  const get = async (id: string): Promise<AccountRecord> => (await t.services.accounts.get(id))!;

  function emailRecord(address: string, at: number): MethodRecord {
    return { id: randomUUID(), kind: 'email', address, registeredAt: at, confirmedAt: at };
  }

  async function withMethods(login: string, methods: MethodRecord[], extra: Partial<AccountRecord> = {}, admin = false): Promise<AccountRecord> {
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD, admin });
    return t.services.accounts.update(account.id, (a) => ({ ...a, ...extra, methods }));
  }

  it('methods: shows the registration state with masked destinations and no secrets', async () => {
    const now = t.services.clock();
    const registered = now - 3 * DAY;
    const a = await withMethods('mia', [
      emailRecord('mia.private@example.org', registered),
      { id: 'm-app', kind: 'authenticator_app', secret: { kid: 'k1', iv: 'SEALED-IV-1234', ct: 'SEALED-CIPHERTEXT-5678', tag: 'SEALED-TAG-90' }, lastStep: 0, registeredAt: registered, confirmedAt: registered },
      // A kind that is no longer enabled: listed by its label, never by its number.
      { id: 'm-phone', kind: 'mobile_phone', e164: '+48601234567', country: 'PL', registeredAt: registered, confirmedAt: registered },
    ]);

    const [textRun, jsonRun, outOfScopeRun, missing] = await Promise.all([
      cli(['users', 'methods', 'mia']),
      cli(['users', 'methods', a.id, '--json']),
      cli(['users', 'methods', 'mia'], { SSPR_SCOPE: 'none' }),
      cli(['users', 'methods', 'nobody']),
    ]);
    const text = ok(textRun).stdout;
    assert.match(text, /in SSPR scope:\s+yes/);
    assert.match(text, /required:\s+1 method\b/);
    assert.match(text, /registered:\s+3 \(2 counting under the current policy\)/);
    assert.match(text, /registration due:\s+no/);
    assert.match(text, /re-confirmation due:\s+no/);
    assert.match(text, /m•••@e•••\.org/);
    assert.match(text, /Authenticator app/);
    assert.match(text, /Mobile phone \(not enabled\)/);
    assert.match(text, new RegExp(new Date(registered).toISOString().slice(0, 10)));
    for (const secret of ['mia.private@example.org', '+48601234567', '601234567', 'SEALED-']) assert.ok(!text.includes(secret), `${secret} must not be shown`);

    const json = JSON.parse(ok(jsonRun).stdout) as {
      inScope: boolean;
      required: number;
      usable: number;
      registrationDue: boolean;
      reconfirmDue: boolean;
      methods: { kind: string; destination: string; usable: boolean; registeredAt: string; confirmedAt: string }[];
    };
    assert.equal(json.inScope, true);
    assert.equal(json.required, 1);
    assert.equal(json.usable, 2);
    assert.equal(json.registrationDue, false);
    assert.equal(json.reconfirmDue, false);
    assert.deepEqual(
      json.methods.map((m) => [m.kind, m.destination, m.usable]),
      [
        ['email', 'm•••@e•••.org', true],
        ['authenticator_app', 'Authenticator app', true],
        ['mobile_phone', 'Mobile phone (not enabled)', false],
      ],
    );
    assert.equal(json.methods[0]!.registeredAt, new Date(registered).toISOString());
    assert.ok(!JSON.stringify(json).includes('SEALED-') && !JSON.stringify(json).includes('mia.private'));

    // Confirmed 200 days ago: re-confirmation is due (SSPR_RECONFIRM_DAYS=180); an admin needs two.
    await withMethods('max', [emailRecord('max.home@example.net', now - 200 * DAY)], {}, true);
    const max = ok(await cli(['users', 'methods', 'max'])).stdout;
    assert.match(max, /required:\s+2 methods \(admin\)/);
    assert.match(max, /registration due:\s+yes/);
    assert.match(max, /re-confirmation due:\s+yes/);

    const outOfScope = ok(outOfScopeRun).stdout;
    assert.match(outOfScope, /in SSPR scope:\s+no \(SSPR_SCOPE=none\)/);
    assert.match(outOfScope, /registration due:\s+no/);

    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no account "nobody"/);
  });

  it('require-registration: removes every method, the bootstrap proof and the postponements; audited', async () => {
    const now = t.services.clock();
    const a = await withMethods('noa', [emailRecord('noa.home@example.org', now)], { bootstrapProvenAt: now, registrationPostponed: 2 });
    assert.equal(t.services.policy.needsRegistration(await get(a.id)), false);

    const run = ok(await cli(['users', 'require-registration', 'noa']));
    assert.match(run.stdout, /Removed 1 recovery method of noa: they must register again, with a bootstrap proof, at the next sign-in\./);
    const after = await get(a.id);
    assert.deepEqual(after.methods, []);
    assert.equal(after.bootstrapProvenAt, undefined);
    assert.equal(after.registrationPostponed, undefined);
    assert.equal(t.services.policy.needsRegistration(after), true);
    assert.equal(t.services.policy.isFirstRegistration(after), true, 'the next registration is a first one: bootstrap again');
    assert.equal(after.passwordHash, a.passwordHash, 'the password stays');

    const events = await t.services.audit.recent({ limit: 50 });
    const event = events.find((e) => e.type === 'admin.registration_required' && e.accountId === a.id);
    assert.ok(event, 'an audit event is written');
    assert.equal(event.actor, 'cli');
    assert.equal(event.outcome, 'success');

    assert.match(ok(await cli(['users', 'methods', 'noa'])).stdout, /No recovery methods registered\./);
  });

  it('tap: prints a pass once with its expiry; it redeems once; longer than TAP_TTL_HOURS is refused', async () => {
    const { account } = await t.services.accounts.create({ login: 'tia', email: 'tia@example.com', password: PASSWORD });
    const before = t.services.clock();
    const run = ok(await cli(['users', 'tap', 'tia', '--hours', '2']));
    const m = /^Temporary access pass: (\S+)$/m.exec(run.stdout);
    assert.ok(m, run.stdout);
    const pass = m[1]!;
    assert.equal((run.stdout + run.stderr).split(pass).length - 1, 1, 'printed exactly once');
    assert.match(run.stdout, /until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 2 hours\)/);
    const until = Date.parse(/until (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC/.exec(run.stdout)!.slice(1).join('T') + 'Z');
    assert.ok(Math.abs(until - (before + 2 * 3600_000)) < 60_000, 'expires in two hours');

    assert.equal(await t.services.accessPasses.redeem(account.id, 'aaaaa-bbbbb-ccccc-ddddd'), false);
    assert.equal(await t.services.accessPasses.redeem(account.id, pass), true, 'the printed pass works');
    assert.equal(await t.services.accessPasses.redeem(account.id, pass), false, 'once');

    const events = await t.services.audit.recent({ limit: 50 });
    const issued = events.find((e) => e.type === 'admin.tap_issued' && e.accountId === account.id);
    assert.ok(issued);
    assert.equal(issued.actor, 'cli');
    assert.ok(!JSON.stringify(events).includes(pass), 'the pass is not in the audit trail');

    const [byDefault, tooLong, shorterMax, junk] = await Promise.all([
      cli(['users', 'tap', 'tia']),
      cli(['users', 'tap', 'tia', '--hours', '9']),
      cli(['users', 'tap', 'tia', '--hours', '3'], { TAP_TTL_HOURS: '2' }),
      cli(['users', 'tap', 'tia', '--hours', '1.5']),
    ]);
    assert.match(ok(byDefault).stdout, /\(in 8 hours\)/, 'default: TAP_TTL_HOURS');
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /at most 8 hours \(TAP_TTL_HOURS\)/);
    assert.doesNotMatch(tooLong.stdout, /Temporary access pass/);
    assert.equal(shorterMax.code, 1);
    assert.match(shorterMax.stderr, /at most 2 hours/);
    assert.equal(junk.code, 1);
    assert.match(junk.stderr, /--hours "1\.5" is invalid/);
  });

  it('unregistered: lists exactly the users in scope who need to register', async () => {
    const now = t.services.clock();
    const env2 = { SSPR_SCOPE: 'groups', SSPR_GROUPS: 'pilot' };
    const { account: pia } = await t.services.accounts.create({ login: 'pia', email: 'pia@example.com', groups: ['pilot'], password: PASSWORD });
    await t.services.accounts.create({ login: 'quinn', groups: ['staff'], password: PASSWORD });
    const rex = await withMethods('rex', [emailRecord('rex.home@example.org', now)]);
    await t.services.accounts.setGroups(rex.id, ['pilot']);
    const sam = await withMethods('sam', [emailRecord('sam.home@example.org', now)], {}, true);
    await t.services.accounts.setGroups(sam.id, ['pilot']);

    const [allRun, pilotsRun, tableRun, noneRun] = await Promise.all([
      cli(['users', 'unregistered', '--json']),
      cli(['users', 'unregistered', '--json'], env2),
      cli(['users', 'unregistered'], env2),
      cli(['users', 'unregistered'], { SSPR_SCOPE: 'none' }),
    ]);
    const all = JSON.parse(ok(allRun).stdout) as { login: string; usable: number; required: number }[];
    const expected: string[] = [];
    for (let offset = 0; ; offset += 100) {
      const page = await t.services.store.accounts.list({ offset, limit: 100 });
      for (const a of page) if (t.services.policy.needsRegistration(a)) expected.push(a.login);
      if (page.length < 100) break;
    }
    assert.deepEqual(all.map((u) => u.login), expected);
    for (const login of ['pia', 'quinn', 'sam', 'noa', 'tia', 'max']) assert.ok(all.some((u) => u.login === login), `${login} is listed`);
    for (const login of ['rex', 'mia']) assert.ok(!all.some((u) => u.login === login), `${login} has enough methods`);
    const samRow = all.find((u) => u.login === 'sam')!;
    assert.deepEqual([samRow.usable, samRow.required], [1, 2], 'an admin needs two methods');

    const pilots = JSON.parse(ok(pilotsRun).stdout) as { id: string; login: string }[];
    assert.deepEqual(pilots.map((u) => u.login), ['pia', 'sam'], 'only the pilot group is in scope');
    assert.equal(pilots[0]!.id, pia.id);

    const table = ok(tableRun).stdout;
    assert.match(table, /^LOGIN\s+EMAIL\s+METHODS\s+POSTPONED\s+STATUS$/m);
    assert.match(table, /^pia\s+pia@example\.com\s+0\/1\s+0\s+active$/m);
    assert.match(table, /^sam\s+sam@example\.com\s+1\/2\s+0\s+active$/m);
    assert.match(table, /2 users in scope still need to register\./);
    assert.match(ok(noneRun).stdout, /Nobody is in SSPR scope/);
  });

  it('invite: mails a code that sets the password once, verifies the address and counts as the bootstrap proof; the CLI never prints it', async () => {
    const { account } = await t.services.accounts.create({ login: 'uma', email: 'uma@example.com', name: 'Uma', noPassword: true });
    const run = ok(await cli(['users', 'invite', 'uma']));
    assert.match(run.stdout, /Sent an invitation to uma at uma@example\.com\. It expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 72 hours, INVITE_TTL_HOURS\)\./);
    const mail = await smtp.waitFor((m) => m.to.includes('uma@example.com'));
    assert.match(mail.subject, /invitation/i);
    assert.ok(mail.text.includes(`${t.url}/invite`), 'the mail links to the invitation page');
    const code = invitationCode(mail);
    assert.ok(!run.stdout.includes(code) && !run.stderr.includes(code), 'the CLI never prints the code');
    const audit = await t.services.audit.recent({ limit: 50 });
    assert.ok(audit.some((e) => e.type === 'invite.sent' && e.accountId === account.id && e.actor === 'cli' && e.outcome === 'success'));
    assert.ok(!JSON.stringify(audit).includes(code), 'no code in the audit trail');

    const invitations = new Invitations(t.services);
    assert.equal((await invitations.accept('uma', code, PASSWORD, '127.0.0.1')).outcome, 'accepted');
    const after = await get(account.id);
    assert.equal(after.emails[0]!.verified, true);
    assert.equal(typeof after.bootstrapProvenAt, 'number');
    assert.equal((await t.services.accounts.authenticate('uma', PASSWORD, '127.0.0.1')).outcome, 'ok');
    assert.deepEqual(await invitations.accept('uma', code, 'another-long-passphrase-here', '127.0.0.1'), { outcome: 'invalid' }, 'used once');

    // A new invitation replaces the old one.
    smtp.clear();
    ok(await cli(['users', 'invite', 'uma@example.com']));
    const first = invitationCode(await smtp.waitFor((m) => m.to.includes('uma@example.com')));
    ok(await cli(['users', 'invite', account.id]));
    await smtp.waitFor((m) => m.to.includes('uma@example.com') && invitationCode(m) !== first);
    assert.deepEqual(await invitations.accept('uma', first, 'another-long-passphrase-here', '127.0.0.1'), { outcome: 'invalid' });

    // No email: refused, nothing sent.
    await t.services.accounts.create({ login: 'vera', noPassword: true });
    const sent = smtp.messages.length;
    const noEmail = await cli(['users', 'invite', 'vera']);
    assert.equal(noEmail.code, 1);
    assert.match(noEmail.stderr, /vera has no email address to send an invitation to/);
    assert.equal(smtp.messages.length, sent);
  });

  it('import --invite: invites every created user with an email and reports how many', async () => {
    smtp.clear();
    const file = join(t.dataDir, 'invitees.csv');
    writeFileSync(file, 'login,email,name\nwes,wes@example.com,Wes\nxia,xia@example.com,Xia\nyan,,Yan\nbad login!,bad@example.com,\n');
    const dry = await cli(['users', 'import', file, '--invite', '--dry-run']);
    assert.doesNotMatch(dry.stdout, /Invited/);
    assert.equal(smtp.messages.length, 0, 'a dry run sends nothing');

    const run = await cli(['users', 'import', file, '--invite']);
    assert.equal(run.code, 1, 'one row failed');
    assert.match(run.stdout, /Created 3 user\(s\); 1 row\(s\) failed\./);
    assert.match(run.stdout, /Invited 2 user\(s\); 1 without an email address were not invited\./);
    const wesMail = await smtp.waitFor((m) => m.to.includes('wes@example.com'));
    await smtp.waitFor((m) => m.to.includes('xia@example.com'));
    assert.equal(smtp.messages.length, 2);
    const wes = (await t.services.accounts.findByIdentifier('wes'))!;
    assert.equal(wes.passwordHash, undefined, 'no password until the invitation is accepted');
    const accepted = await new Invitations(t.services).accept('wes@example.com', invitationCode(wesMail).toUpperCase(), PASSWORD, '127.0.0.1');
    assert.equal(accepted.outcome, 'accepted', 'the primary address works as identifier; case does not matter');
  });
});
