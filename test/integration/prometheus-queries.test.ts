// Every query of every Grafana dashboard of the chart, and every alert expression, evaluated by a REAL Prometheus
// (Debian's `prometheus`) scraping REAL processes every second:
//  - a node agent (`node node-agent/main.ts`) converging a real systemd host (test/harness/node-agent-fixture.ts:
//    stand-in .deb on a loopback mirror, hybrid activation) and probing the SSM endpoints: ssm, ssmmessages and s3
//    are ENDPOINT_IP, answered by an HTTPS server on ENDPOINT_IP:443 with a certificate from a test CA
//    (PROBE_CA_FILE); ec2messages is `nonexistent.invalid`, which never resolves. A loopback address of its own
//    rather than `localhost`: the benchmark and the probes' tests hold 127.0.0.1:443 for minutes at a time, and
//    the probes cannot use another port. Its scrape job carries the static labels cluster=test,
//    node=host-1, config=demo, as the chart's PodMonitor relabelling and the user's Prometheus would add them;
//  - the operator (`node operator/main.ts`) against a real kube-apiserver with one SsmAgentConfig `demo` and one
//    Node `host-1`, scraped with cluster=test.
// Each query must parse (status success); each is classified below as returning series in this scenario or as
// known-empty (a metric of a feature not built yet, or a series that only exists on failures).
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../harness/control-plane.ts';
import { logTail, startProcess, type ManagedProcess } from '../harness/managed-process.ts';
import { createNodeAgentFixture, nodeAgentMetrics, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { REPO, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';
import { createTestCa } from '../servers/test-ca.ts';

const CHART = join(REPO, 'charts', 'ssm-agent-operator');
const DASHBOARDS = join(CHART, 'dashboards');
const ALERT_RULES = join(CHART, 'alerts', 'ssm-agent-operator.rules.yaml');
const PROMETHEUS = '/usr/bin/prometheus';
const AGENT_VERSION = '3.3.300.0';
const CONFIG_NAME = 'demo';
const NODE_NAME = 'host-1';
/** The reachable endpoints' address (the whole of 127.0.0.0/8 is loopback). */
const ENDPOINT_IP = '127.0.0.44';

/** What Grafana would put in for the dashboards' variables. */
const VARIABLES: Record<string, string> = {
  cluster: 'test',
  config: CONFIG_NAME,
  node: NODE_NAME,
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
};

type Expectation =
  /** returns at least one series here; `value`: every series has this value */
  | { series: true; value?: number }
  /** may be empty here, with why */
  | { empty: string };

const NEEDS_ACTIVATION = 'only for configs with an activation, which make Systems Manager calls (none in this scenario)';
const ON_FAILURE = 'failure-only: exists or is non-zero only when something fails';

/**
 * Every panel query of every dashboard, keyed `uid › panel title › refId`. A query missing here, or an entry with
 * no query, fails the test: the table is the list of what the dashboards show and what this scenario proves.
 */
const QUERIES: Record<string, Expectation> = {
  // Fleet overview
  'ssm-fleet-overview › Desired nodes › A': { series: true, value: 1 },
  'ssm-fleet-overview › Installed › A': { series: true, value: 1 },
  'ssm-fleet-overview › Registered › A': { series: true, value: 1 },
  'ssm-fleet-overview › Service running › A': { series: true, value: 1 },
  // Systems Manager's PingStatus: the operator asks SSM only for configs with an activation.
  'ssm-fleet-overview › Online in SSM › A': { empty: NEEDS_ACTIVATION },
  // ec2messages is unreachable from host-1: the node counts as failing.
  'ssm-fleet-overview › Failing › A': { series: true, value: 1 },
  'ssm-fleet-overview › Off the desired version › A': { empty: ON_FAILURE },
  'ssm-fleet-overview › Nodes by state (operator) › A': { series: true },
  'ssm-fleet-overview › Nodes by state (node agents) › A': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes by state (node agents) › B': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes by state (node agents) › C': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes by state (node agents) › D': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes › A': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes › B': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes › C': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes › D': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes › E': { series: true, value: 0 },
  'ssm-fleet-overview › Agent versions › A': { series: true, value: 1 },
  'ssm-fleet-overview › Nodes off the desired version › A': { empty: ON_FAILURE },
  'ssm-fleet-overview › Endpoint reachability › A': { series: true },
  'ssm-fleet-overview › Nodes that cannot reach each endpoint › A': { series: true, value: 1 },
  'ssm-fleet-overview › Unreachable endpoints › A': { series: true, value: 0 },
  'ssm-fleet-overview › Probe latency by phase (p50) › A': { series: true },
  'ssm-fleet-overview › Probe latency by phase (p90) › A': { series: true },
  'ssm-fleet-overview › Probe latency by phase (p99) › A': { series: true },
  'ssm-fleet-overview › Probe failures by reason › A': { series: true },
  'ssm-fleet-overview › Host step failures by reason › A': { empty: ON_FAILURE },
  'ssm-fleet-overview › Time left before the activation expires › A': { empty: NEEDS_ACTIVATION },
  // Node detail
  'ssm-node-detail › Agent › A': { series: true, value: 1 },
  'ssm-node-detail › Service › A': { series: true, value: 1 },
  'ssm-node-detail › Registered › A': { series: true, value: 1 },
  'ssm-node-detail › Desired version › A': { series: true, value: 1 },
  'ssm-node-detail › Configuration valid › A': { series: true, value: 1 },
  'ssm-node-detail › Last pass › A': { series: true },
  'ssm-node-detail › Failed steps › A': { series: true, value: 0 },
  'ssm-node-detail › Service and registration › A': { series: true, value: 1 },
  'ssm-node-detail › Service and registration › B': { series: true, value: 1 },
  'ssm-node-detail › Service and registration › C': { series: true, value: 1 },
  'ssm-node-detail › Endpoint reachability › A': { series: true },
  'ssm-node-detail › Endpoints › A': { series: true },
  'ssm-node-detail › Since the last successful probe › A': { series: true },
  'ssm-node-detail › Probe failures by reason › A': { series: true },
  'ssm-node-detail › Probe phase duration (mean) › A': { series: true },
  'ssm-node-detail › Step status (last pass) › A': { series: true, value: 1 },
  'ssm-node-detail › Step status over time › A': { series: true },
  'ssm-node-detail › Step failures by reason › A': { empty: ON_FAILURE },
  'ssm-node-detail › CPU › A': { series: true },
  'ssm-node-detail › Memory › A': { series: true },
  'ssm-node-detail › Memory › B': { series: true },
  'ssm-node-detail › Event-loop lag (p99) › A': { series: true },
  // Operator
  'ssm-operator › Reconcile rate by result › A': { series: true },
  'ssm-operator › Reconcile errors › A': { empty: ON_FAILURE },
  'ssm-operator › Reconcile latency › A': { series: true },
  'ssm-operator › Reconcile latency › B': { series: true },
  'ssm-operator › Reconcile latency › C': { series: true },
  'ssm-operator › Work-queue depth › A': { series: true },
  'ssm-operator › Informer restarts › A': { empty: ON_FAILURE },
  'ssm-operator › Leaders › A': { series: true, value: 1 },
  'ssm-operator › Leader › A': { series: true, value: 1 },
  'ssm-operator › Nodes by config and state › A': { series: true },
  'ssm-operator › Config conditions › A': { series: true, value: 1 },
  'ssm-operator › Connected node agents › A': { series: true, value: 0 }, // this node agent has no fleet endpoint
  'ssm-operator › Node agents scraped › A': { series: true, value: 1 },
  'ssm-operator › Node agents with an invalid configuration › A': { empty: ON_FAILURE },
  'ssm-operator › SSM API calls by operation and code › A': { empty: NEEDS_ACTIVATION },
  'ssm-operator › CPU › A': { series: true },
  'ssm-operator › Memory › A': { series: true },
  'ssm-operator › Event-loop lag (p99) › A': { series: true },
};

// ------------------------------------------------------------------------------------------ dashboards

interface Panel {
  type: string;
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: unknown }[] };
}
interface Query {
  key: string;
  expr: string;
}

