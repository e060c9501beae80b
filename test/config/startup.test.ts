/**
 * `npm start` as an operator runs it: `node --import tsx src/server.ts` in a child process.
 * Bad configuration exits with code 2 and one line on stderr (no stack trace); a good
 * development configuration serves /healthz and /readyz, keeps its generated keys across
 * restarts and stops cleanly on SIGTERM.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settings } from '../../src/config/schema.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_NAMES = new Set(Object.keys(settings).flatMap((name) => [name, `${name}_FILE`]));

interface Server {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal) once the process has exited and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

/** The parent's environment without any rekey setting, so nothing leaks in from the shell running the tests. */
function cleanEnv(dataDir: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (CONFIG_NAMES.has(k) || /^REKEY/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '0', ...extra };
}

function startServer(dataDir: string, extra: Record<string, string> = {}): Server {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: cleanEnv(dataDir, extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}
// Also when mocha stops early (--exit, bail): no server outlives the test run.
process.once('exit', killAll);

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Polls /healthz until it answers 200; fails early with the output if the process exits. */
async function waitUntilHealthy(server: Server, port: number, ms = 20_000): Promise<void> {
  let exit: { code: number | null } | undefined;
  void server.exited.then((e) => (exit = e));
  const deadline = Date.now() + ms;
  for (;;) {
    if (exit) assert.fail(`server exited with ${exit.code} before it was healthy:\n${server.stdout()}\n${server.stderr()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) assert.fail(`no 200 from /healthz within ${ms} ms:\n${server.stdout()}\n${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** stderr lines that matter (oidc-provider warns about the Node version on Node 20). */
function stderrLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('oidc-provider WARNING'));
}

function devKid(dataDir: string): string {
  const keys = JSON.parse(readFileSync(join(dataDir, 'dev-keys.json'), 'utf8')) as { jwks: { keys: { kid: string }[] } };
  return keys.jwks.keys[0]!.kid;
}

async function servedKids(port: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/jwks`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { keys: { kid: string; d?: string }[] };
  for (const k of body.keys) assert.equal(k.d, undefined, 'the JWKS endpoint serves public keys only');
  return body.keys.map((k) => k.kid);
}

describe('starting the server', function () {
  this.timeout(30_000);
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'rekey-start-'));
    dirs.push(d);
    return d;
  };

  after(function () {
    killAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  describe('with a bad configuration exits with code 2 and one line naming the variable', function () {
    interface Refusal {
      code: number | null;
      stdout: string;
      stderr: string;
      dataDir: string;
    }
    // The processes run side by side (each spends seconds loading modules); each test checks one.
    const runs = new Map<string, Promise<Refusal>>();
    let clientsFile: string;
    let breachedFile: string;

    function run(extra: Record<string, string>, dataDir = tempDir()): Promise<Refusal> {
      const server = startServer(dataDir, extra);
      return within(server.exited, 25_000, 'exit').then(({ code }) => ({ code, stdout: server.stdout(), stderr: server.stderr(), dataDir }));
    }

    before(function () {
      const clientsDir = tempDir();
      clientsFile = join(clientsDir, 'clients.json');
      writeFileSync(clientsFile, JSON.stringify([{ client_id: 'portal', public: true }]));
      runs.set('port', run({ PORT: 'abc' }));
      runs.set('clients', run({ CLIENTS_FILE: clientsFile }, clientsDir));
      runs.set('production', run({ NODE_ENV: 'production', ISSUER: 'https://id.example.com' }));
      breachedFile = join(clientsDir, 'pwned-passwords.txt');
      writeFileSync(breachedFile, 'password:3861493\r\n123456:37359195\r\n');
      runs.set('breached', run({ BREACHED_PASSWORDS_FILE: breachedFile }));
      // Keep an early rejection from counting as unhandled before its test awaits it.
      for (const r of runs.values()) r.catch(() => undefined);
    });

    async function refusal(which: string): Promise<{ line: string; dataDir: string }> {
      const r = await runs.get(which)!;
      const lines = stderrLines(r.stderr);
      assert.equal(r.code, 2, `exit code; stderr:\n${r.stderr}`);
      assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
      assert.ok(!r.stderr.split('\n').some((l) => /^\s+at /.test(l)), `stack trace on stderr:\n${r.stderr}`);
      assert.doesNotMatch(r.stdout, /demo user:/, 'it must not have started');
      return { line: lines[0]!, dataDir: r.dataDir };
    }

    it('PORT=abc', async function () {
      const { line } = await refusal('port');
      assert.match(line, /PORT="abc" is invalid/);
      assert.match(line, /0–65535/);
    });

    it('CLIENTS_FILE pointing at a malformed file', async function () {
      const { line } = await refusal('clients');
      assert.ok(line.includes(`CLIENTS_FILE=${clientsFile}`), line);
      assert.ok(line.includes('0.redirect_uris'), `the line should name the bad field: ${line}`);
    });

    it('BREACHED_PASSWORDS_FILE pointing at a file that is not a SHA-1 list', async function () {
      const { line } = await refusal('breached');
      assert.ok(line.includes(`BREACHED_PASSWORDS_FILE="${breachedFile}" is invalid`), line);
      assert.match(line, /line 1 is not HEX40:COUNT/);
    });

    it('NODE_ENV=production without keys, writing nothing into DATA_DIR', async function () {
      const { line, dataDir } = await refusal('production');
      assert.match(line, /NODE_ENV=production/);
      assert.match(line, /JWKS/);
      assert.ok(!existsSync(join(dataDir, 'dev-keys.json')), 'production must never generate dev keys');
    });
  });

  describe('with a good development configuration', function () {
    let dataDir: string;
    let firstKid: string;

    before(function () {
      dataDir = tempDir();
    });
    afterEach(killAll);

    it('prints the demo users, becomes healthy and ready on SQLite, stores its keys 0600, and stops with 0 on SIGTERM', async function () {
      const port = await freePort();
      const server = startServer(dataDir, { PORT: String(port) });
      await waitUntilHealthy(server, port);

      assert.match(server.stdout(), /^demo user: alice \/ \S+$/m);
      assert.match(server.stdout(), /^demo user: root \/ \S+$/m);
      assert.ok(server.stdout().includes(`server at http://localhost:${port} (store: sqlite)`), server.stdout());
      assert.deepEqual(stderrLines(server.stderr()), [], 'nothing on stderr');

      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready', store: 'sqlite' });

      const keyFile = join(dataDir, 'dev-keys.json');
      assert.ok(existsSync(keyFile), 'dev keys are generated into DATA_DIR');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'only the owner may read the keys');
      firstKid = devKid(dataDir);
      assert.deepEqual(await servedKids(port), [firstKid], 'the generated key is the one that signs');

      const stoppedAt = Date.now();
      server.child.kill('SIGTERM');
      const { code, signal } = await within(server.exited, 5_000, 'exit after SIGTERM');
      assert.equal(signal, null, 'it exits by itself, not by the signal');
      assert.equal(code, 0, `graceful shutdown exits 0; stderr:\n${server.stderr()}`);
      assert.ok(Date.now() - stoppedAt < 5_000);
    });

    it('a second start on the same DATA_DIR reuses the same keys', async function () {
      assert.ok(firstKid, 'needs the first start to have run');
      const before = readFileSync(join(dataDir, 'dev-keys.json'), 'utf8');
      const port = await freePort();
      const server = startServer(dataDir, { PORT: String(port) });
      await waitUntilHealthy(server, port);

      assert.equal(readFileSync(join(dataDir, 'dev-keys.json'), 'utf8'), before, 'the key file is not rewritten');
      assert.equal(devKid(dataDir), firstKid);
      assert.deepEqual(await servedKids(port), [firstKid], 'relying parties keep verifying with the same kid');
      assert.match(server.stdout(), /^demo user: alice \/ \S+$/m, 'the existing demo users are reused');

      server.child.kill('SIGTERM');
      const { code } = await within(server.exited, 5_000, 'exit after SIGTERM');
      assert.equal(code, 0, `stderr:\n${server.stderr()}`);
    });
  });
});
