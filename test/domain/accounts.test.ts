import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../adapters/store/sqlite/index.ts';
import { Accounts } from '../../src/domain/accounts.ts';
import { PasswordHasher } from '../../src/domain/password-hasher.ts';
import { PasswordRules, commonPasswordCount } from '../../src/domain/password-rules.ts';
import { SigninLimits } from '../../src/domain/signin-limits.ts';
import { Hmac } from '../../src/domain/secrets.ts';
import type { Store } from '../../src/store/types.ts';

/** Counts argon2 verifications, the cost that must not depend on whether an account exists. */
class CountingHasher extends PasswordHasher {
  verifications = 0;
  override async verify(hash: string, password: string): Promise<boolean> {
    this.verifications += 1;
    return super.verify(hash, password);
  }
}

describe('accounts domain', () => {
  let dir: string;
  let store: Store;
  let hasher: CountingHasher;
  let accounts: Accounts;
  const now = Date.UTC(2026, 10, 1);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-accounts-'));
    store = openSqliteStore({ file: join(dir, 'db.sqlite'), clock: () => now });
    hasher = new CountingHasher({ memoryCost: 7168, timeCost: 2, parallelism: 1 });
    const limits = new SigninLimits(store, { threshold: 10, baseSeconds: 60, maxSeconds: 3600, hardLimit: 100, ipMaxFailures: 1000, ipWindowSeconds: 900 }, () => now);
    accounts = new Accounts(store, hasher, new PasswordRules({ minLength: 15, maxLength: 256 }, hasher), limits, new Hmac(['k'.repeat(32)]), () => now, {
      temporaryPasswordTtlMs: 3600_000,
      historySize: 5,
    });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('spends exactly one argon2 verify on known, unknown, disabled and password-less accounts alike', async () => {
    await accounts.create({ login: 'known', email: 'known@example.com', password: 'mossy-granite-path-winds' });
    const { account: off } = await accounts.create({ login: 'off', password: 'mossy-granite-path-winds' });
    await accounts.setStatus(off.id, 'disabled');
    await accounts.create({ login: 'imported', noPassword: true });
    for (const identifier of ['known', 'nobody', 'off', 'imported', 'nobody@example.com']) {
      const before = hasher.verifications;
      const r = await accounts.authenticate(identifier, 'mossy-granite-path-winds-x', '192.0.2.1');
      assert.equal(r.outcome, 'failed', identifier);
      assert.equal(hasher.verifications - before, 1, `${identifier}: one verify`);
    }
    const ok = await accounts.authenticate('known', 'mossy-granite-path-winds', '192.0.2.1');
    assert.equal(ok.outcome, 'ok');
  });

  it('normalizes logins and emails (case, width, spaces) and keeps them unique', async () => {
    const { account } = await accounts.create({ login: ' Ｌｉｎ ', email: 'LIN@Example.COM', password: 'velvet-thunder-orchard-9' });
    assert.equal(account.login, 'lin');
    assert.equal((await accounts.findByIdentifier('LIN'))?.id, account.id);
    assert.equal((await accounts.findByIdentifier(' lin@example.com '))?.id, account.id);
    await assert.rejects(accounts.create({ login: 'lin', password: 'velvet-thunder-orchard-9' }), /taken/);
    await assert.rejects(accounts.create({ login: 'other', email: 'lin@example.com', password: 'velvet-thunder-orchard-9' }), /taken/);
    await assert.rejects(accounts.create({ login: 'bad login!' }), /login .* is invalid/);
    await assert.rejects(accounts.create({ login: 'x1', email: 'not-an-email' }), /email .* is invalid/);
  });

  it('stores only argon2id hashes, keeps the last N for history and refuses reuse', async () => {
    const { account } = await accounts.create({ login: 'hist', password: 'first-long-passphrase-01' });
    const stored = (await accounts.get(account.id))!;
    assert.match(stored.passwordHash!, /^\$argon2id\$v=19\$m=7168,p=1,t=2\$/);
    assert.doesNotMatch(JSON.stringify(stored), /first-long-passphrase/);
    assert.equal(await accounts.changePassword(account.id, 'second-long-passphrase-02', { signOutEverywhere: false }), undefined);
    assert.equal(await accounts.changePassword(account.id, 'first-long-passphrase-01', { signOutEverywhere: false }), 'password_reused');
    assert.equal(await accounts.changePassword(account.id, 'second-long-passphrase-02', { signOutEverywhere: false }), 'password_reused');
    const after = (await accounts.get(account.id))!;
    assert.equal(after.passwordHistory.length, 1);
  });

  it('counts and accepts long passwords by characters after NFKC, never truncating', async () => {
    const { account } = await accounts.create({ login: 'uni', password: 'ｆｕｌｌｗｉｄｔｈ-passphrase' });
    assert.equal((await accounts.authenticate('uni', 'fullwidth-passphrase', '192.0.2.2')).outcome, 'ok', 'NFKC: full-width equals ASCII');
    const long = `${'p'.repeat(200)}-tail-one`;
    await accounts.changePassword(account.id, long, { signOutEverywhere: false });
    assert.equal((await accounts.authenticate('uni', `${'p'.repeat(200)}-tail-two`, '192.0.2.2')).outcome, 'failed', 'the end of a long password counts');
  });

  it('has a blocklist of at least 10,000 common passwords', () => {
    assert.ok(commonPasswordCount() >= 10_000, String(commonPasswordCount()));
  });
});

describe('account ids', () => {
  it('never start with "-" or "_", so an admin can pass any id to the CLI', async () => {
    const { accountId } = await import('../../src/domain/secrets.ts');
    const ids = Array.from({ length: 5000 }, () => accountId());
    assert.deepEqual(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_-]{15}$/.test(id)), []);
    assert.equal(new Set(ids).size, ids.length);
  });
});
