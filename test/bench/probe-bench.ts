// Benchmark 4, a micro-benchmark of the connectivity probe: one full probe (dns → tcp → tls → http, with the
// production trust store plus the test CA) against a loopback HTTPS endpoint, beside one bare TLS handshake to the
// same endpoint (tls.connect with only the test CA). Median of 50 each, interleaved, after a warm-up. Prints
// figures; asserts nothing. Part of `npm run bench` (BENCH_ONLY=probe); also runs on its own:
//
//   npx node test/bench/probe-bench.ts        (BENCH_PROBE_RUNS=… to change the 50)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { probeEndpoint } from '../../node-agent/probes/probe-endpoint.ts';
import { PHASES, type Phase } from '../../node-agent/probes/types.ts';
import { createTestCa } from '../servers/test-ca.ts';
import { startHttpsServer } from '../servers/tls-servers.ts';
import { Cleanup } from './cleanup.ts';
import { ms, summarize, table, type Summary } from './stats.ts';

const TIMEOUT_MS = 5_000;

export interface ProbeBenchOptions {
  /** measured rounds (one probe + one bare handshake each); default 50 */
  runs: number;
  /** unmeasured rounds first; default 5 */
  warmup?: number;
}

export interface ProbeBenchResult {
  runs: number;
  warmup: number;
  /** one full probe cycle (dns+tcp+tls+http), ms */
  probe: Summary;
  /** each phase of the probe, ms */
  phases: Record<Phase, Summary>;
  /** one bare TLS handshake (tls.connect → secureConnect), ms */
  bareHandshake: Summary;
  /** the first probe of the process, which builds the TLS context from the system trust store, ms */
  firstProbeMs: number;
  /** requests the endpoint answered (every probe ends with one) */
  requestsServed: number;
}

function bareHandshake(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('bare handshake timed out'));
    }, TIMEOUT_MS);
    socket.once('secureConnect', () => {
      const elapsed = performance.now() - t0;
      clearTimeout(timer);
      socket.destroy();
      resolve(elapsed);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function runProbeBench(opts: ProbeBenchOptions, cleanup: Cleanup): Promise<ProbeBenchResult> {
  const warmup = opts.warmup ?? 5;
  const dir = await mkdtemp(path.join(tmpdir(), 'probe-bench-'));
  const removeDir = cleanup.defer('remove the probe bench directory', () => rm(dir, { recursive: true, force: true }));
  let closeServer: (() => Promise<void>) | undefined;
  try {
    const ca = createTestCa(path.join(dir, 'ca'));
    const cert = ca.issue({ name: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const server = await startHttpsServer({ ...cert, status: 404 });
    closeServer = cleanup.defer('stop the probe bench HTTPS server', () => server.close());
    const probe = async (): Promise<{ ms: number; phases: Partial<Record<Phase, number>> }> => {
      const t0 = performance.now();
      const r = await probeEndpoint({ name: 'ssm', host: 'localhost', port: server.port }, { timeoutMs: TIMEOUT_MS, caFile: ca.certFile });
      const elapsed = performance.now() - t0;
      if (!r.ok) throw new Error(`probe failed: ${r.reason ?? '?'}: ${r.message ?? ''}`);
      const phases: Partial<Record<Phase, number>> = {};
      for (const p of PHASES) phases[p] = (r.phases[p] ?? 0) * 1000;
      return { ms: elapsed, phases };
    };
    const t0 = performance.now();
    await probe(); // the first probe reads the system trust store and builds the TLS context
    const firstProbeMs = performance.now() - t0;
    for (let i = 0; i < warmup; i++) {
      await probe();
      await bareHandshake(server.port, ca.cert);
    }
    const probeMs: number[] = [];
    const phaseMs: Record<Phase, number[]> = { dns: [], tcp: [], tls: [], http: [] };
    const bareMs: number[] = [];
    // Interleaved, so both see the same machine state.
    for (let i = 0; i < opts.runs; i++) {
      const p = await probe();
      probeMs.push(p.ms);
      for (const phase of PHASES) phaseMs[phase].push(p.phases[phase] ?? 0);
      bareMs.push(await bareHandshake(server.port, ca.cert));
    }
    return {
      runs: opts.runs,
      warmup,
      probe: summarize(probeMs),
      phases: { dns: summarize(phaseMs.dns), tcp: summarize(phaseMs.tcp), tls: summarize(phaseMs.tls), http: summarize(phaseMs.http) },
      bareHandshake: summarize(bareMs),
      firstProbeMs,
      requestsServed: server.hosts.length,
    };
  } finally {
    await closeServer?.();
    await removeDir();
  }
}

export function printProbeBench(r: ProbeBenchResult, heading = '4. Connectivity probe vs a bare TLS handshake'): void {
  const row = (label: string, s: Summary) => [label, String(s.n), ms(s.min), ms(s.median), ms(s.p99), ms(s.max), ms(s.mean)];
  console.log(`\n${heading}`);
  console.log(`   In this process, against a loopback HTTPS server (127.0.0.1, certificate for localhost from a test CA; answers 404).`);
  console.log(`   A probe is the node agent's probeEndpoint(): dns (getaddrinfo of localhost) → tcp → tls (SNI, verified against the`);
  console.log(`   system trust store + the test CA, context cached) → one HTTPS request. A bare handshake is tls.connect() to 127.0.0.1`);
  console.log(`   with only the test CA (no DNS; TCP connect + handshake until secureConnect; its context is built on each call).`);
  console.log(`   ${r.runs} rounds of one each, interleaved, after ${r.warmup} warm-up rounds; p99 is nearest-rank.\n`);
  console.log(
    table([
      ['', 'n', 'min', 'median', 'p99', 'max', 'mean (ms)'],
      row('full probe cycle (dns+tcp+tls+http)', r.probe),
      ...PHASES.map((p) => row(`  phase ${p}`, r.phases[p])),
      row('bare TLS handshake (tls.connect)', r.bareHandshake),
    ]),
  );
  console.log(`\n   Median full probe / median bare handshake: ${(r.probe.median / r.bareHandshake.median).toFixed(2)}×.`);
  console.log(`   First probe of the process (reads the system trust store, builds the TLS context; not in the figures): ${ms(r.firstProbeMs)} ms.`);
  console.log(`   Requests the endpoint answered: ${r.requestsServed} (${1 + r.warmup + r.runs} probes).`);
}

if (import.meta.main) {
  const runs = Number(process.env.BENCH_PROBE_RUNS) > 0 ? Math.floor(Number(process.env.BENCH_PROBE_RUNS)) : 50;
  const cleanup = new Cleanup();
  let code = 1;
  try {
    const r = await runProbeBench({ runs }, cleanup);
    console.log(`probe micro-benchmark, Node ${process.version}`);
    printProbeBench(r, 'Connectivity probe vs a bare TLS handshake');
    code = 0;
  } catch (err) {
    console.error((err as Error).stack ?? String(err));
  } finally {
    await cleanup.runAll();
  }
  process.exitCode = code;
}
