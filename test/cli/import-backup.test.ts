import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';
import { parseJwks } from '../../src/keys.ts';
import { parseConfig } from '../../src/config/load.ts';
import { FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';

describe('rekey CLI: CSV import, backup and restore, keys', function () {
  this.timeout(120_000);
  let t: TestApp;
  let env: Record<string, string>;

  before(async () => {
    // The server runs on the same DATA_DIR the CLI uses, as in production.
    t = await startTestApp();
    env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', DEMO: 'false', ...FAST_ARGON2 };
  });
  after(() => t.close());

  it('imports thousands of users, skips and lists bad rows with their line, keeps good rows, sets no password', async () => {
    const lines = ['login,email,name,groups,admin'];
    for (let i = 0; i < 2000; i += 1) lines.push(`user${i},user${i}@example.com,User ${i},staff;pilot,false`);
    lines.push('bad login!,x@example.com,,,');
    lines.push('user5,dup@example.com,,,');
    lines.push('zoe,user7@example.com,,,');
    lines.push('amy,amy@example.com,"Amy, Admin",it,maybe');
    lines.push('ann,ann@example.com,Ann,,true');
    const file = join(t.dataDir, 'people.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);

    const dry = await runCli(['users', 'import', file, '--dry-run'], env);
    assert.equal(dry.code, 1, dry.stderr);
    assert.match(dry.stdout, /Would create 2001 user\(s\); 4 row\(s\) failed\./);
    assert.equal(await t.services.store.accounts.count(), 0, 'a dry run creates nothing');

    const run = await runCli(['users', 'import', file], env);
    assert.equal(run.code, 1, 'some rows failed');
    assert.match(run.stdout, /Created 2001 user\(s\); 4 row\(s\) failed\./);
    assert.match(run.stdout, /line 2002 \(bad login!\): login "bad login!" is invalid/);
    assert.match(run.stdout, /line 2003 \(user5\): the same login appears earlier in the file/);
    assert.match(run.stdout, /line 2004 \(zoe\): the same email appears earlier in the file/);
    assert.match(run.stdout, /line 2005 \(amy\): admin "maybe" is invalid/);
    assert.match(run.stderr, /2005\/2005 rows/, 'a progress bar reports on stderr');

    assert.equal(await t.services.store.accounts.count(), 2001);
    const u = (await t.services.accounts.findByIdentifier('user1999'))!;
    assert.deepEqual(u.groups, ['pilot', 'staff']);
    assert.equal(u.passwordHash, undefined, 'imported users get no password until invited');
    assert.equal(u.mustChangePassword, false);
    assert.equal((await t.services.accounts.findByIdentifier('ann'))!.admin, true);
    assert.equal(await t.services.accounts.findByIdentifier('zoe'), undefined);
  });

  it('refuses a file with a password column, or an unknown column, creating nothing', async () => {
    const before = await t.services.store.accounts.count();
    const withPw = join(t.dataDir, 'pw.csv');
    writeFileSync(withPw, 'login,email,password\neve,eve@example.com,hunter2hunter2\n');
    const r1 = await runCli(['users', 'import', withPw], env);
    assert.equal(r1.code, 1, r1.stderr);
    assert.match(r1.stderr, /column "password" refused: CSV imports never carry passwords/);
    const unknown = join(t.dataDir, 'unknown.csv');
    writeFileSync(unknown, 'login,phone\neve,123\n');
    const r2 = await runCli(['users', 'import', unknown], env);
    assert.match(r2.stderr, /unknown column "phone"; allowed columns: login, email, name, groups, admin/);
    assert.equal(await t.services.store.accounts.count(), before);
    const missing = await runCli(['users', 'import', join(t.dataDir, 'nope.csv')], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read/);
  });

  it('backs up the live store while the server runs, and a restore is seen by the running server', async () => {
    await t.services.accounts.create({ login: 'kept', password: 'amber-willow-creek-flows' });
    const file = join(t.dataDir, 'backup.sqlite');
    const backup = await runCli(['backup', file], env);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /Backup written to .*backup\.sqlite \(\d+ account\(s\)/);
    assert.equal((await runCli(['backup', file], env)).code, 1, 'an existing file is never overwritten');

    await t.services.accounts.create({ login: 'later', password: 'amber-willow-creek-flows' });
    const refused = await runCli(['restore', file], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--yes/);
    assert.ok(await t.services.accounts.findByIdentifier('later'), 'nothing restored without --yes');

    const restored = await runCli(['restore', file, '--yes'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(await t.services.accounts.findByIdentifier('later'), undefined, 'the running server sees the restored data');
    assert.ok(await t.services.accounts.findByIdentifier('kept'));
    assert.equal((await t.services.accounts.authenticate('kept', 'amber-willow-creek-flows', '127.0.0.1')).outcome, 'ok');

    const junk = join(t.dataDir, 'junk.sqlite');
    writeFileSync(junk, 'not a database at all');
    const bad = await runCli(['restore', junk, '--yes'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a rekey database/);
    assert.ok(await t.services.accounts.findByIdentifier('kept'), 'a bad backup changes nothing');

    const redis = await runCli(['backup', join(t.dataDir, 'x.sqlite')], { ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(redis.code, 1);
    assert.match(redis.stderr, /the store is Redis/);
  });

  it('generates a JWK Set that rekey accepts, rotates with the new key first, and random secrets', async () => {
    const first = await runCli(['keys', 'jwks'], env);
    assert.equal(first.code, 0, first.stderr);
    const set = parseJwks(first.stdout);
    assert.equal(set.keys.length, 1);
    const file = join(t.dataDir, 'jwks.json');
    writeFileSync(file, first.stdout);
    const rotated = parseJwks((await runCli(['keys', 'jwks', '--rotate', file], env)).stdout);
    assert.equal(rotated.keys.length, 2);
    assert.equal(rotated.keys[1]!.kid, set.keys[0]!.kid, 'the old key follows the new one');
    assert.notEqual(rotated.keys[0]!.kid, set.keys[0]!.kid);
    const secret = (await runCli(['keys', 'secret'], env)).stdout.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.doesNotThrow(() => parseConfig({ COOKIE_KEYS: secret, HMAC_KEYS: secret, JWKS: first.stdout }));
  });
});
