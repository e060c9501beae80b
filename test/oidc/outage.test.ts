/**
 * Redis outages as users and operators see them: a clear 503 while Redis is gone, nothing
 * half-written, and service back without a restart; at start-up, one clear line and exit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ROOT } from '../support/cli.ts';
import { freePort, startRedisServer, type RedisProcess } from '../support/redis.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

const PASSWORD = 'lunar-meadow-frost-sings';

describe('Redis outage', function () {
  this.timeout(60_000);
  let redis: RedisProcess;
  let t: TestApp;
  let rp: RelyingParty;

  before(async () => {
    redis = await startRedisServer();
    t = await startTestApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'outage-test:' });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    await t.services.accounts.create({ login: 'olga', email: 'olga@example.com', password: PASSWORD });
  });
  after(async () => {
    await t?.close();
    await redis?.stop();
  });

  async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('answers 503 with a clear page while Redis is down, changes nothing, and recovers without restart', async () => {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    assert.equal(page.status, 200);

    await redis.stop();

    const ready = await browser.get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.text, /unavailable/);

    const started = Date.now();
    const submit = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'olga', password: 'wrong-password-during-outage' });
    assert.equal(submit.status, 503, submit.text.slice(0, 300));
    assert.match(submit.text, /temporarily unavailable/);
    assert.doesNotMatch(submit.text, /ECONNREFUSED|ioredis|at .*\.ts:\d+/, 'no internals leak');
    assert.ok(Date.now() - started < 5_000, 'the error comes fast, not after retries');

    const fresh = await rp.start();
    const auth = await new Browser(t.url).open(fresh.url.toString(), t.redirectUri);
    // The authorization endpoint answers the client the OAuth way, which tells its user.
    assert.match(auth.location ?? '', /error=temporarily_unavailable/, `${auth.status} ${auth.location}`);

    // Back up on the same port: the same process serves again.
    redis = await startRedisServer({ port: redis.port });
    await until(async () => (await browser.get('/readyz')).status === 200);
    await t.services.accounts.create({ login: 'olga', email: 'olga@example.com', password: PASSWORD }).catch(() => undefined);
    const again = await rp.start();
    const b2 = new Browser(t.url);
    const p2 = await b2.open(again.url.toString(), t.redirectUri);
    assert.equal(p2.status, 200);
    const done = await b2.submit(p2, formAction(p2.text, '/password'), { identifier: 'olga', password: PASSWORD }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), `signs in after recovery: ${done.status}`);
    const olga = (await t.services.accounts.findByIdentifier('olga'))!;
    assert.equal(await t.services.accounts.failures(olga.id), 0, 'the failed attempt during the outage was not half-recorded');
  });

  it('refuses to start when Redis is unreachable, with one clear line and a non-zero exit', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'silent', PORT: String(await freePort()), REDIS_URL: `redis://:s3cret@127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.notEqual(code, 0);
    const lines = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('oidc-provider WARNING'));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /REDIS_URL/);
    assert.doesNotMatch(stderr, /s3cret/, 'the password is never printed');
    assert.doesNotMatch(stderr, /^\s+at /m);
  });
});
