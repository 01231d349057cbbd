// Long-running helper processes for tests (kube-apiserver, etcd, …) that can never outlive the test process.
//
// Three layers make sure nothing is left behind:
//  1. each child runs in its own process group (detached), and stop() signals the whole group;
//  2. a synchronous process.on('exit') hook SIGKILLs every group still alive (a test that forgot stop());
//  3. each child is started through `setpriv --pdeathsig KILL`, so the kernel SIGKILLs it when this process dies
//     in a way no JavaScript can observe (SIGKILL, OOM kill, a crashed test runner).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** set when the process could not be spawned at all (e.g. ENOENT) */
  readonly error?: Error;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** resolves once the process has exited (never rejects) */
  readonly exited: Promise<ExitStatus>;
  /** undefined while the process runs */
  exitStatus(): ExitStatus | undefined;
  /** SIGTERM to the process group, SIGKILL after graceMs; resolves when the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartProcessOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended to this file */
  readonly logPath: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv'];
let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath === undefined) setprivPath = SETPRIV_CANDIDATES.find((p) => existsSync(p)) ?? null;
  return setprivPath;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroupSync(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** SIGKILLs every managed process group still alive. Synchronous; safe to call from an 'exit' handler. */
export function killAllManagedProcessesSync(): void {
  for (const child of live) killGroupSync(child, 'SIGKILL');
  live.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAllManagedProcessesSync);
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
export function logTail(path: string, lines = 40): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

/** True if a process with this pid exists (a zombie counts as existing). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Environment for servers: no HTTP proxy settings leak into loopback-only test servers. */
export function serverEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(https?|all|no)_proxy$/i.test(key)) delete env[key];
  }
  return { ...env, ...extra };
}

/** Resolves true when `p` settles within `ms`, false otherwise; leaves no timer behind. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export function startProcess(opts: StartProcessOptions): ManagedProcess {
  installExitHook();
  const fd = openSync(opts.logPath, 'a');
  const setpriv = findSetpriv();
  const [command, args] = setpriv
    ? [setpriv, ['--pdeathsig', 'KILL', '--', opts.command, ...opts.args]]
    : [opts.command, [...opts.args]];
  writeSync(fd, `\n=== ${new Date().toISOString()} starting ${opts.name}: ${[command, ...args].join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      detached: true, // own process group (setsid), so stop() can signal the whole group
      stdio: ['ignore', fd, fd],
      env: opts.env ?? serverEnv(),
      cwd: opts.cwd,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  // Do not keep the event loop alive for the child: a test that forgets stop() must still end, and then the
  // 'exit' hook kills the group.
  child.unref();
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      live.delete(child);
      resolve(status);
    });
    child.once('error', (error) => {
      if (child.pid !== undefined) return; // errors after a successful spawn (e.g. kill failures) are not exits
      status = { code: null, signal: null, error };
      live.delete(child);
      resolve(status);
    });
  });
  if (child.pid !== undefined) live.add(child);
  const pid = child.pid ?? -1;

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10_000): Promise<void> => {
    stopping ??= (async () => {
      if (status === undefined) {
        killGroupSync(child, 'SIGTERM');
        if (!(await settlesWithin(exited, graceMs))) {
          killGroupSync(child, 'SIGKILL');
          if (!(await settlesWithin(exited, 10_000))) throw new Error(`${opts.name} (pid ${pid}) did not exit after SIGKILL`);
        }
      }
      // Anything else that might have joined the group goes too.
      killGroupSync(child, 'SIGKILL');
      live.delete(child);
    })();
    return stopping;
  };

  return {
    name: opts.name,
    pid,
    logPath: opts.logPath,
    exited,
    exitStatus: () => status,
    stop,
  };
}

export function describeExit(s: ExitStatus): string {
  if (s.error) return `could not be started: ${s.error.message}`;
  return s.signal ? `was killed by ${s.signal}` : `exited with code ${String(s.code)}`;
}
