// TCP across the boundary of a network namespace without adding any address to the machine's root namespace.
//
// A path-named Unix socket is not bound to a network namespace, so it can join two: one side is a socat that runs
// inside the namespace (`ip netns exec`), the other a net.Server of this process on loopback. Two directions:
//   into:   127.0.0.1:<free port> here  → unix socket → socat in NS → host:port inside NS   (the API server)
//   expose: host:port inside NS (socat)  → unix socket → this process → 127.0.0.1:<local port> (test servers)
// Every socat is a managed process (dies with this process); close() stops it and removes the socket.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sleep, startProcess, type ManagedProcess } from '../managed-process.ts';

const exec = promisify(execFile);
const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 50;

export interface Forward {
  /** into: the loopback port of this process; expose: the port listened on inside the namespace */
  readonly port: number;
  close(): Promise<void>;
}

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.once('error', end).once('close', end);
  b.once('error', end).once('close', end);
}

function listen(server: net.Server, target: number | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof target === 'number') server.listen(target, '127.0.0.1', () => resolve());
    else server.listen(target, () => resolve());
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function waitFor(what: string, proc: ManagedProcess, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let i = 0; i < READY_TIMEOUT_MS / POLL_MS + 1 && Date.now() < deadline; i++) {
    if (proc.exitStatus()) throw new Error(`${proc.name} exited before ${what} (log: ${proc.logPath})`);
    if (await check().catch(() => false)) return;
    await sleep(POLL_MS);
  }
  throw new Error(`${what} not ready within ${READY_TIMEOUT_MS} ms (log: ${proc.logPath})`);
}

interface ForwardOptions {
  readonly netns: string;
  /** a directory of the caller's for the socket and the log (short: a socket path has at most 107 bytes) */
  readonly dir: string;
  readonly name: string;
}

/** A loopback port of this process that leads to host:port inside the namespace. */
export async function forwardIntoNamespace(opts: ForwardOptions & { host: string; port: number }): Promise<Forward> {
  const sock = join(opts.dir, `${opts.name}.sock`);
  rmSync(sock, { force: true });
  const proc = startProcess({
    name: `forward ${opts.name} into ${opts.netns}`,
    command: 'ip',
    args: ['netns', 'exec', opts.netns, 'socat', `UNIX-LISTEN:${sock},fork,mode=600`, `TCP:${opts.host}:${opts.port}`],
    logPath: join(opts.dir, `${opts.name}.log`),
  });
  const server = net.createServer((client) => pipeBoth(client, net.connect(sock)));
  try {
    await waitFor(`the socket ${sock}`, proc, async () => {
      const probe = net.connect(sock);
      return new Promise<boolean>((resolve) => {
        probe.once('connect', () => {
          probe.destroy();
          resolve(true);
        });
        probe.once('error', () => resolve(false));
      });
    });
    await listen(server, 0);
  } catch (err) {
    await proc.stop(1_000);
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    async close() {
      await Promise.all([closeServer(server), proc.stop(2_000)]);
      rmSync(sock, { force: true });
    },
  };
}

/** host:port inside the namespace, leading to 127.0.0.1:localPort of this process. */
export async function exposeInNamespace(opts: ForwardOptions & { host: string; port: number; localPort: number }): Promise<Forward> {
  const sock = join(opts.dir, `${opts.name}.sock`);
  rmSync(sock, { force: true });
  const server = net.createServer((inbound) => pipeBoth(inbound, net.connect(opts.localPort, '127.0.0.1')));
  await listen(server, sock);
  const proc = startProcess({
    name: `expose ${opts.name} in ${opts.netns}`,
    command: 'ip',
    args: ['netns', 'exec', opts.netns, 'socat', `TCP-LISTEN:${opts.port},bind=${opts.host},fork,reuseaddr`, `UNIX-CONNECT:${sock}`],
    logPath: join(opts.dir, `${opts.name}.log`),
  });
  try {
    await waitFor(`${opts.host}:${opts.port} in ${opts.netns}`, proc, async () => {
      const { stdout } = await exec('ip', ['netns', 'exec', opts.netns, 'ss', '-Hltn', `sport = :${opts.port}`], { timeout: 5_000 });
      return stdout.includes(`${opts.host}:${opts.port}`);
    });
  } catch (err) {
    await Promise.all([closeServer(server), proc.stop(1_000)]);
    throw err;
  }
  return {
    port: opts.port,
    async close() {
      await Promise.all([closeServer(server), proc.stop(2_000)]);
      rmSync(sock, { force: true });
    },
  };
}
