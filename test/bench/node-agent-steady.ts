// Benchmark 3: the node-agent PROCESS (`node node-agent/main.ts`) on a real systemd host, over a steady-state
// window (10 minutes by default) with connectivity probes every 60 s and a pass over the host every 300 s (the
// default). Set up like test/integration/node-agent-host.test.ts (test/harness/node-agent-fixture.ts): a stand-in
// .deb on a loopback mirror, signed with a throwaway key; hybrid activation from a directory. The probes reach a
// real HTTPS server on 127.0.0.1:443 with a certificate for `localhost` from a test CA (PROBE_CA_FILE), all four
// endpoints set to `localhost`.
//
// First the converging pass (install, configure, ssm-user, register) is timed; then RSS, CPU and the probe
// metrics are sampled every 10 s over the window.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../harness/control-plane.ts';
import { startBareNode, warmCompileCache } from './bare-node.ts';
import { logTail } from '../harness/managed-process.ts';
import { createNodeAgentFixture, nodeAgentMetrics, PASS_DONE } from '../harness/node-agent-fixture.ts';
import { startSystemdHost } from '../harness/systemd-host.ts';
import { createTestCa } from '../servers/test-ca.ts';
import type { Cleanup } from './cleanup.ts';
import { poll, sleep } from './poll.ts';
import { clkTck, sampleProc, type ProcSample } from './proc-stats.ts';

export const NODE_AGENT_BENCH_VERSION = '3.3.200.0';
const PROBE_INTERVAL_SECONDS = 60;
/** As the real-cluster tests' packages (test/harness/cluster/product.ts): about the real agent's size. */
const PACKAGE_PAD_MIB = 32;
const PASS_INTERVAL_SECONDS = 300;
const PHASE_NAMES = ['dns', 'tcp', 'tls', 'http'] as const;
const ENDPOINTS = ['ssm', 'ec2messages', 'ssmmessages', 's3'] as const;

export interface NodeAgentSteadyOptions {
  windowMs: number;
  sampleIntervalMs: number;
  log: (line: string) => void;
}

export interface NodeAgentSteadyResult {
  agentVersion: string;
  hostOs: string;
  systemdVersion: string;
  passIntervalSeconds: number;
  probeIntervalSeconds: number;
  firstPass: {
    /** spawn → /metrics answers, ms */
    metricsUpMs: number;
    /** own CPU seconds (utime+stime) spawn → /metrics answers: Node start-up and module loading */
    metricsUpCpuSeconds: number;
    /** spawn → /metrics shows the first pass done with ssm_agent_registered 1, ms (polled every 250 ms) */
    doneMs: number;
    /** own CPU seconds spawn → first pass done (start-up, the pass, the first probe round, the polls) */
    cpuSeconds: number;
    /** CPU seconds of the host commands it waited for (nsenter → dpkg, systemctl, …: cutime+cstime) */
    childCpuSeconds: number;
    /** step → status of that pass */
    steps: Record<string, string>;
    rssKb: number;
    hwmKb: number;
    /** MiB of padding in the package installed (as large as the real agent's) */
    packageMiB: number;
  };
  /** a bare `node` process sampled beside the node agent in the window: the reference of the RSS figures */
  bareNodeRssAvgKb: number;
  window: {
    ms: number;
    samples: number;
    rssMinKb: number;
    rssAvgKb: number;
    rssMaxKb: number;
    rssFirstKb: number;
    rssLastKb: number;
    /** VmHWM at the end: the peak since the process started (the converging pass included) */
    hwmKb: number;
    heapUsedFirstBytes: number;
    heapUsedLastBytes: number;
    cpuSeconds: number;
    /** of one core */
    cpuPercent: number;
    childCpuSeconds: number;
    /** probe rounds completed in the window, by ssm_endpoint_probe_duration_seconds_count{phase="dns"} per endpoint */
    probeRounds: Record<string, number>;
    /** mean duration of each phase over the window's probes, ms (from _sum/_count) */
    phaseMeanMs: Record<string, number>;
    probeFailures: number;
    /** requests the :443 server answered in the window (every successful probe ends with one) */
    requestsServed: number;
    /** passes over the host completed in the window (new values of ssm_node_agent_last_pass_timestamp_seconds) */
    passes: number;
    stepFailures: number;
    /** /metrics GETs the bench made in the window (their cost is in the CPU figures) */
    scrapes: number;
  };
  /** ssm_endpoint_up series at the end: labels → value */
  endpointUp: [string, number][];
  logWarnings: number;
  wallMs: number;
}

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, enough of it for these metrics (no escapes in label values). */
function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function value(series: Series[], name: string, labels: Record<string, string> = {}): number {
  const s = series.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? Number.NaN;
}

