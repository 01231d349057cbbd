// A throwaway containerd (Debian's, the one the test cluster's nodes run) for tests of the images they import:
// its own root, state, sockets and opt directory in a temporary directory, no CRI plugin, nothing shared with a
// containerd the machine may run. stop() ends it, unmounts whatever is still mounted under its directory and
// removes the directory; startContainerd() first sweeps what killed runs left behind.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, startProcess, type ManagedProcess } from './managed-process.ts';
import { waitFor } from './wait.ts';

const TEMP_PREFIX = 'ssm-containerd-';
const OVERLAYFS_SUPER_MAGIC = 0x794c7630;
const COMMAND_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 20_000;

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Containerd {
  readonly dir: string;
  readonly address: string;
  /** overlayfs (what the nodes use), or native when the temporary directory is itself on overlayfs */
  readonly snapshotter: string;
  /** `ctr --address … -n k8s.io ARGS` */
  ctr(args: readonly string[]): Promise<CommandResult>;
  /** `ctr images import` with this containerd's snapshotter; throws with ctr's output when it fails */
  importArchive(path: string): Promise<void>;
  /** a read-only mount of the image's root file system (stop() unmounts it if the caller does not) */
  mountImage(ref: string): Promise<string>;
  unmountImage(path: string): Promise<void>;
  stop(): Promise<void>;
}

export function run(command: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr: err !== null && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** Mount points at or below `dir`, deepest first (mountinfo field 5, octal escapes decoded). */
export function mountsUnder(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const path = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

async function unmountAllUnder(dir: string): Promise<void> {
  for (const path of mountsUnder(dir)) {
    const r = await run('umount', ['--lazy', path]);
    if (r.code !== 0 && mountsUnder(dir).includes(path)) throw new Error(`umount ${path}: ${r.stderr}`);
  }
}

async function removeDir(dir: string): Promise<void> {
  await unmountAllUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Directories of earlier runs whose containerd is gone (killed test processes: containerd dies with them). */
async function sweepStale(): Promise<void> {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let pid = 0;
    try {
      pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      // no pid file: a start that never got that far
    }
    if (pid > 0 && pidAlive(pid)) continue;
    await removeDir(dir);
  }
}

export async function startContainerd(): Promise<Containerd> {
  await sweepStale();
  const dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  const address = join(dir, 'containerd.sock');
  const snapshotter = statfsSync(dir).type === OVERLAYFS_SUPER_MAGIC ? 'native' : 'overlayfs';
  const config = join(dir, 'config.toml');
  // Only what an image import needs: no CRI (it would look for CNI and a kubelet), no snapshotters this machine
  // cannot run; every path inside `dir`.
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",',
      '  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      '[grpc]',
      `  address = ${JSON.stringify(address)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );
  let proc: ManagedProcess | undefined;
  const stop = async (): Promise<void> => {
    try {
      await proc?.stop();
    } finally {
      await removeDir(dir);
    }
  };
  const ctr = (args: readonly string[]): Promise<CommandResult> => run('ctr', ['--address', address, '--namespace', 'k8s.io', ...args]);
  try {
    proc = startProcess({ name: 'containerd', command: 'containerd', args: ['--config', config], logPath: join(dir, 'containerd.log') });
    writeFileSync(join(dir, 'pid'), String(proc.pid));
    const started = proc;
    await waitFor(
      'containerd to serve',
      async () => {
        const status = started.exitStatus();
        if (status !== undefined) throw new Error(`containerd exited: ${readFileSync(started.logPath, 'utf8').slice(-2000)}`);
        return existsSync(address) && (await ctr(['version'])).code === 0;
      },
      START_TIMEOUT_MS,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    dir,
    address,
    snapshotter,
    ctr,
    async importArchive(path: string): Promise<void> {
      const r = await ctr(['images', 'import', '--snapshotter', snapshotter, path]);
      if (r.code !== 0) throw new Error(`ctr images import ${path}: ${r.stderr}${r.stdout}`);
    },
    async mountImage(ref: string): Promise<string> {
      const target = mkdtempSync(join(dir, 'mnt-'));
      const r = await ctr(['images', 'mount', '--snapshotter', snapshotter, ref, target]);
      if (r.code !== 0) throw new Error(`ctr images mount ${ref}: ${r.stderr}`);
      return target;
    },
    async unmountImage(path: string): Promise<void> {
      const r = await ctr(['images', 'unmount', '--snapshotter', snapshotter, '--rm', path]);
      if (r.code !== 0) throw new Error(`ctr images unmount ${path}: ${r.stderr}`);
    },
    stop,
  };
}
