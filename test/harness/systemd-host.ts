// A real systemd host for node-agent tests: a cached Debian root filesystem (test/tools/ensure-rootfs.sh) booted
// with `systemd-nspawn --register=no --keep-unit --boot`, acted on through the production Host adapter
// (NsenterHost) pointed at the container's PID 1 instead of the node's.
//
// How one host is laid out (all of it disappears with the processes, whatever kills them):
//
//   setpriv --pdeathsig KILL                    (managed-process: dies with the test process)
//   └─ unshare --pid --fork --kill-child --mount --propagation private
//      └─ sh -c LAUNCH → exec systemd-nspawn     PID 1 of a private PID namespace, in a private mount namespace
//         └─ systemd                              the container's PID 1 (SystemdHost.pid), its own PID namespace
//
// - The writable root is an overlayfs (lower: the cached rootfs, never written; upper: a tmpfs) mounted inside the
//   private mount namespace, so it vanishes with it: nothing to unmount or delete after a SIGKILL, and no test can
//   dirty the cache. From this process the container's files are at /proc/PID/root (SystemdHost.rootDir).
// - systemd-nspawn is PID 1 of an intermediate PID namespace: when it dies for any reason, the kernel SIGKILLs
//   every process in that namespace, the container's included (nspawn itself leaves a container running when it
//   is SIGKILLed). --kill-child makes unshare SIGKILL nspawn when unshare dies, and managed-process's pdeathsig
//   makes unshare die with the test process.
// - When PID 1 of this machine is not systemd (a sandbox) nothing gives nspawn a cgroup of its own, and nspawn
//   with --keep-unit splits the cgroup it runs in into payload/ + supervisor/ — in the ROOT cgroup, where two
//   containers would collide. So each host joins its own cgroup (ssm-test-hosts/NAME in every writable cgroup
//   hierarchy) before nspawn starts; stop() removes it, and the next start sweeps those of dead test processes.
// - /run/systemd/nspawn (nspawn's lock and propagation dirs) is a tmpfs private to the host's mount namespace.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NsenterHost } from '../../node-agent/host/nsenter-host.ts';
import type { CommandResult } from '../../node-agent/host/host.ts';
import { describeExit, logTail, pidAlive, serverEnv, sleep, startProcess, type ManagedProcess } from './managed-process.ts';
import { runSetupScriptOnce } from './setup-script.ts';

export interface SystemdHost {
  /** the machine name, also the container's host name */
  readonly name: string;
  /** PID (in our PID namespace) of the container's systemd, i.e. its PID 1 */
  readonly pid: number;
  /** PID of systemd-nspawn */
  readonly nspawnPid: number;
  /** the container's root directory as seen from this process (/proc/PID/root; its writable layer is a tmpfs) */
  readonly rootDir: string;
  /** the cached, read-only root filesystem this host was booted from (never write here) */
  readonly imageDir: string;
  /** the container's PID namespace, e.g. "pid:[4026532301]" */
  readonly pidNamespace: string;
  /** systemd-nspawn's output (boot messages); removed by stop() */
  readonly logPath: string;
  /** the production Host adapter, pointed at this container's PID 1 */
  readonly host: NsenterHost;
  /** runs a command in the container's namespaces (NsenterHost.run) */
  run(argv: string[], input?: string | Buffer): Promise<CommandResult>;
  /** resolves with the state once `systemctl is-system-running` says running or degraded (bounded) */
  waitForSystemd(timeoutMs?: number): Promise<string>;
  /** PIDs of processes still in the container's PID namespace (empty after stop()) */
  processes(): number[];
  /** halts the container (SIGTERM to nspawn), kills what is left, removes everything; idempotent */
  stop(): Promise<void>;
}

