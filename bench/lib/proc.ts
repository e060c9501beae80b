/**
 * Child processes of the benchmark (servers, redis-server, hash probes): spawned here, always
 * stopped on exit, Ctrl-C or a crash; their CPU time and RSS read from /proc (Linux).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set<ChildProcess>();

function killAll(signal: NodeJS.Signals): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  }
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping child processes\n`);
      killAll('SIGTERM');
      setTimeout(() => process.exit(130), 300).unref();
    });
  }
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The last lines it wrote to stderr/stdout (for error messages). */
  tail(): string;
  stop(): Promise<void>;
}

export function startChild(command: string, args: string[], env: Record<string, string>, options: { inheritEnv?: boolean } = {}): Child {
  hookExit();
  const base: Record<string, string> = options.inheritEnv ? (process.env as Record<string, string>) : { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  const proc = spawn(command, args, { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.once('exit', () => children.delete(proc));
  return {
    proc,
    pid: proc.pid!,
    tail: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `node --import tsx <script>`: one process (no tsx wrapper), so its /proc figures are the script's. */
export function startTsx(script: string, env: Record<string, string>, nodeArgs: string[] = []): Child {
  return startChild(process.execPath, [...nodeArgs, '--import', 'tsx', script], env);
}

const BUILD = join(ROOT, 'test-artifacts/bench-build');
let compiled = false;

/**
 * Compiles the server (and the baseline) the way `npm run build` does, into
 * test-artifacts/bench-build: servers then run as `node dist/…/*.js`, as in production (no
 * TypeScript loader in the process, whose own thread and heap would add to CPU and RSS).
 * Returns false (servers then run under tsx) when the compiler refuses the tree.
 */
export function buildServers(root = ROOT, build = BUILD): { ok: boolean; message?: string } {
  const isMain = root === ROOT && build === BUILD;
  rmSync(build, { recursive: true, force: true });
  mkdirSync(join(build, 'docs'), { recursive: true });
  writeFileSync(
    join(build, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: { outDir: './dist', rootDir: root },
      include: [join(root, 'src'), join(root, 'interactions'), join(root, 'adapters'), join(root, 'bench/baseline-server.ts')],
    }),
  );
  try {
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(build, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    if (isMain) compiled = false;
    const out = `${(e as { stdout?: Buffer }).stdout?.toString() ?? ''}${(e as { stderr?: Buffer }).stderr?.toString() ?? ''}`;
    return { ok: false, message: out.split('\n').slice(0, 5).join('\n') };
  }
  cpSync(join(root, 'interactions/assets'), join(build, 'dist/interactions/assets'), { recursive: true });
  cpSync(join(root, 'docs/openapi.json'), join(build, 'docs/openapi.json'));
  if (isMain) compiled = true;
  return { ok: true };
}

/** A script of a tree compiled by `buildServers(root, build)`. */
export function startBuilt(build: string, script: string, env: Record<string, string>): Child {
  return startChild(process.execPath, [join(build, 'dist', script.replace(/\.ts$/, '.js'))], env);
}

export function serversCompiled(): boolean {
  return compiled;
}

/** A server script (`src/server.ts`, `bench/baseline-server.ts`): compiled when built, else under tsx. */
export function startScript(script: string, env: Record<string, string>, nodeArgs: string[] = []): Child {
  if (!compiled) return startTsx(script, env, nodeArgs);
  return startChild(process.execPath, [...nodeArgs, join(BUILD, 'dist', script.replace(/\.ts$/, '.js'))], env);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(`${what}: the process exited (${child.proc.exitCode ?? child.proc.signalCode}):\n${child.tail()}`);
    }
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs} ms${child ? `:\n${child.tail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** User + system CPU time of one process (all its threads), in ms; 0 when it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / clockTicks();
  } catch {
    return 0;
  }
}

/** CPU time (ms) of every thread of a process, by thread id. */
export function threadCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks());
    } catch {
      /* thread ended */
    }
  }
  return out;
}

/** Summed CPU time (ms) of several processes. */
export function cpuMs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
}

/** Resident set size in MB (VmRSS), or 0 when the process is gone. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Direct children of a process running the same node binary (cluster workers). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0] === process.execPath) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Samples the RSS of processes every `everyMs` until stopped; returns the peak per pid (MB). */
export function rssSampler(pids: readonly number[], everyMs = 250): { stop(): Map<number, number> } {
  const peak = new Map<number, number>(pids.map((p) => [p, rssMb(p)]));
  const timer = setInterval(() => {
    for (const p of pids) peak.set(p, Math.max(peak.get(p) ?? 0, rssMb(p)));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      for (const p of pids) peak.set(p, Math.max(peak.get(p) ?? 0, rssMb(p)));
      return peak;
    },
  };
}
