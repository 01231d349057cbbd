// Micro-benchmark of the connectivity probe: one full probe (dns → tcp → tls → http, with the production trust
// store plus the test CA) against a loopback HTTPS endpoint, beside one bare TLS handshake to the same endpoint
// (tls.connect with only the test CA). Median of 50 each, after a warm-up. Prints figures; asserts nothing.
//
//   npx node test/bench/probe-bench.ts        (BENCH_PROBE_RUNS=… to change the 50)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { probeEndpoint } from '../../node-agent/probes/probe-endpoint.ts';
import { createTestCa } from '../servers/test-ca.ts';
import { startHttpsServer } from '../servers/tls-servers.ts';

const RUNS = Number(process.env.BENCH_PROBE_RUNS) > 0 ? Number(process.env.BENCH_PROBE_RUNS) : 50;
const WARMUP = 5;
const TIMEOUT_MS = 5_000;

function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

function bareHandshake(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('bare handshake timed out'));
    }, TIMEOUT_MS);
    socket.once('secureConnect', () => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      socket.destroy();
      resolve(ms);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const dir = await mkdtemp(path.join(tmpdir(), 'probe-bench-'));
const ca = createTestCa(path.join(dir, 'ca'));
const cert = ca.issue({ name: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
const server = await startHttpsServer({ ...cert, status: 404 });
try {
  const probe = async (): Promise<{ ms: number; phases: Record<string, number> }> => {
    const t0 = performance.now();
    const r = await probeEndpoint({ name: 'ssm', host: 'localhost', port: server.port }, { timeoutMs: TIMEOUT_MS, caFile: ca.certFile });
    const ms = performance.now() - t0;
    if (!r.ok) throw new Error(`probe failed: ${r.reason}: ${r.message}`);
    return { ms, phases: Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, (v ?? 0) * 1000])) };
  };
  const t0 = performance.now();
  await probe(); // the first probe reads the system trust store and builds the TLS context
  const firstMs = performance.now() - t0;
  for (let i = 0; i < WARMUP; i++) {
    await probe();
    await bareHandshake(server.port, ca.cert);
  }
  const probeMs: number[] = [];
  const phaseMs: Record<string, number[]> = { dns: [], tcp: [], tls: [], http: [] };
  const bareMs: number[] = [];
  // Interleaved, so both see the same machine state.
  for (let i = 0; i < RUNS; i++) {
    const p = await probe();
    probeMs.push(p.ms);
    for (const [k, v] of Object.entries(p.phases)) phaseMs[k]?.push(v);
    bareMs.push(await bareHandshake(server.port, ca.cert));
  }
  console.log(`probe micro-benchmark: loopback HTTPS endpoint, median of ${RUNS} (after ${WARMUP} warm-up rounds), Node ${process.version}`);
  console.log(`  full probe cycle (dns+tcp+tls+http)     ${fmt(median(probeMs))}`);
  console.log(`    phases: ${Object.entries(phaseMs).map(([k, v]) => `${k} ${fmt(median(v))}`).join(', ')}`);
  console.log(`  bare TLS handshake (tls.connect)       ${fmt(median(bareMs))}`);
  console.log(`  first probe of the process (loads the system trust store): ${fmt(firstMs)}`);
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