export interface StartSystemdHostOptions {
  /** machine and host name; default ssm-host-XXXXXX */
  name?: string;
  /** wait until systemd reports running/degraded before resolving; default true */
  waitForBoot?: boolean;
  /** default 60 s */
  bootTimeoutMs?: number;
  /** the cached root filesystem to boot; default the node-agent test host's (ensure-rootfs.sh) */
  imageDir?: string;
  /** read-only directories laid over the image, highest first (per-host configuration; the image stays shared) */
  overlayDirs?: readonly string[];
  /** a network namespace to boot in (/run/netns/NAME); default: the test process's own (nspawn shares it) */
  networkNamespacePath?: string;
  /** more systemd-nspawn arguments (binds, capabilities, system-call filters) */
  nspawnArgs?: readonly string[];
  /**
   * Which cgroup hierarchies get a cgroup of this host's own: 'systemd' (cgroup2 and name=systemd, enough for
   * systemd) or 'all' (every v1 controller too, under this process's own cgroup: kubelet creates /kubepods in each,
   * and two nodes must never share one)
   */
  cgroups?: 'systemd' | 'all';
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ENSURE_ROOTFS = resolve(HERE, '..', 'tools', 'ensure-rootfs.sh');
const TEMP_PREFIX = 'ssm-systemd-host-';
const CGROUP_PARENT = 'ssm-test-hosts';
const FIND_PID1_TIMEOUT_MS = 30_000;
const HALT_TIMEOUT_MS = 15_000;
const POLL_MS = 50;

// Runs inside the private mount namespace (and PID namespace) made by unshare, then becomes systemd-nspawn.
// $1 mount point for the tmpfs, $2 lower dirs (colon-separated, highest first), $3 machine name, $4 how many cgroup
// dirs follow, then those cgroup dirs (made by the caller) to join, then extra systemd-nspawn arguments.
const LAUNCH = `set -eu
mnt=$1; lower=$2; name=$3; n=$4; shift 4
while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs"; shift; n=$((n - 1)); done
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755 ssm-nspawn-run /run/systemd/nspawn
mount -t tmpfs -o mode=0755 ssm-host-upper "$mnt"
mkdir "$mnt/upper" "$mnt/work" "$mnt/root"
mount -t overlay ssm-host-root -o "lowerdir=$lower,upperdir=$mnt/upper,workdir=$mnt/work" "$mnt/root"
exec systemd-nspawn --quiet --register=no --keep-unit --boot --link-journal=no --console=read-only \\
  --machine="$name" --directory="$mnt/root" "$@"
`;

/** Runs test/tools/ensure-rootfs.sh once per process (memoised; retried after a failure) and returns the cached rootfs directory. */
export function ensureRootfs(): Promise<string> {
  return runSetupScriptOnce(ENSURE_ROOTFS);
}

/** The parent PID of every process, from /proc/PID/stat (field 4, after the parenthesised comm). */
function parentPids(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(entry), ppid);
    } catch {
      // the process went away
    }
  }
  return out;
}

function childrenOf(pid: number): number[] {
  return [...parentPids()].filter(([, ppid]) => ppid === pid).map(([child]) => child);
}

function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function pidNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** True when the process's root directory is another file system object than ours (it lives in a container). */
function hasOtherRoot(pid: number): boolean {
  try {
    const theirs = statSync(`/proc/${pid}/root/`);
    const ours = statSync('/');
    return theirs.dev !== ours.dev || theirs.ino !== ours.ino;
  } catch {
    return false;
  }
}

/** Every process whose PID namespace is `ns` (as readlink /proc/PID/ns/pid shows it). */
function processesInNamespace(ns: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (pidNamespaceOf(Number(entry)) === ns) out.push(Number(entry));
  }
  return out;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * The writable cgroup hierarchies a process can be moved into, each as the directory under which this host's
 * cgroups go: 'systemd' → cgroup2 mounts and v1 name=systemd, at their roots (as before); 'all' → every writable
 * hierarchy, under this process's own cgroup in it (so a sandbox's limits still apply to the nodes).
 */
function cgroupRoots(which: 'systemd' | 'all' = 'systemd'): string[] {
  let mountinfo: string;
  let own = new Map<string, string>();
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    if (which === 'all') own = ownCgroups();
  } catch {
    return [];
  }
  const roots: string[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    const superblock = fields[2] ?? '';
    const mountPoint = fields[4];
    const mountOptions = fields[5] ?? '';
    if (!mountPoint || mountOptions.split(',').includes('ro') || seen.has(superblock)) continue;
    const opts = superOptions.split(',');
    const systemdOnes = fstype === 'cgroup2' || (fstype === 'cgroup' && opts.includes('name=systemd'));
    if (which === 'systemd' && systemdOnes) {
      roots.push(mountPoint);
      seen.add(superblock);
    } else if (which === 'all' && (fstype === 'cgroup' || fstype === 'cgroup2')) {
      // /proc/self/cgroup names a v1 hierarchy by its controllers (or name=…), cgroup2 by the empty string
      const key = fstype === 'cgroup2' ? '' : opts.filter((o) => o !== 'rw' && o !== 'ro').sort().join(',');
      roots.push(join(mountPoint, own.get(key) ?? '/'));
      seen.add(superblock);
    }
  }
  return roots;
}

/** This process's cgroup path per hierarchy, keyed by its sorted controller list ('' for cgroup2). */
function ownCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set((m[1] ?? '').split(',').sort().join(','), m[2] ?? '/');
  }
  return out;
}

/**
 * Makes a cgroup directory and its missing parents. A new cpuset cgroup starts with no CPUs and no memory nodes,
 * and no process can join it until both are set: copy them from the parent at each level.
 */