const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard);

function panelQueries(d: Dashboard): Query[] {
  const panels = (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  return panels.flatMap((p) => (p.targets ?? []).map((t) => ({ key: `${d.uid} › ${p.title ?? ''} › ${t.refId ?? ''}`, expr: t.expr ?? '' })));
}

/** The `job` variable: the scrape job of the processes a dashboard shows (process_* and nodejs_* are standard
 * names every Node.js process exports, so the job tells them apart). */
const JOBS: Record<string, string> = { 'ssm-operator': 'ssm-agent-operator', 'ssm-node-detail': 'ssm-node-agent' };

/** Grafana's substitution of the variables this scenario selects; an unknown variable is an error. */
function substitute(expr: string, uid: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const value = name === 'job' ? JOBS[uid] : VARIABLES[name];
    if (value === undefined) throw new Error(`unknown variable ${whole} in ${expr}`);
    return value;
  });
}

// ------------------------------------------------------------------------------------------ Prometheus

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: Sample[] | [number, string] };
}

let promUrl = '';

async function query(promql: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(10_000) });
  return (await res.json()) as QueryResult;
}

/** The vector of an instant query ([] for an empty result); fails on anything but a successful vector query. */
async function vector(promql: string): Promise<Sample[]> {
  const r = await query(promql);
  assert.equal(r.status, 'success', `${promql}\n→ ${r.errorType ?? ''}: ${r.error ?? ''}`);
  assert.equal(r.data?.resultType, 'vector', promql);
  return r.data?.result as Sample[];
}

