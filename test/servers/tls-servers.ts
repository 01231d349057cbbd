// Loopback servers for the connectivity probes' tests: an HTTPS server answering any status, a TCP server that
// never speaks, a TLS server that never answers HTTP, a TLS front that forwards to another port (an https://
// proxy made from a plain one), a closed port, and a black hole (a listener whose full accept queue drops SYNs).
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { startProcess, sleep } from '../harness/managed-process.ts';

export interface TestServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

export interface KeyPair {
  cert: string;
  key: string;
}

/** Listens on host:0 and returns a close() that also ends every open connection. */
async function listen(server: Server, host: string): Promise<TestServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    host,
    port: address.port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface HttpsTestServer extends TestServer {
  /** Host headers of the requests received, in order. */
  readonly hosts: string[];
}

/** An HTTPS server answering every request with `status` (default 404, like AWS endpoints to `GET /`). */
export async function startHttpsServer(opts: KeyPair & { status?: number; host?: string }): Promise<HttpsTestServer> {
  const hosts: string[] = [];
  const server = createHttpsServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    hosts.push(req.headers.host ?? '');
    res.writeHead(opts.status ?? 404, { 'content-type': 'text/plain' }).end('test server\n');
  });
  server.on('tlsClientError', () => undefined);
  const base = await listen(server, opts.host ?? '127.0.0.1');
  return { ...base, hosts };
}

/** Accepts TCP connections and never sends a byte (a TLS client waits for its ServerHello forever). */
export function startSilentTcpServer(host = '127.0.0.1'): Promise<TestServer> {
  return listen(createNetServer(() => undefined), host);
}

/** Completes TLS handshakes and never answers the request that follows. */
export function startSilentTlsServer(opts: KeyPair & { host?: string }): Promise<TestServer> {
  const server = createTlsServer({ cert: opts.cert, key: opts.key }, (s) => s.on('error', () => undefined));
  server.on('tlsClientError', () => undefined);
  return listen(server, opts.host ?? '127.0.0.1');
}

/** Terminates TLS and pipes the plaintext to targetHost:targetPort: an https:// proxy in front of a plain one. */
export function startTlsForwarder(opts: KeyPair & { targetPort: number; targetHost?: string; host?: string }): Promise<TestServer> {
  const server = createTlsServer({ cert: opts.cert, key: opts.key }, (front) => {
    const back = connect(opts.targetPort, opts.targetHost ?? '127.0.0.1');
    back.on('error', () => front.destroy());
    front.on('error', () => back.destroy());
    front.pipe(back).pipe(front);
    front.once('close', () => back.destroy());
    back.once('close', () => front.destroy());
  });
  server.on('tlsClientError', () => undefined);
  return listen(server, opts.host ?? '127.0.0.1');
}

/** A port on host with nothing listening (bound, then released). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = createNetServer();
  const s = await listen(server, host);
  await s.close();
  return s.port;
}

export interface BlackHole {
  port: number;
  stop(): Promise<void>;
}

// The child listens with a backlog of 1 and then blocks its event loop, so it never accept()s: the kernel queues
// the first connections, then drops further SYNs (Linux does not answer a SYN when the accept queue is full), and
// a connect() hangs until the client gives up. Loopback only, no privileges, no firewall rules.
const BLACK_HOLE_SCRIPT = `
const net = require('node:net');
const server = net.createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  process.stdout.write('BLACKHOLE_PORT=' + server.address().port + '\\n', () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300000);
    process.exit(0);
  });
});
`;

/** Connects and reports whether the connection completed within ms. */
function connectsWithin(port: number, ms: number, keep: Socket[]): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    keep.push(s);
    s.on('error', () => resolve(false));
    const timer = setTimeout(() => resolve(false), ms);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A loopback port whose connects time out (see BLACK_HOLE_SCRIPT). */
export async function startBlackHole(dir: string): Promise<BlackHole> {
  const logPath = join(dir, 'blackhole.log');
  const proc = startProcess({ name: 'blackhole', command: process.execPath, args: ['-e', BLACK_HOLE_SCRIPT], logPath });
  const fillers: Socket[] = [];
  const stop = async (): Promise<void> => {
    for (const s of fillers) s.destroy();
    await proc.stop(2_000);
  };
  try {
    let port = 0;
    for (let i = 0; i < 100 && port === 0; i++) {
      if (proc.exitStatus()) throw new Error(`the black-hole process ended early: ${readFileSync(logPath, 'utf8')}`);
      const m = /BLACKHOLE_PORT=(\d+)/.exec(readFileSync(logPath, 'utf8'));
      if (m) port = Number(m[1]);
      else await sleep(50);
    }
    if (port === 0) throw new Error('the black-hole process did not report its port within 5 s');
    // Fill the accept queue: connections complete until it is full; the first that hangs proves the hole.
    for (let i = 0; i < 16; i++) {
      if (!(await connectsWithin(port, 500, fillers))) return { port, stop };
    }
    throw new Error('16 connections to the black hole all completed: the accept queue never filled');
  } catch (err) {
    await stop();
    throw err;
  }
}
