/**
 * The admin CLI as an admin uses it: each command runs as a child process against a real
 * SQLite store in a temporary DATA_DIR, and the test opens the same store to check what
 * changed. Independent spawns run in parallel to keep the file fast.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { createServices, type Services } from '../../src/services.ts';
import { runCli, type CliRun as Run } from '../support/cli.ts';

const GOOD_PASSWORD = 'violet tractor moonlit harbor';
const IP = '127.0.0.1';

describe('rekey CLI', function () {
  this.timeout(60_000);
  let dataDir: string;
  let env: Record<string, string>;
  let services: Services;

  function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
    return runCli(args, { ...env, ...options.env }, options.input ?? '');
  }

  const find = (login: string) => services.store.accounts.findByLogin(login);

  async function mustFind(login: string) {
    const a = await find(login);
    assert.ok(a, `${login} exists`);
    return a;
  }

  function temporaryPasswordOf(run: Run): string {
    const m = /^Temporary password: (\S+)$/m.exec(run.stdout);
    assert.ok(m, `a temporary password is printed:\n${run.stdout}`);
    const password = m[1]!;
    const everything = run.stdout + run.stderr;
    assert.equal(everything.split(password).length - 1, 1, 'the password is printed exactly once');
    return password;
  }

  function assertFailed(run: Run, message: RegExp): void {
    assert.equal(run.code, 1, `exit code 1, got ${run.code}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /^error: /);
    assert.match(run.stderr, message);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'rekey-cli-'));
    env = {
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      DEMO: 'false',
      // Password-only users: the 15-character minimum applies.
      TWO_FACTOR: 'off',
      LOG_LEVEL: 'silent',
      ARGON2_MEMORY_KIB: '7168',
      ARGON2_TIME_COST: '2',
      SIGNIN_LOCKOUT_THRESHOLD: '3',
    };
    // Opened first, so the dev keys exist before any CLI process starts.
    services = await createServices(loadConfig(env));
  });

  after(async () => {
    await services?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints help for every command and subcommand and exits 0', async () => {
    const subcommands = ['create', 'list', 'show', 'disable', 'enable', 'unlock', 'groups', 'admin', 'sign-out', 'temp-password'];
    const runs = await Promise.all([
      cli(['--help']),
      cli(['users', '--help']),
      ...subcommands.map((s) => cli(['users', s, '--help'])),
    ]);
    const [top, users, ...subs] = runs;
    assert.equal(top!.code, 0);
    assert.match(top!.stdout, /Usage: rekey /);
    assert.match(top!.stdout, /users/);
    assert.equal(users!.code, 0);
    for (const s of subcommands) assert.match(users!.stdout, new RegExp(`^\\s+${s}\\b`, 'm'), `users --help lists ${s}`);
    subs.forEach((run, i) => {
      const name = subcommands[i]!;
      assert.equal(run.code, 0, `users ${name} --help exits 0`);
      assert.match(run.stdout, new RegExp(`Usage: rekey users ${name}\\b`));
      // A description line follows the usage line.
      assert.match(run.stdout, /^Usage: .*\n\n\S.{10,}/);
    });
    assert.match(subs[subcommands.indexOf('admin')]!.stdout, /--on[\s\S]*--off/);
    assert.match(subs[subcommands.indexOf('groups')]!.stdout, /--clear/);
    assert.match(subs[subcommands.indexOf('create')]!.stdout, /--password-stdin[\s\S]*TEMP_PASSWORD_TTL_HOURS/);
  });

  it('creates a user with a temporary password that is printed once, signs in and must be changed', async () => {
    const run = await cli(['users', 'create', 'Alice', '--email', 'Alice@Example.com', '--name', 'Alice Archer', '--group', 'staff', '--group', 'it']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Created user alice \(id \S+\)\.$/m);
    assert.match(run.stdout, /must change it at the first sign-in/);
    assert.match(run.stdout, /expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 72 hours, TEMP_PASSWORD_TTL_HOURS\)/);
    const password = temporaryPasswordOf(run);

    const alice = await mustFind('alice');
    assert.deepEqual(alice.emails, [{ address: 'alice@example.com', verified: false }]);
    assert.equal(alice.name, 'Alice Archer');
    assert.deepEqual(alice.groups, ['it', 'staff']);
    assert.equal(alice.admin, false);
    const signin = await services.accounts.authenticate('alice', password, IP);
    assert.equal(signin.outcome, 'ok');
    assert.equal(signin.outcome === 'ok' && signin.mustChangePassword, true);
  });

  it('creates a user with a password from stdin, and refuses a weak one without creating anything', async () => {
    const [good, weak, empty] = await Promise.all([
      cli(['users', 'create', 'bob', '--admin', '--password-stdin'], { input: `${GOOD_PASSWORD}\nsecond line ignored\n` }),
      cli(['users', 'create', 'carol', '--password-stdin'], { input: 'password\n' }),
      cli(['users', 'create', 'carl', '--password-stdin'], { input: '' }),
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /Created user bob .*password read from stdin/);
    assert.doesNotMatch(good.stdout, /Temporary password/);
    assert.ok(!good.stdout.includes(GOOD_PASSWORD));
    const bob = await mustFind('bob');
    assert.equal(bob.admin, true);
    const signin = await services.accounts.authenticate('bob', GOOD_PASSWORD, IP);
    assert.equal(signin.outcome, 'ok');
    assert.equal(signin.outcome === 'ok' && signin.mustChangePassword, false);

    assertFailed(weak, /password rejected: it is shorter than 15 characters.*nothing was created/);
    assertFailed(empty, /nothing to read on stdin/);
    assert.equal(await find('carol'), undefined);
    assert.equal(await find('carl'), undefined);
  });

  it('refuses bad input and duplicates with exit code 1 and creates nothing', async () => {
    const before = await services.store.accounts.count();
    const [badLogin, badEmail, duplicate, duplicateEmail, badGroup] = await Promise.all([
      cli(['users', 'create', 'not a login!']),
      cli(['users', 'create', 'dora', '--email', 'not-an-email']),
      cli(['users', 'create', 'ALICE']),
      cli(['users', 'create', 'alice2', '--email', 'alice@example.com']),
      cli(['users', 'create', 'dora', '--group', 'no/slashes']),
    ]);
    assertFailed(badLogin, /login "not a login!" is invalid/);
    assertFailed(badEmail, /email "not-an-email" is invalid/);
    assertFailed(duplicate, /login "ALICE" is already taken/);
    assertFailed(duplicateEmail, /email "alice@example.com" is already taken/);
    assertFailed(badGroup, /group "no\/slashes" is invalid/);
    for (const r of [badLogin, badEmail, duplicate]) assert.equal(r.stdout, '');
    assert.equal(await services.store.accounts.count(), before);
    assert.equal(await find('dora'), undefined);
  });

  it('says clearly when a user does not exist', async () => {
    const commands = [['show'], ['disable'], ['sign-out'], ['groups', 'x']];
    const runs = await Promise.all(commands.map(([cmd, ...rest]) => cli(['users', cmd!, 'nobody', ...rest])));
    for (const run of runs) assertFailed(run, /^error: no account "nobody"\n$/);
  });

  it('lists users as a table and as JSON, without hashes', async () => {
    const [text, json] = await Promise.all([cli(['users', 'list']), cli(['users', 'list', '--json'])]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^LOGIN\s+EMAIL\s+NAME\s+GROUPS\s+ADMIN\s+STATUS$/);
    assert.match(text.stdout, /^alice\s+alice@example\.com\s+Alice Archer\s+it,staff\s+no\s+active$/m);
    assert.match(text.stdout, /^bob\s+-\s+bob\s+-\s+yes\s+active$/m);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(list.map((a) => a.login), ['alice', 'bob']);
    assert.deepEqual(list[0]!.groups, ['it', 'staff']);
    for (const out of [text.stdout, json.stdout]) assert.doesNotMatch(out, /argon2|passwordHash|passwordHistory/);
  });

  it('shows one user found by login, email or id, without hashes', async () => {
    const alice = await mustFind('alice');
    const [byLogin, byEmail, byId] = await Promise.all([
      cli(['users', 'show', 'alice']),
      cli(['users', 'show', 'ALICE@example.com', '--json']),
      cli(['users', 'show', alice.id, '--json']),
    ]);
    assert.equal(byLogin.code, 0, byLogin.stderr);
    for (const line of [
      /^login:\s+alice$/m,
      new RegExp(`^id:\\s+${alice.id}$`, 'm'),
      /^emails:\s+alice@example\.com \(unverified\)$/m,
      /^groups:\s+it, staff$/m,
      /^admin:\s+no$/m,
      /^status:\s+active$/m,
      /^password:\s+temporary, expires .* UTC, must be changed at the next sign-in$/m,
      /^failed sign-ins:\s+0$/m,
      /^locked:\s+no$/m,
      /^live sessions:\s+0$/m,
      /^created:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m,
    ]) {
      assert.match(byLogin.stdout, line);
    }
    assert.equal(byEmail.code, 0, byEmail.stderr);
    assert.equal(byEmail.stdout, byId.stdout);
    const view = JSON.parse(byEmail.stdout) as Record<string, any>;
    assert.equal(view.id, alice.id);
    assert.deepEqual(view.password, {
      set: true,
      temporary: true,
      expiresAt: new Date(alice.passwordExpiresAt!).toISOString(),
      mustChange: true,
    });
    assert.deepEqual(view.signIn, { failures: 0, locked: false, lockedUntilAdminUnlock: false, retryAfterSeconds: null });
    assert.equal(view.sessions, 0);
    for (const out of [byLogin.stdout, byEmail.stdout]) assert.doesNotMatch(out, /argon2|passwordHash/);
  });

  it('disables and enables a user', async () => {
    const before = await mustFind('bob');
    const disable = await cli(['users', 'disable', 'bob']);
    assert.equal(disable.code, 0, disable.stderr);
    assert.match(disable.stdout, /^Disabled bob/);
    const disabled = await mustFind('bob');
    assert.equal(disabled.status, 'disabled');
    assert.ok(disabled.notBefore > before.notBefore, 'disabling ends sessions');
    assert.equal((await services.accounts.authenticate('bob', GOOD_PASSWORD, IP)).outcome, 'failed');

    const [enable, again] = [await cli(['users', 'enable', 'bob']), await cli(['users', 'enable', 'bob'])];
    assert.equal(enable.code, 0, enable.stderr);
    assert.match(enable.stdout, /^Enabled bob\.$/m);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already enabled/);
    assert.equal((await mustFind('bob')).status, 'active');
    assert.equal((await services.accounts.authenticate('bob', GOOD_PASSWORD, IP)).outcome, 'ok');
  });

  it('replaces and clears groups, and refuses an ambiguous request', async () => {
    const set = await cli(['users', 'groups', 'alice', 'sales', 'Help Desk']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^alice groups: Help Desk, sales$/m);
    assert.deepEqual((await mustFind('alice')).groups, ['Help Desk', 'sales']);

    const [clear, neither, both] = await Promise.all([
      cli(['users', 'groups', 'alice', '--clear']),
      cli(['users', 'groups', 'bob']),
      cli(['users', 'groups', 'bob', 'x', '--clear']),
    ]);
    assert.equal(clear.code, 0, clear.stderr);
    assert.match(clear.stdout, /alice groups: \(none\)/);
    assert.deepEqual((await mustFind('alice')).groups, []);
    assertFailed(neither, /at least one group, or --clear/);
    assertFailed(both, /not both/);
    assert.deepEqual((await mustFind('bob')).groups, []);
  });

  it('sets and removes the admin flag', async () => {
    const [on, noFlag] = await Promise.all([cli(['users', 'admin', 'alice', '--on']), cli(['users', 'admin', 'alice'])]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /alice is now an admin/);
    assertFailed(noFlag, /exactly one of --on or --off/);
    assert.equal((await mustFind('alice')).admin, true);
    const off = await cli(['users', 'admin', 'alice', '--off']);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /alice is no longer an admin/);
    assert.equal((await mustFind('alice')).admin, false);
  });

  it('shows a lockout after failed sign-ins and unlocks it', async () => {
    await services.accounts.create({ login: 'erin', password: GOOD_PASSWORD });
    const erin = await mustFind('erin');
    for (let i = 0; i < 3; i += 1) await services.accounts.authenticate('erin', 'wrong password!!', IP);
    assert.equal((await services.accounts.lockState(erin.id)).locked, true);
    assert.equal((await services.accounts.authenticate('erin', GOOD_PASSWORD, IP)).outcome, 'locked');

    const show = await cli(['users', 'show', 'erin']);
    assert.match(show.stdout, /^failed sign-ins:\s+3$/m);
    assert.match(show.stdout, /^locked:\s+yes, for \d+ more seconds$/m);

    const unlock = await cli(['users', 'unlock', 'erin']);
    assert.equal(unlock.code, 0, unlock.stderr);
    assert.match(unlock.stdout, /Unlocked erin: cleared 3 failed sign-ins\./);
    assert.equal(await services.accounts.failures(erin.id), 0);
    assert.deepEqual(await services.accounts.lockState(erin.id), { locked: false });
    assert.equal((await services.accounts.authenticate('erin', GOOD_PASSWORD, IP)).outcome, 'ok');
  });

  it('signs a user out everywhere', async () => {
    const erin = await mustFind('erin');
    const expires = Date.now() + 3600_000;
    await services.store.oidc.upsert('Session', 'sess-1', { accountId: erin.id }, expires, { accountId: erin.id });
    await services.store.oidc.upsert('Grant', 'grant-1', { accountId: erin.id }, expires, { accountId: erin.id, grantId: 'grant-1' });
    await services.store.oidc.upsert('RefreshToken', 'rt-1', { accountId: erin.id }, expires, { accountId: erin.id, grantId: 'grant-1' });
    const show = await cli(['users', 'show', 'erin']);
    assert.match(show.stdout, /^live sessions:\s+1$/m);

    const run = await cli(['users', 'sign-out', 'erin']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Signed erin out everywhere: 3 removed \(1 session, 1 grant, 1 token or code\)\./);
    assert.match(run.stdout, /issued before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC is refused/);
    assert.equal(await services.store.oidc.countByAccount('Session', erin.id), 0);
    assert.equal(await services.store.oidc.find('RefreshToken', 'rt-1'), undefined);
    assert.ok((await mustFind('erin')).notBefore > erin.notBefore, 'notBefore moves forward');
  });

  it('signs every user out everywhere with --all, only with --yes; one audit event', async () => {
    const [erin, bob] = [await mustFind('erin'), await mustFind('bob')];
    const expires = Date.now() + 3600_000;
    await services.store.oidc.upsert('Session', 'all-sess-erin', { accountId: erin.id }, expires, { accountId: erin.id });
    await services.store.oidc.upsert('Session', 'all-sess-bob', { accountId: bob.id }, expires, { accountId: bob.id });
    await services.store.oidc.upsert('RefreshToken', 'all-rt-bob', { accountId: bob.id }, expires, { accountId: bob.id, grantId: 'all-grant-bob' });

    const refused = await cli(['users', 'sign-out', '--all']);
    assertFailed(refused, /--all signs every user out everywhere; add --yes to confirm/);
    assert.equal(await services.store.oidc.countByAccount('Session', erin.id), 1, 'nothing ends without --yes');
    assert.equal(await services.store.oidc.countByAccount('Session', bob.id), 1);
    assertFailed(await cli(['users', 'sign-out', 'erin', '--all', '--yes']), /give a user or --all, not both/);
    assertFailed(await cli(['users', 'sign-out']), /give a user, or --all --yes/);

    const accounts = (await services.store.accounts.list({ offset: 0, limit: 10_000 })).length;
    const run = await cli(['users', 'sign-out', '--all', '--yes']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Signed every user out everywhere: ${accounts} accounts, 2 sessions ended, 3 removed`));
    assert.equal(await services.store.oidc.countByAccount('Session', erin.id), 0);
    assert.equal(await services.store.oidc.countByAccount('Session', bob.id), 0);
    assert.equal(await services.store.oidc.find('RefreshToken', 'all-rt-bob'), undefined);
    assert.ok((await mustFind('erin')).notBefore > erin.notBefore, 'erin: notBefore moves forward');
    assert.ok((await mustFind('bob')).notBefore > bob.notBefore, 'bob: notBefore moves forward');
    const events = (await services.audit.recent({ limit: 200 })).filter((e) => e.type === 'admin.users.signed_out_all');
    assert.equal(events.length, 1, 'one audit event');
    assert.equal(events[0]!.actor, 'cli');
    assert.deepEqual(events[0]!.details, { accounts, sessions: 2, removed: 3 });
  });

  it('issues a new temporary password, printed once; the old password stops working', async () => {
    const before = await mustFind('bob');
    const run = await cli(['users', 'temp-password', 'bob']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /must change it at the next sign-in/);
    const password = temporaryPasswordOf(run);
    assert.equal((await services.accounts.authenticate('bob', GOOD_PASSWORD, IP)).outcome, 'failed');
    const signin = await services.accounts.authenticate('bob', password, IP);
    assert.equal(signin.outcome, 'ok');
    assert.equal(signin.outcome === 'ok' && signin.mustChangePassword, true);
    assert.ok((await mustFind('bob')).notBefore > before.notBefore, 'old sessions end');
  });

  it('stops on a bad configuration with exit code 2 and one line naming the variable', async () => {
    const [port, minLength] = await Promise.all([
      cli(['users', 'list'], { env: { PORT: 'abc' } }),
      cli(['users', 'create', 'zed'], { env: { PASSWORD_MIN_LENGTH: '3' } }),
    ]);
    for (const run of [port, minLength]) {
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stdout, '');
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line: ${run.stderr}`);
      assert.ok(!run.stderr.includes('at '), `no stack trace: ${run.stderr}`);
    }
    assert.match(port.stderr, /^PORT="abc" is invalid; allowed: integer 0–65535/);
    assert.match(minLength.stderr, /^PASSWORD_MIN_LENGTH=/);
    assert.equal(await find('zed'), undefined);
  });
});