async function startPrometheus(dir: string, scrapeConfigs: unknown[]): Promise<ManagedProcess> {
  const port = await freePort();
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' }, scrape_configs: scrapeConfigs }, null, 2));
  const proc = startProcess({
    name: 'prometheus',
    command: PROMETHEUS,
    args: [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h', '--log.level=warn'],
    logPath: join(dir, 'prometheus.log'),
  });
  promUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    'Prometheus to be ready',
    async () => {
      if (proc.exitStatus()) throw new Error(`prometheus exited:\n${logTail(proc.logPath)}`);
      return (await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(2_000) })).ok;
    },
    30_000,
    200,
  );
  return proc;
}

// ------------------------------------------------------------------------------------------ the scene

/** An HTTPS server on ENDPOINT_IP:443 answering 404 to everything, as AWS endpoints answer `GET /`. */
async function startEndpointServer(cert: { cert: string; key: string }): Promise<{ requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
    requests++;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('test endpoint\n');
  });
  server.on('tlsClientError', () => undefined);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  // Another run of this test may hold the port: wait for it, bounded.
  await waitFor(
    `${ENDPOINT_IP}:443 to be free`,
    () =>
      new Promise<boolean>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          server.off('listening', onListening);
          if (err.code === 'EADDRINUSE') resolve(false);
          else reject(new Error(`cannot listen on ${ENDPOINT_IP}:443 (${err.code ?? err.message}); the probes need port 443 and root`));
        };
        const onListening = () => {
          server.off('error', onError);
          resolve(true);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(443, ENDPOINT_IP);
      }),
    60_000,
    1_000,
  );
  return {
    requests: () => requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let fx: NodeAgentFixture | undefined;
let sys: SystemdHost | undefined;
let endpoint: { requests: () => number; close: () => Promise<void> } | undefined;
let nodeAgent: ManagedProcess | undefined;
let env: OperatorTestEnv | undefined;
let operator: OperatorProcess | undefined;
let prometheus: ManagedProcess | undefined;

/** The node agent on a real systemd host; resolves with its metrics port once /metrics answers. */
async function startNodeAgentScene(): Promise<number> {
  fx = await createNodeAgentFixture({ versions: [AGENT_VERSION], tempPrefix: 'ssm-prom-queries-' });
  const ca = createTestCa(join(fx.work, 'ca'));
  endpoint = await startEndpointServer(ca.issue({ name: 'endpoint', ips: [ENDPOINT_IP] }));
  sys = await startSystemdHost();
  const config = fx.config({
    name: CONFIG_NAME,
    version: AGENT_VERSION,
    endpoints: { ssm: ENDPOINT_IP, ec2messages: 'nonexistent.invalid', ssmmessages: ENDPOINT_IP, s3: ENDPOINT_IP },
    connectivity: { interval: '2s', timeout: '2s' },
  });
  assert.equal(config.connectivity.intervalSeconds, 2);
  // A directory of its own, like the ConfigMap mount: the node agent runs a pass on any change in it.
  const configDir = join(fx.work, 'config');
  mkdirSync(configDir);
  const configFile = join(configDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const port = await freePort();
  nodeAgent = fx.startNodeAgent({
    name: 'node-agent',
    logPath: join(fx.work, 'node-agent.log'),
    hostPid: sys.pid,
    configFile,
    metricsPort: port,
    passIntervalSeconds: 60,
    probeCaFile: ca.certFile,
    nodeName: NODE_NAME,
  });
  const proc = nodeAgent;
  await waitFor(
    'the node agent /metrics',
    async () => {
      const st = proc.exitStatus();
      if (st) throw new Error(`the node agent exited (code ${String(st.code)}):\n${logTail(proc.logPath)}`);
      return (await nodeAgentMetrics(port, 1_000)).length > 0;
    },
    30_000,
    200,
  );
  return port;
}

/** A control plane with Node host-1, the operator as a process, and SsmAgentConfig demo; resolves with its port. */
async function startOperatorScene(): Promise<number> {
  env = await startOperatorTestEnv({ controllerManager: true });
  await env.createNode(NODE_NAME);
  // With leader election, so that ssm_operator_leader is 1 as on a real replica that leads.
  operator = await startOperatorProcess({
    kubeconfigPath: env.cp.kubeconfigPath,
    logPath: join(env.cp.dir, 'operator.log'),
    readyTimeoutMs: 60_000,
    env: { POD_NAME: 'operator-0', LEADER_ELECTION: 'true', LEASE_DURATION_SECONDS: '4', RENEW_DEADLINE_SECONDS: '3', RETRY_PERIOD_SECONDS: '0.5' },
  });
  const r = await env.kubectl(['apply', '-f', '-'], `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${CONFIG_NAME}}\nspec: {region: us-east-1}\n`);
  assert.equal(r.code, 0, r.stderr);
  return operator.port;
}

function settledValue<T>(settled: PromiseSettledResult<T>): T {
  if (settled.status === 'rejected') throw settled.reason;
  return settled.value;
}

before(
  async () => {
    const [agentPort, operatorPort] = await Promise.allSettled([startNodeAgentScene(), startOperatorScene()]);
    const nodeAgentPort = settledValue(agentPort);
    const opPort = settledValue(operatorPort);
    const work = fx?.work;
    assert.ok(work);
    const promDir = join(work, 'prometheus');
    mkdirSync(promDir);
    prometheus = await startPrometheus(promDir, [
      // As the chart's PodMonitor relabels (node, config) and the user's Prometheus labels (cluster).
      { job_name: 'ssm-node-agent', static_configs: [{ targets: [`127.0.0.1:${nodeAgentPort}`], labels: { cluster: 'test', node: NODE_NAME, config: CONFIG_NAME } }] },
      { job_name: 'ssm-agent-operator', static_configs: [{ targets: [`127.0.0.1:${opPort}`], labels: { cluster: 'test' } }] },
    ]);
    // Enough history for rate() over $__rate_interval, a converged host, probes of both kinds, the operator's view.
    const ready: [string, string][] = [
      ['five scrapes of the node agent after its first pass', 'count_over_time(ssm_agent_up{job="ssm-node-agent"}[1m]) >= 5'],
      ['the host converged (agent up and registered)', 'ssm_agent_up{job="ssm-node-agent"} == 1 and on () ssm_agent_registered{job="ssm-node-agent"} == 1'],
      ['failed probes of ec2messages over time', 'increase(ssm_endpoint_probe_failures_total{job="ssm-node-agent", endpoint="ec2messages", reason="dns"}[1m]) > 0'],
      ['successful probes of ssm over time', 'increase(ssm_endpoint_probe_duration_seconds_count{job="ssm-node-agent", endpoint="ssm", phase="http"}[1m]) > 0'],
      ['the operator to count Node host-1 for demo', 'ssm_operator_nodes{job="ssm-agent-operator", config="demo", state="desired"} == 1'],
      ['five scrapes of the operator after its first reconcile', 'count_over_time(ssm_operator_reconcile_total{job="ssm-agent-operator"}[1m]) >= 5'],
    ];
    for (const [what, promql] of ready) {
      await waitFor(
        `${what} (${promql})`,
        async () => {
          for (const p of [nodeAgent, operator?.proc, prometheus]) {
            const st = p?.exitStatus();
            if (p && st) throw new Error(`${p.name} exited (code ${String(st.code)}):\n${logTail(p.logPath)}`);
          }
          return (await vector(promql)).length > 0;
        },
        240_000,
        500,
      );
    }
  },
  { timeout: 600_000 },
);

after(
  async () => {
    const steps: [string, (() => Promise<void>) | undefined][] = [
      ['prometheus', prometheus && (() => prometheus?.stop(10_000) ?? Promise.resolve())],
      ['operator', operator && (() => operator?.stop(10_000) ?? Promise.resolve())],
      ['node agent', nodeAgent && (() => nodeAgent?.stop(25_000) ?? Promise.resolve())],
      ['control plane', env && (() => env?.stop() ?? Promise.resolve())],
      ['systemd host', sys && (() => sys?.stop() ?? Promise.resolve())],
      ['endpoint server', endpoint && (() => endpoint?.close() ?? Promise.resolve())],
      ['node-agent fixture', fx && (() => fx?.close() ?? Promise.resolve())],
    ];
    const errors: string[] = [];
    for (const [name, stop] of steps) {
      try {
        await stop?.();
      } catch (err) {
        errors.push(`${name}: ${String(err)}`);
      }
    }
    if (errors.length > 0) throw new Error(`cleanup failed: ${errors.join('; ')}`);
  },
  { timeout: 120_000 },
);

// ------------------------------------------------------------------------------------------ tests

test('the classification table lists exactly the dashboards’ queries', () => {
  const keys = dashboards.flatMap(panelQueries).map((q) => q.key);
  assert.equal(new Set(keys).size, keys.length, 'panel titles and refIds identify each query');
  const missing = keys.filter((k) => !(k in QUERIES));
  const stale = Object.keys(QUERIES).filter((k) => !keys.includes(k));
  assert.deepEqual(missing, [], 'queries not classified in QUERIES');
  assert.deepEqual(stale, [], 'QUERIES entries with no such query');
});

test('the scraped values are the scenario: ec2messages unreachable, the others reachable, the agent up, the operator counting demo', async () => {
  const sel = 'cluster="test", node="host-1", config="demo"';
  const up = async (endpointName: string) => (await vector(`ssm_endpoint_up{${sel}, endpoint="${endpointName}"}`)).map((s) => Number(s.value[1]));
  assert.deepEqual(await up('ec2messages'), [0]);
  assert.deepEqual(await up('ssm'), [1]);
  assert.deepEqual(await up('ssmmessages'), [1]);
  assert.deepEqual(await up('s3'), [1]);
  assert.equal((await vector(`ssm_endpoint_up{${sel}, endpoint="ssm"}`))[0]?.metric.host, ENDPOINT_IP);
  const ec2 = await vector(`ssm_endpoint_up{${sel}, endpoint="ec2messages"}`);
  assert.equal(ec2[0]?.metric.host, 'nonexistent.invalid');
  assert.equal(ec2[0]?.metric.via, 'direct');
  assert.deepEqual((await vector(`ssm_agent_up{${sel}}`)).map((s) => s.value[1]), ['1']);
  assert.deepEqual((await vector(`ssm_agent_registered{${sel}}`)).map((s) => s.value[1]), ['1']);
  const info = await vector(`ssm_agent_info{${sel}}`);
  assert.equal(info.length, 1);
  assert.equal(info[0]?.metric.version, AGENT_VERSION);
  assert.match(info[0]?.metric.instance_id ?? '', /^mi-[0-9a-f]{17}$/);
  const nodes = await vector('ssm_operator_nodes{cluster="test", config="demo"}');
  assert.ok(nodes.length > 0, 'ssm_operator_nodes{config="demo"} exists');
  assert.deepEqual(nodes.find((s) => s.metric.state === 'desired')?.value[1], '1');
  assert.ok((endpoint?.requests() ?? 0) > 0, `${ENDPOINT_IP}:443 answered probes`);
  // Build info and the standard process metrics, told apart by job (no doubled ssm_*_process_process_ prefix).
  for (const [metric, job] of [['ssm_operator_build_info', 'ssm-agent-operator'], ['ssm_node_agent_build_info', 'ssm-node-agent']] as const) {
    const build = await vector(`${metric}{job="${job}"}`);
    assert.equal(build.length, 1, `${metric} from ${job}`);
    assert.equal(build[0]?.value[1], '1');
    assert.equal(build[0]?.metric.version, '0.1.0');
    assert.equal(build[0]?.metric.node_version, process.version);
    assert.match(build[0]?.metric.commit ?? '', /^\S+$/);
    assert.equal((await vector(`process_cpu_seconds_total{job="${job}"}`)).length, 1, `process_cpu_seconds_total from ${job}`);
    assert.equal((await vector(`nodejs_eventloop_lag_p99_seconds{job="${job}"}`)).length, 1, `nodejs_eventloop_lag_p99_seconds from ${job}`);
  }
  assert.deepEqual(await vector('{__name__=~"ssm_.*process_.*"}'), [], 'no prefixed process metrics');
});

test('every dashboard variable resolves to this scenario’s cluster, config and node', async () => {
  for (const d of dashboards) {
    for (const v of d.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'string' ? v.query : typeof v.query === 'object' && v.query !== null && 'query' in v.query ? String(v.query.query) : '';
      const m = /^label_values\((.+), (\w+)\)$/s.exec(q);
      assert.ok(m?.[1] && m[2], `${d.uid} variable ${v.name}: label_values(…) expected, got ${q}`);
      const values = (await vector(`group by (${m[2]}) (${substitute(m[1], d.uid)})`)).map((s) => s.metric[m[2] ?? ''] ?? '');
      assert.ok(values.includes((v.name === 'job' ? JOBS[d.uid] : VARIABLES[v.name]) ?? '∅'), `${d.uid} variable ${v.name} (${q}) offers ${JSON.stringify(values)}`);
    }
  }
});

for (const d of dashboards) {
  test(`${d.uid}: every panel query parses, and returns series unless known-empty`, async (t) => {
    const failures: string[] = [];
    const knownEmptyWithSeries: string[] = [];
    for (const q of panelQueries(d)) {
      const expectation = QUERIES[q.key];
      const promql = substitute(q.expr, d.uid);
      const r = await query(promql);
      if (r.status !== 'success') {
        failures.push(`${q.key}: ${r.errorType ?? ''}: ${r.error ?? ''}\n    ${promql}`);
        continue;
      }
      if (!expectation) continue; // reported by the classification test
      if ('empty' in expectation) {
        if (Array.isArray(r.data?.result) && r.data.result.length > 0) knownEmptyWithSeries.push(q.key);
        continue;
      }
      const result = r.data?.result;
      if (r.data?.resultType !== 'vector' || !Array.isArray(result)) {
        failures.push(`${q.key}: a ${r.data?.resultType ?? '?'} result, not an instant vector`);
        continue;
      }
      const samples = result as Sample[];
      if (samples.length === 0) failures.push(`${q.key}: no series\n    ${promql}`);
      else if (expectation.value !== undefined) {
        const values = samples.map((s) => Number(s.value[1]));
        if (!values.every((v) => v === expectation.value)) failures.push(`${q.key}: values ${JSON.stringify(values)}, expected ${expectation.value}\n    ${promql}`);
      }
    }
    // Not a failure: the feature may have arrived. Move the entry to `series: true` then.
    if (knownEmptyWithSeries.length > 0) t.diagnostic(`known-empty queries that returned series: ${knownEmptyWithSeries.join('; ')}`);
    assert.deepEqual(failures, []);
  });
}

test('every expression of the alert rules parses and evaluates against the scraped series', async (t) => {
  const doc = parseYaml(readFileSync(ALERT_RULES, 'utf8')) as { groups?: { name?: string; rules?: { alert?: string; record?: string; expr?: unknown }[] }[] };
  const rules = (doc.groups ?? []).flatMap((g) => (g.rules ?? []).map((r) => ({ name: `${g.name ?? ''}/${r.alert ?? r.record ?? '?'}`, expr: r.expr })));
  assert.ok(rules.length > 0, 'the rules file has rules');
  const failures: string[] = [];
  const firing: string[] = [];
  for (const r of rules) {
    if (typeof r.expr !== 'string' && typeof r.expr !== 'number') {
      failures.push(`${r.name}: no expr`);
      continue;
    }
    const result = await query(String(r.expr));
    if (result.status !== 'success') failures.push(`${r.name}: ${result.errorType ?? ''}: ${result.error ?? ''}`);
    else if (Array.isArray(result.data?.result) && result.data.result.length > 0) firing.push(r.name);
  }
  assert.deepEqual(failures, []);
  t.diagnostic(`alert expressions returning series in this scenario: ${firing.join(', ') || 'none'}`);
});