function makeCgroupDir(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  for (let i = 0; i < 64; i++) {
    try {
      statSync(d);
      break;
    } catch {
      missing.unshift(d);
      d = dirname(d);
    }
  }
  for (const m of missing) {
    mkdirSync(m);
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      try {
        if (readFileSync(join(m, file), 'utf8').trim() === '') writeFileSync(join(m, file), readFileSync(join(dirname(m), file), 'utf8').trim());
      } catch {
        // not a cpuset hierarchy
      }
    }
  }
}

/** Removes a cgroup directory tree bottom-up (rmdir only works on empty cgroups; busy ones stay). */
function removeCgroupTree(dir: string): boolean {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return true; // gone
  }
  let ok = true;
  for (const e of entries) ok = removeCgroupTree(join(dir, e)) && ok;
  try {
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
  }
  return ok;
}

function ownerAlive(name: string): boolean {
  const m = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(name);
  if (!m?.[1]) return true; // not ours to judge
  const pid = Number(m[1]);
  return pid === process.pid || pidAlive(pid);
}

/**
 * Removes what test processes that died without cleaning up (SIGKILL) left: their temp dirs and their (empty)
 * cgroups; their processes are already gone (see the header). Runs at every start. Returns how many could not be
 * removed yet (a cgroup stays busy until its last process is reaped).
 */
