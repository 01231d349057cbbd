// The production Host adapter: commands run with nsenter in all namespaces of a host process (PID 1 of the
// node, seen through hostPID); files are read and written through /proc/PID/root, i.e. in that process's mount
// namespace, without a shell in between, with the host's symlinks resolved in the host's root (host-root-path.ts).
// A command that runs past its timeout is killed with its whole process group: nsenter forks the command into the
// host's PID namespace, and killing nsenter alone would leave it (and its children, holding our pipes) running.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { CommandResult, FileInfo, Host, RunOptions } from './host.ts';
import { resolveInRoot } from './host-root-path.ts';

const MAX_OUTPUT = 4 * 1024 * 1024;
// A command's environment is the host's usual one, not the node agent's container's.
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class NsenterHost implements Host {
  readonly pid: number;
  private readonly nsenter: string;
  private readonly root: string;

  /** `root`: the host's root directory as seen from here (default /proc/PID/root; tests give a directory) */
  constructor(pid = 1, nsenter = 'nsenter', root = `/proc/${pid}/root`) {
    this.pid = pid;
    this.nsenter = nsenter;
    this.root = root;
  }

  hostPath(path: string): string {
    return resolveInRoot(this.root, path);
  }

  /** the path with its parent directory resolved and the last component as it is (for rename and remove) */
  private entryPath(path: string): string {
    if (!path.startsWith('/')) throw new Error(`host paths are absolute: ${path}`);
    const parent = resolveInRoot(this.root, dirname(path));
    return `${parent.replace(/\/+$/, '')}/${basename(path)}`;
  }

  run(argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
    const args = ['-t', String(this.pid), '-m', '-u', '-i', '-n', '-p', '--', ...argv];
    return new Promise((resolve, reject) => {
      const child = spawn(this.nsenter, args, {
        env: { PATH: HOST_PATH, LANG: 'C.UTF-8', ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
        // its own process group, so that a timeout kills everything the command started
        detached: true,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_OUTPUT) into.push(chunk);
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, opts.timeoutMs ?? 120_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut || signal === 'SIGKILL') return reject(new Error(`${argv[0]} timed out after ${opts.timeoutMs ?? 120_000} ms`));
        resolve({ code: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      child.stdin.on('error', () => undefined); // a command that ignores stdin closes it early
      child.stdin.end(opts.input ?? '');
    });
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.hostPath(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async readFileRange(path: string, start: number, maxBytes: number): Promise<Buffer | undefined> {
    let handle;
    try {
      handle = await open(this.hostPath(path), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const buffer = Buffer.alloc(Math.max(0, maxBytes));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async writeFileAtomic(path: string, content: string | Buffer, mode: number): Promise<void> {
    const target = this.entryPath(path);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    const temp = `${dirname(target)}/.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await chmod(temp, mode); // open()'s mode is filtered by the umask
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(this.entryPath(from), this.entryPath(to));
  }

  async removeFile(path: string): Promise<boolean> {
    try {
      await rm(this.entryPath(path));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      const s = await stat(this.hostPath(path));
      return { size: s.size, mode: s.mode & 0o7777, mtimeMs: s.mtimeMs, ino: s.ino };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
