/**
 * WEB_CONCURRENCY: one rekey process as the primary of several workers (node:cluster) on the
 * port and the store; sign-ins complete whichever worker serves each request, SIGTERM stops
 * them all, and a worker that cannot start stops the whole server with its exit code.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { createServices } from '../../src/services.ts';
import { ROOT } from '../support/cli.ts';
import { freePort } from '../support/redis.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { sharedRekeyEnv } from '../support/rekey-process.ts';

const PASSWORD = 'copper-kettle-sings-twice';

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const argv0 = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0];
      // Workers run the same node binary (tsx may have an esbuild helper child too).
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid && argv0 === process.execPath) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not exit in time')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('WEB_CONCURRENCY: several worker processes on one port and store', function () {
  this.timeout(90_000);
  let dir: string;
  let env: Record<string, string>;
  let port: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-workers-'));
    port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    env = sharedRekeyEnv(dir, issuer, { PORT: String(port), DATA_DIR: dir, WEB_CONCURRENCY: '2' });
    const services = await createServices(parseConfig(env));
    await services.accounts.create({ login: 'wren', email: 'wren@example.com', password: PASSWORD });
    await services.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function start(extra: Record<string, string> = {}): ChildProcess {
    return spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  it('serves sign-ins from two workers on the SQLite store, and SIGTERM stops them all', async () => {
    const server = start();
    try {
      const url = env.ISSUER!;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
        if (ok && childrenOf(server.pid!).length === 2) break;
        if (Date.now() > deadline) throw new Error('the workers did not become ready');
        await new Promise((r) => setTimeout(r, 100));
      }
      const workers = childrenOf(server.pid!);
      assert.equal(workers.length, 2, 'two worker processes');
      const rp = await RelyingParty.discover(url, `${url}/test-rp/callback`);
      for (let i = 0; i < 4; i += 1) {
        const browser = new Browser(url);
        const flow = await rp.start();
        const page = await browser.open(flow.url.toString(), `${url}/test-rp/callback`);
        assert.equal(page.status, 200, page.text.slice(0, 300));
        const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'wren', password: PASSWORD }, `${url}/test-rp/callback`);
        assert.ok(done.location?.startsWith(`${url}/test-rp/callback`), `${done.status} ${done.text.slice(0, 300)}`);
        const tokens = await rp.finish(flow, done.location!);
        assert.equal(tokens.claims()!.email, 'wren@example.com');
        assert.ok((await rp.refresh(tokens.refresh_token!)).access_token);
      }
      server.kill('SIGTERM');
      assert.equal(await exited(server, 20_000), 0);
      for (const pid of workers) assert.throws(() => process.kill(pid, 0), 'the worker is gone');
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('stops with the workers\' exit code when they cannot listen (the port is taken)', async () => {
    const taken: Server = createServer();
    const busy = await freePort();
    await new Promise<void>((resolve) => taken.listen(busy, '127.0.0.1', resolve));
    const server = start({ PORT: String(busy) });
    let stderr = '';
    server.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      assert.equal(await exited(server, 30_000), 2, stderr);
      assert.match(stderr, /PORT is already in use/);
    } finally {
      server.kill('SIGKILL');
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