function sum(series: Series[], name: string, labels: Record<string, string> = {}): number {
  return series.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}

/** CPU seconds of the children a process has waited for (fields 16 and 17 of /proc/<pid>/stat). */
function childCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / clkTck();
}

/** An HTTPS server on 127.0.0.1:443 answering 404 to everything (as AWS endpoints answer `GET /`). */
async function startEndpointServer(cert: { cert: string; key: string }): Promise<{ requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
    requests++;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('bench endpoint\n');
  });
  server.on('tlsClientError', () => undefined);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on 127.0.0.1:443 (${err.code ?? err.message}); the probes need port 443 and root`)),
    );
    server.listen(443, '127.0.0.1', () => resolve());
  });
  return {
    requests: () => requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function runNodeAgentSteadyBench(opts: NodeAgentSteadyOptions, cleanup: Cleanup): Promise<NodeAgentSteadyResult> {
  const start = performance.now();
  opts.log('node agent: building and signing the stand-in .deb, starting the loopback mirror…');
  // A package as large as the real agent's: the first pass's peak is what the container's memory limit must hold.
  const fx = await createNodeAgentFixture({ versions: [NODE_AGENT_BENCH_VERSION], tempPrefix: 'ssm-bench-node-agent-', padMiB: PACKAGE_PAD_MIB });
  const closeFixture = cleanup.defer('remove the node-agent fixture (mirror, work dir)', () => fx.close());
  let closeEndpoint: (() => Promise<void>) | undefined;
  let stopHost: (() => Promise<void>) | undefined;
  let stopAgent: (() => Promise<void>) | undefined;
  try {
    const ca = createTestCa(join(fx.work, 'ca'));
    const cert = ca.issue({ name: 'endpoint', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const endpoint = await startEndpointServer(cert);
    closeEndpoint = cleanup.defer('stop the :443 endpoint', () => endpoint.close());

    opts.log('node agent: booting the systemd host…');
    const sys = await startSystemdHost();
    stopHost = cleanup.defer('stop the systemd host', () => sys.stop());
    const osRelease = (await sys.host.readFile('/etc/os-release'))?.toString('utf8') ?? '';
    const hostOs = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'unknown';
    const systemdVersion = (await sys.run(['systemctl', '--version'])).stdout.split('\n')[0] ?? 'unknown';

    const config = fx.config({
      name: 'bench',
      version: NODE_AGENT_BENCH_VERSION,
      endpoints: { ssm: 'localhost', ec2messages: 'localhost', ssmmessages: 'localhost', s3: 'localhost' },
      connectivity: { interval: `${PROBE_INTERVAL_SECONDS}s`, timeout: '5s' },
    });
    if (config.connectivity.intervalSeconds !== PROBE_INTERVAL_SECONDS) throw new Error(`connectivity.intervalSeconds is ${config.connectivity.intervalSeconds}`);
    // A directory of its own, like the ConfigMap mount: the node agent runs a pass on any change in the config file's
    // directory, so its log (or anything else written during the window) must not live there.
    const configDir = join(fx.work, 'config');
    mkdirSync(configDir);
    const configFile = join(configDir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config));

    const port = await freePort();
    const logPath = join(fx.work, 'node-agent.log');
    const compileCacheDir = join(fx.work, 'compile-cache');
    warmCompileCache(compileCacheDir, [process.getuid?.() ?? 0]);
    opts.log(`node agent: spawning node node-agent/main.ts (host PID ${sys.pid}, metrics :${port})…`);
    const spawnedAt = performance.now();
    const proc = fx.startNodeAgent({
      name: 'node-agent',
      logPath,
      hostPid: sys.pid,
      configFile,
      metricsPort: port,
      passIntervalSeconds: PASS_INTERVAL_SECONDS,
      probeCaFile: ca.certFile,
      nodeName: 'bench-node',
      logLevel: 'info', // the DaemonSet sets no LOG_LEVEL: production logs at info
      compileCacheDir, // as the image's NODE_COMPILE_CACHE
    });
    stopAgent = cleanup.defer('stop the node agent', () => proc.stop(25_000));
    const pid = proc.pid;
    const alive = () => {
      const st = proc.exitStatus();
      if (st) throw new Error(`the node agent exited (code ${String(st.code)}, signal ${String(st.signal)}); log tail:\n${logTail(logPath)}`);
    };
    const scrape = async (): Promise<Series[]> => {
      alive();
      return parseMetrics(await nodeAgentMetrics(port));
    };

    // Start-up: until /metrics answers.
    const up = await poll(
      'the node agent /metrics',
      async () => {
        alive();
        try {
          await nodeAgentMetrics(port, 1_000);
          return { at: performance.now(), cpu: sampleProc(pid).cpuSeconds };
        } catch {
          return undefined;
        }
      },
      30_000,
      25,
    );
    // The converging pass: until it is done and the host registered.
    opts.log('node agent: waiting for the first (converging) pass…');
    const firstText = await poll(
      'the first pass of the node agent (installed and registered)',
      async () => {
        alive();
        const text = await nodeAgentMetrics(port).catch(() => '');
        return PASS_DONE.test(text) && /^ssm_agent_registered 1$/m.test(text) ? text : undefined;
      },
      180_000,
      250,
    );
    const doneAt = performance.now();
    const atDone = sampleProc(pid);
    const childAtDone = childCpuSeconds(pid);
    const firstSeries = parseMetrics(firstText);
    const steps: Record<string, string> = {};
    for (const s of firstSeries) if (s.name === 'ssm_node_agent_step_status' && s.value === 1 && s.labels.step && s.labels.status) steps[s.labels.step] = s.labels.status;

    // Steady state.
    opts.log(`node agent: first pass done in ${((doneAt - spawnedAt) / 1000).toFixed(2)} s; sampling every ${opts.sampleIntervalMs / 1000} s for ${opts.windowMs / 1000} s…`);
    const samples: ProcSample[] = [];
    const passStarts = new Set<number>();
    const firstPassTs = value(firstSeries, 'ssm_node_agent_last_pass_timestamp_seconds');
    let firstWindow: Series[] | undefined;
    let lastWindow: Series[] = firstSeries;
    let requestsAtStart = 0;
    let childAtStart = 0;
    let scrapes = 0;
    const bare = await startBareNode();
    const bareRss: number[] = [];
    const stopBare = cleanup.defer('stop the bare node process', async () => bare.stop());
    const windowStart = performance.now();
    const count = Math.floor(opts.windowMs / opts.sampleIntervalMs);
    for (let i = 0; i <= count; i++) {
      const wait = windowStart + i * opts.sampleIntervalMs - performance.now();
      if (wait > 0) await sleep(wait);
      alive();
      const s = sampleProc(pid);
      if (i === 0) {
        requestsAtStart = endpoint.requests();
        childAtStart = childCpuSeconds(pid);
      }
      samples.push(s);
      bareRss.push(bare.rssKb());
      const series = await scrape();
      scrapes++;
      firstWindow ??= series;
      lastWindow = series;
      const ts = value(series, 'ssm_node_agent_last_pass_timestamp_seconds');
      if (ts !== firstPassTs) passStarts.add(ts);
      if (i > 0 && i % 6 === 0) opts.log(`node agent: ${((s.at - windowStart) / 1000).toFixed(0)} s, RSS ${(s.rssKb / 1024).toFixed(1)} MiB, CPU ${s.cpuSeconds.toFixed(2)} s`);
    }
    await stopBare();
    const first = samples[0];
    const last = samples[samples.length - 1];
    if (!first || !last || !firstWindow) throw new Error('no samples');
    const childAtEnd = childCpuSeconds(pid);
    const requestsAtEnd = endpoint.requests();
    const windowMs = last.at - first.at;

    const probeRounds: Record<string, number> = {};
    for (const e of ENDPOINTS) {
      const labels = { endpoint: e, phase: 'dns' };
      probeRounds[e] = value(lastWindow, 'ssm_endpoint_probe_duration_seconds_count', labels) - (value(firstWindow, 'ssm_endpoint_probe_duration_seconds_count', labels) || 0);
    }
    const phaseMeanMs: Record<string, number> = {};
    for (const phase of PHASE_NAMES) {
      const dSum = sum(lastWindow, 'ssm_endpoint_probe_duration_seconds_sum', { phase }) - sum(firstWindow, 'ssm_endpoint_probe_duration_seconds_sum', { phase });
      const dCount = sum(lastWindow, 'ssm_endpoint_probe_duration_seconds_count', { phase }) - sum(firstWindow, 'ssm_endpoint_probe_duration_seconds_count', { phase });
      phaseMeanMs[phase] = dCount > 0 ? (dSum / dCount) * 1000 : Number.NaN;
    }
    const rss = samples.map((s) => s.rssKb);
    const heapName = 'nodejs_heap_size_used_bytes';
    const endpointUp: [string, number][] = lastWindow
      .filter((s) => s.name === 'ssm_endpoint_up')
      .map((s) => [Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(','), s.value]);
    const logWarnings = readFileSync(logPath, 'utf8').split('\n').filter((l) => /"level":(40|50|60)/.test(l)).length;

    return {
      agentVersion: NODE_AGENT_BENCH_VERSION,
      hostOs,
      systemdVersion,
      passIntervalSeconds: PASS_INTERVAL_SECONDS,
      probeIntervalSeconds: PROBE_INTERVAL_SECONDS,
      firstPass: {
        metricsUpMs: up.at - spawnedAt,
        metricsUpCpuSeconds: up.cpu,
        doneMs: doneAt - spawnedAt,
        cpuSeconds: atDone.cpuSeconds,
        childCpuSeconds: childAtDone,
        steps,
        rssKb: atDone.rssKb,
        hwmKb: atDone.hwmKb,
        packageMiB: PACKAGE_PAD_MIB,
      },
      bareNodeRssAvgKb: bareRss.reduce((a, b) => a + b, 0) / bareRss.length,
      window: {
        ms: windowMs,
        samples: samples.length,
        rssMinKb: Math.min(...rss),
        rssAvgKb: rss.reduce((a, b) => a + b, 0) / rss.length,
        rssMaxKb: Math.max(...rss),
        rssFirstKb: first.rssKb,
        rssLastKb: last.rssKb,
        hwmKb: last.hwmKb,
        heapUsedFirstBytes: value(firstWindow, heapName),
        heapUsedLastBytes: value(lastWindow, heapName),
        cpuSeconds: last.cpuSeconds - first.cpuSeconds,
        cpuPercent: windowMs > 0 ? ((last.cpuSeconds - first.cpuSeconds) / (windowMs / 1000)) * 100 : Number.NaN,
        childCpuSeconds: childAtEnd - childAtStart,
        probeRounds,
        phaseMeanMs,
        probeFailures: sum(lastWindow, 'ssm_endpoint_probe_failures_total') - sum(firstWindow, 'ssm_endpoint_probe_failures_total'),
        requestsServed: requestsAtEnd - requestsAtStart,
        passes: passStarts.size,
        stepFailures: sum(lastWindow, 'ssm_node_agent_step_failures_total') - sum(firstWindow, 'ssm_node_agent_step_failures_total'),
        scrapes,
      },
      endpointUp,
      logWarnings,
      wallMs: performance.now() - start,
    };
  } finally {
    const t = performance.now();
    await stopAgent?.();
    const agentStopMs = performance.now() - t;
    await stopHost?.();
    if (stopAgent) opts.log(`node agent: clean-up done in ${((performance.now() - t) / 1000).toFixed(2)} s (the node agent took ${(agentStopMs / 1000).toFixed(2)} s to exit)`);
    await closeEndpoint?.();
    await closeFixture();
  }
}
