// A real tinyproxy for tests: generated config on a free loopback port, its own log file, stopped with its whole
// process group (test/harness/managed-process.ts; nothing outlives the test process).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describeExit, logTail, sleep, startProcess, type ManagedProcess } from '../harness/managed-process.ts';
import { closedPort } from './tls-servers.ts';

export interface TinyproxyOptions {
  /** Directory for the config, the proxy's log and the process output. */
  dir: string;
  /** Ports CONNECT may reach (tinyproxy's ConnectPort); 443 is always allowed. */
  connectPorts?: readonly number[];
  /** Require Proxy-Authorization: Basic with these credentials. */
  basicAuth?: { user: string; password: string };
}

export interface Tinyproxy {
  host: '127.0.0.1';
  port: number;
  /** http://127.0.0.1:port (without credentials). */
  url: string;
  /** tinyproxy's own log (LogLevel Connect: one "Request … CONNECT host:port" line per CONNECT). */
  logPath: string;
  log(): string;
  /** The CONNECT request targets logged so far ("localhost:8443"). */
  connectTargets(): string[];
  process: ManagedProcess;
  stop(): Promise<void>;
}

const TINYPROXY = '/usr/bin/tinyproxy';

export function tinyproxyAvailable(): boolean {
  return existsSync(TINYPROXY);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 500);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

async function startOnce(opts: TinyproxyOptions, attempt: number): Promise<Tinyproxy> {
  const port = await closedPort();
  const logPath = join(opts.dir, `tinyproxy-${attempt}.log`);
  const configPath = join(opts.dir, `tinyproxy-${attempt}.conf`);
  const lines = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    `LogFile "${logPath}"`,
    'LogLevel Connect',
    'MaxClients 32',
    'Allow 127.0.0.1',
    'DisableViaHeader Yes',
    ...[443, ...(opts.connectPorts ?? [])].map((p) => `ConnectPort ${p}`),
    ...(opts.basicAuth ? [`BasicAuth ${opts.basicAuth.user} ${opts.basicAuth.password}`] : []),
  ];
  writeFileSync(configPath, `${lines.join('\n')}\n`);
  writeFileSync(logPath, '');
  // -d: stay in the foreground (the managed process is the proxy itself).
  const proc = startProcess({ name: 'tinyproxy', command: TINYPROXY, args: ['-d', '-c', configPath], logPath: join(opts.dir, `tinyproxy-${attempt}.out`) });
  const log = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  for (let i = 0; i < 50; i++) {
    const exit = proc.exitStatus();
    if (exit) throw new Error(`tinyproxy ${describeExit(exit)}:\n${logTail(proc.logPath)}\n${log()}`);
    if (await canConnect(port)) {
      return {
        host: '127.0.0.1',
        port,
        url: `http://127.0.0.1:${port}`,
        logPath,
        log,
        connectTargets: () => [...log().matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1] as string),
        process: proc,
        stop: () => proc.stop(5_000),
      };
    }
    await sleep(100);
  }
  await proc.stop(2_000);
  throw new Error(`tinyproxy did not listen on 127.0.0.1:${port} within 5 s:\n${logTail(proc.logPath)}`);
}

/** Starts tinyproxy (retrying on a fresh port if another process took the chosen one). */
export async function startTinyproxy(opts: TinyproxyOptions): Promise<Tinyproxy> {
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(opts, attempt);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