export function removeStaleHosts(): number {
  let left = 0;
  try {
    for (const name of readdirSync(tmpdir())) {
      if (name.startsWith(TEMP_PREFIX) && !ownerAlive(name)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  } catch {
    left++;
  }
  const cgRoots = readComm(1) === 'systemd' ? [] : [...new Set([...cgroupRoots('systemd'), ...cgroupRoots('all')])];
  for (const root of cgRoots) {
    const parent = join(root, CGROUP_PARENT);
    let names: string[];
    try {
      names = readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names) if (!ownerAlive(name) && !removeCgroupTree(join(parent, name))) left++;
  }
  return left;
}

const cleanups = new Set<() => void>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // managed-process's own exit hook SIGKILLs unshare (and so the whole PID namespace); this removes the temp
  // dirs. Cgroups of processes still dying are swept by the next start.
  process.on('exit', () => {
    for (const cleanup of cleanups) cleanup();
  });
}

/** Boots a fresh systemd container from the cached rootfs (built on first use). */
export async function startSystemdHost(opts: StartSystemdHostOptions = {}): Promise<SystemdHost> {
  const name = opts.name ?? `ssm-host-${randomBytes(3).toString('hex')}`;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw new Error(`invalid host name: ${name}`);
  const imageDir = opts.imageDir ?? (await ensureRootfs());
  const pid1IsSystemd = readComm(1) === 'systemd';
  // With a systemd PID 1 nspawn gets its cgroup from it; kubelet nodes still need one in every hierarchy.
  const cgroupMode = opts.cgroups ?? 'systemd';
  const cgRoots = pid1IsSystemd && cgroupMode === 'systemd' ? [] : cgroupRoots(cgroupMode);
  removeStaleHosts();
  installExitHook();

  const workDir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const cleanupDir = () => rmSync(workDir, { recursive: true, force: true });
  cleanups.add(cleanupDir);
  const mountPoint = join(workDir, 'mnt');
  mkdirSync(mountPoint);
  const logPath = join(workDir, 'nspawn.log');
  writeFileSync(logPath, '');
  // The same relative path in every hierarchy: in hybrid mode nspawn mirrors its cgroup2 path into name=systemd.
  const cgroupName = `${TEMP_PREFIX}${process.pid}-${name}-${randomBytes(3).toString('hex')}`;
  const cgroupDirs = cgRoots.map((root) => join(root, CGROUP_PARENT, cgroupName));
  for (const dir of cgroupDirs) makeCgroupDir(dir);
  const lowerDirs = [...(opts.overlayDirs ?? []), imageDir].join(':');
  const nspawnArgs = [
    ...(opts.networkNamespacePath ? [`--network-namespace-path=${opts.networkNamespacePath}`] : []),
    ...(opts.nspawnArgs ?? []),
  ];

  const proc = startProcess({
    name: `systemd-nspawn ${name}`,
    command: 'unshare',
    args: ['--pid', '--fork', '--kill-child', '--mount', '--propagation', 'private', '--',
      'sh', '-c', LAUNCH, 'ssm-host-launch', mountPoint, lowerDirs, name, String(cgroupDirs.length), ...cgroupDirs, ...nspawnArgs],
    logPath,
    env: serverEnv(),
  });

  const removeAll = (): void => {
    for (const dir of cgroupDirs) removeCgroupTree(dir);
    cleanupDir();
    cleanups.delete(cleanupDir);
  };

  let nspawnPid = -1;
  let pid = -1;
  try {
    ({ nspawnPid, pid } = await findContainerInit(proc));
  } catch (err) {
    await proc.stop(2_000).catch(() => undefined);
    const tail = logTail(logPath);
    removeAll();
    throw new Error(`${(err as Error).message}\nnspawn log tail:\n${tail}`, { cause: err });
  }
  const pidNamespace = pidNamespaceOf(pid) ?? '';
  const host = new NsenterHost(pid);

  const processes = (): number[] => (pidNamespace === '' ? [] : processesInNamespace(pidNamespace));

  const waitForSystemd = async (timeoutMs = 60_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const st = proc.exitStatus();
      if (st) throw new Error(`systemd-nspawn ${name} ${describeExit(st)} while booting; log tail:\n${logTail(logPath)}`);
      try {
        const r = await host.run(['systemctl', 'is-system-running'], { timeoutMs: 10_000 });
        last = (r.stdout.trim() || r.stderr.trim()).split('\n').pop() ?? '';
        if (last === 'running' || last === 'degraded') return last;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() >= deadline) break;
      await sleep(100);
    }
    const failed = await host.run(['systemctl', '--failed', '--no-legend', '--no-pager'], { timeoutMs: 10_000 }).catch(() => undefined);
    throw new Error(
      `systemd in ${name} not running within ${timeoutMs} ms (last state: ${last || 'none'}; failed units: ` +
        `${failed?.stdout.trim() || '?'}); log tail:\n${logTail(logPath)}`,
    );
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // A clean halt first: SIGTERM makes nspawn ask the container's systemd to power off.
      if (proc.exitStatus() === undefined && pidAlive(nspawnPid)) {
        killQuietly(nspawnPid, 'SIGTERM');
        const deadline = Date.now() + HALT_TIMEOUT_MS;
        while (Date.now() < deadline && proc.exitStatus() === undefined && pidAlive(pid)) await sleep(POLL_MS);
      }
      // Whatever is left: killing the container's PID 1 kills its PID namespace; killing nspawn (PID 1 of the
      // intermediate namespace) kills everything below it.
      killQuietly(pid, 'SIGKILL');
      await proc.stop(5_000);
      const deadline = Date.now() + 10_000;
      let left = processes();
      while (left.length > 0 && Date.now() < deadline) {
        for (const p of left) killQuietly(p, 'SIGKILL');
        await sleep(POLL_MS);
        left = processes();
      }
      // cgroups become removable a moment after their last process is reaped
      for (let i = 0; i < 40 && !cgroupDirs.every((d) => removeCgroupTree(d)); i++) await sleep(POLL_MS);
      removeAll();
      if (left.length > 0) throw new Error(`processes of ${name} survived stop(): ${left.join(', ')}`);
    })();
    return stopping;
  };

  const systemdHost: SystemdHost = {
    name,
    pid,
    nspawnPid,
    rootDir: host.hostPath('/'),
    imageDir,
    pidNamespace,
    logPath,
    host,
    run: (argv, input) => host.run(argv, input === undefined ? {} : { input }),
    waitForSystemd,
    processes,
    stop,
  };
  if (opts.waitForBoot ?? true) {
    try {
      await waitForSystemd(opts.bootTimeoutMs ?? 60_000);
    } catch (err) {
      await stop().catch(() => undefined);
      throw err;
    }
  }
  return systemdHost;
}

/** nspawn is unshare's child; the container's PID 1 is nspawn's child that runs systemd in another root. */
async function findContainerInit(proc: ManagedProcess): Promise<{ nspawnPid: number; pid: number }> {
  const deadline = Date.now() + FIND_PID1_TIMEOUT_MS;
  let nspawnPid = -1;
  for (let attempt = 0; Date.now() < deadline && attempt < 100_000; attempt++) {
    const st = proc.exitStatus();
    if (st) throw new Error(`systemd-nspawn ${describeExit(st)} before the container's systemd started`);
    if (nspawnPid < 0) nspawnPid = childrenOf(proc.pid).find((p) => readComm(p) === 'systemd-nspawn') ?? -1;
    if (nspawnPid > 0) {
      const init = childrenOf(nspawnPid).find((p) => readComm(p) === 'systemd' && hasOtherRoot(p));
      if (init !== undefined) return { nspawnPid, pid: init };
    }
    await sleep(POLL_MS);
  }
  throw new Error(`the container's systemd did not appear within ${FIND_PID1_TIMEOUT_MS} ms (nspawn pid ${nspawnPid})`);
}
