// Fleet changes are rollouts, on the real cluster (test/harness/cluster/): 3 kubelet nodes, the chart installed with
// helm, node agents in the DaemonSet nsentering their nodes. What a rollout promises is checked where it matters,
// inside each node (dpkg, systemd's InvocationID of the agent's service, the agent's proxy environment), never
// from the node agent's own report: a broken revision halts after one node and leaves the others untouched;
// paused holds every change; a new `latest` rolls out gated; a proxy Secret change rolls out node by node without
// its value in any ConfigMap or pod spec; Ready tells the truth; SIGTERM during dpkg lets dpkg finish.
// One cluster for all cases, in order.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { hybridConfigYaml, NAMESPACE, startProductCluster, type ProductCluster } from '../harness/cluster/product.ts';
import { configureStandIn, STAND_IN_PATHS } from '../harness/stand-in-agent.ts';
import { waitFor } from '../harness/wait.ts';
import { startTinyproxy, type Tinyproxy } from '../servers/tinyproxy.ts';

const V1 = '3.3.1142.0';
const V2 = '3.3.1200.0';
const V3 = '3.3.1300.0';
const V4 = '3.3.1400.0';
const V5 = '3.3.1500.0';
/** Not on the mirror: its download is a 404. */
const BROKEN = '3.3.9999.0';
const CONFIG = 'roll';
const DAEMONSET = `ssm-node-agent-${CONFIG}`;
const PROXY_SECRET = 'roll-proxy';
/** The slow package manager of the SIGTERM case: the package's postinst takes this long. */
const INSTALL_DELAY_SECONDS = 25;

let p: ProductCluster;
let proxy: Tinyproxy | undefined;
let work: string;

interface Pod {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { conditions?: { type: string; status: string }[] };
}
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Sac {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    agent?: { resolvedVersion?: string; message?: string };
    rollout?: { state?: string; currentRevision?: string; previousRevision?: string; pendingRevision?: string; updated?: number; converged?: number; failed?: number };
  };
}

const json = async <T>(args: string[]): Promise<T> => JSON.parse(await p.kubectl([...args, '-o', 'json'])) as T;
const sac = () => json<Sac>(['get', 'sac', CONFIG]);
const condition = (c: Sac, type: string) => c.status?.conditions?.find((x) => x.type === type);
const livePods = async () =>
  (await json<{ items: Pod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `ssmagent.io/config=${CONFIG}`])).items.filter((x) => !x.metadata.deletionTimestamp);
const podReady = (pod: Pod) => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const revisionOf = (pod: Pod) => pod.metadata.annotations?.['ssmagent.io/revision'];
const fabricHost = () => new URL(p.mirrorUrl).hostname;

interface SpecOptions {
  version: string;
  paused?: boolean;
  proxySecret?: boolean;
}
function configYaml(o: SpecOptions): string {
  // `latest` needs an https mirror (an http one only with a pinned sha256): the same mirror behind a private CA.
  let yaml = hybridConfigYaml(p, { name: CONFIG, version: o.version, deletionPolicy: 'Retain', https: o.version === 'latest' });
  if (o.paused !== undefined) yaml += `  rollout: {paused: ${o.paused}}\n`;
  // The mirror (on the fabric address) is reached directly; the agent's SSM endpoint only through the proxy.
  if (o.proxySecret) yaml += `  proxy: {secretRef: {name: ${PROXY_SECRET}}, noProxy: ["${fabricHost()}"]}\n`;
  return yaml;
}
const apply = (o: SpecOptions) => p.kubectl(['apply', '-f', '-'], configYaml(o));

/** The agent's service as systemd sees it inside the node: a restart changes InvocationID. */
async function service(node: string): Promise<{ invocation: string; activeSince: string; environment: string }> {
  const r = await p.cluster.node(node).host.run(['systemctl', 'show', 'amazon-ssm-agent', '-p', 'InvocationID', '-p', 'ActiveEnterTimestampMonotonic', '-p', 'Environment']);
  const v = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { invocation: v.InvocationID ?? '', activeSince: v.ActiveEnterTimestampMonotonic ?? '', environment: v.Environment ?? '' };
}

interface HostSnapshot {
  version?: string;
  invocation: string;
  activeSince: string;
  pod?: string;
}
async function snapshot(): Promise<Map<string, HostSnapshot>> {
  const pods = await livePods();
  const out = new Map<string, HostSnapshot>();
  for (const node of p.nodeNames) {
    const s = await service(node);
    out.set(node, { version: await p.host.agentVersion(node), invocation: s.invocation, activeSince: s.activeSince, pod: pods.find((x) => x.spec.nodeName === node)?.metadata.uid });
  }
  return out;
}

/**
 * One wait's bound, under the 600 s each test has (npm test's --test-timeout): a stuck rollout fails with what it
 * waited for and what it saw, not with the runner's bare timeout.
 */
const WAIT_MS = 540_000;

async function rolloutComplete(what: string, check: (c: Sac) => boolean = () => true, timeoutMs = WAIT_MS): Promise<Sac> {
  return waitFor(
    what,
    async () => {
      const c = await sac();
      const r = c.status?.rollout;
      return c.status?.observedGeneration === c.metadata.generation && r?.state === 'RolloutComplete' && check(c) ? c : undefined;
    },
    timeoutMs,
    1_000,
  );
}

/**
 * Watches the hosts while a change rolls out until `done(node)` holds on every node: when each host first showed
 * the change, and the most hosts at once that showed it while their pod was not yet ready on the new revision.
 */
async function watchRollout(t: TestContext, label: string, done: (node: string) => Promise<boolean>, timeoutMs = WAIT_MS): Promise<{ order: string[]; maxInFlight: number }> {
  const started = Date.now();
  const changedAt = new Map<string, number>();
  let maxInFlight = 0;
  let maxUnready = 0;
  let polls = 0;
  await waitFor(
    `${label} on every host`,
    async () => {
      polls++;
      const pods = await livePods();
      const changed = await Promise.all(p.nodeNames.map(async (n) => [n, await done(n)] as const));
      let inFlight = 0;
      for (const [n, yes] of changed) {
        if (yes && !changedAt.has(n)) changedAt.set(n, polls);
        // changed, but its node agent not (yet) ready: the host is between revisions
        const pod = pods.find((x) => x.spec.nodeName === n);
        if (yes && !(pod && podReady(pod))) inFlight++;
      }
      maxInFlight = Math.max(maxInFlight, inFlight);
      maxUnready = Math.max(maxUnready, pods.filter((x) => !podReady(x)).length);
      return changedAt.size === p.nodeNames.length && pods.length === p.nodeNames.length && pods.every(podReady);
    },
    timeoutMs,
    1_000,
  );
  const order = [...changedAt].sort((a, b) => a[1] - b[1]);
  t.diagnostic(`${label}: ${order.map(([n, at]) => `${n} at poll ${at}`).join(', ')} of ${polls} in ${((Date.now() - started) / 1000).toFixed(1)} s; at most ${maxInFlight} host(s) changed but not converged, ${maxUnready} live node-agent pod(s) unready at once`);
  const polled = order.map(([, at]) => at);
  assert.equal(new Set(polled).size, polled.length, `${label}: the hosts changed one after another (${order.map(([n, at]) => `${n}@${at}`).join(', ')})`);
  assert.ok(maxInFlight <= 1, `${label}: never more than one host changed and not converged at once (saw ${maxInFlight})`);
  return { order: order.map(([n]) => n), maxInFlight };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-cluster-rollout-'));
  // Smaller packages than the real one: this file is about the order of changes, not the cost of one.
  p = await startProductCluster({ versions: [V1, V2, V3, V4, V5], padMiB: 4 });
});

after(async () => {
  await p?.stop();
  await proxy?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('install: the chart, then a config whose first revision converges on every host; Ready=True', async () => {
  const values = p.chartValues();
  const envAt = values.findIndex((v) => v.startsWith('env='));
  const env = JSON.parse((values[envAt] ?? 'env=[]').slice(4)) as { name: string; value: string }[];
  // What `latest` means is read from the mirror every 5 s (default: hourly).
  values[envAt] = `env=${JSON.stringify([...env, { name: 'LATEST_VERSION_INTERVAL_SECONDS', value: '5' }])}`;
  const installed = await p.helm(['install', 'ssm', join(import.meta.dirname, '..', '..', 'charts', 'ssm-agent-operator'), '--namespace', NAMESPACE, '--wait', '--timeout', '5m', ...values]);
  assert.equal(installed.code, 0, installed.stderr);
  await apply({ version: V1 });
  await rolloutComplete('the first revision converged');
  for (const node of p.nodeNames) assert.equal(await p.host.agentVersion(node), V1, `${node} runs ${V1}`);
  const ready = await waitFor('Ready=True', async () => {
    const c = await sac();
    return condition(c, 'Ready')?.status === 'True' ? c : undefined;
  }, 600_000, 1_000);
  assert.equal(ready.status?.agent?.resolvedVersion, V1);
});

test('a broken revision halts after one node; the other hosts are untouched; Ready=False; fixing the spec resumes and completes', async (t) => {
  const before = await snapshot();
  const good = (await sac()).status?.rollout?.currentRevision;
  await apply({ version: BROKEN });
  const halted = await waitFor('Progressing=False reason Halted', async () => {
    const c = await sac();
    return condition(c, 'Progressing')?.reason === 'Halted' && c.status?.observedGeneration === c.metadata.generation ? c : undefined;
  }, 600_000, 1_000);
  const progressing = condition(halted, 'Progressing');
  t.diagnostic(`Progressing: ${progressing?.message ?? ''}`);
  assert.equal(progressing?.status, 'False');
  assert.equal(halted.status?.rollout?.updated, 1, 'one node moved to the broken revision');
  assert.equal(halted.status?.rollout?.failed, 1);
  const pods = await livePods();
  const broken = pods.filter((x) => revisionOf(x) !== good);
  assert.equal(broken.length, 1, 'one pod runs the broken revision');
  const failingNode = broken[0]?.spec.nodeName ?? '';
  assert.match(progressing?.message ?? '', new RegExp(`${failingNode} \\([A-Za-z]+: `), `the Halted message names ${failingNode} and the reason`);
  assert.ok(progressing?.message?.includes(BROKEN), `the Halted message says what failed: ${progressing?.message ?? ''}`);
  assert.equal(condition(halted, 'Ready')?.status, 'False', 'Ready is False while a node fails');
  t.diagnostic(`Ready=False: ${condition(halted, 'Ready')?.reason ?? ''}: ${condition(halted, 'Ready')?.message ?? ''}`);

  // Give the DaemonSet controller every chance to move another node: 15 s of polls, and the hosts stay as they were.
  const until = Date.now() + 15_000;
  for (let i = 0; i < 30 && Date.now() < until; i++) {
    const live = await livePods();
    assert.equal(live.filter((x) => revisionOf(x) !== good).length, 1, 'no second node moves to the broken revision');
    await new Promise((r) => setTimeout(r, 500));
  }
  const now = await snapshot();
  for (const node of p.nodeNames) {
    const b = before.get(node) as HostSnapshot;
    const n = now.get(node) as HostSnapshot;
    assert.equal(n.version, V1, `${node} still runs ${V1}`);
    assert.equal(n.invocation, b.invocation, `${node}: amazon-ssm-agent.service was not restarted (InvocationID)`);
    assert.equal(n.activeSince, b.activeSince, `${node}: amazon-ssm-agent.service active since the same moment`);
    if (node !== failingNode) assert.equal(n.pod, b.pod, `${node}: the same node-agent pod as before`);
  }
  const events = await json<{ items: { reason: string; involvedObject: { name: string } }[] }>(['get', 'events', '-n', 'default']);
  assert.ok(events.items.some((e) => e.involvedObject.name === CONFIG && e.reason === 'RolloutHalted'), 'a RolloutHalted Event');

  await apply({ version: V2 });
  const { order } = await watchRollout(t, `the fix (${V2})`, async (n) => (await p.host.agentVersion(n)) === V2);
  assert.equal(order.length, p.nodeNames.length);
  const done = await rolloutComplete(`the rollout of ${V2} complete`, (c) => c.status?.rollout?.currentRevision !== good);
  assert.equal(done.status?.rollout?.failed, 0);
  await waitFor('Ready=True once the fleet converged', async () => condition(await sac(), 'Ready')?.status === 'True', 600_000, 1_000);
});

test('paused: a change made while paused reaches no host; unpausing rolls it out', async (t) => {
  const before = await snapshot();
  const current = (await sac()).status?.rollout?.currentRevision;
  await apply({ version: V3, paused: true });
  const paused = await waitFor('Paused with a pending revision', async () => {
    const c = await sac();
    return c.status?.observedGeneration === c.metadata.generation && c.status.rollout?.state === 'Paused' && c.status.rollout.pendingRevision ? c : undefined;
  }, 300_000, 1_000);
  assert.equal(paused.status?.rollout?.currentRevision, current);
  assert.equal(condition(paused, 'Progressing')?.reason, 'Paused');
  const until = Date.now() + 15_000;
  for (let i = 0; i < 30 && Date.now() < until; i++) {
    const live = await livePods();
    assert.ok(live.every((x) => revisionOf(x) === current), 'every pod stays on the current revision while paused');
    await new Promise((r) => setTimeout(r, 500));
  }
  const now = await snapshot();
  for (const node of p.nodeNames) {
    assert.deepEqual(now.get(node), before.get(node), `${node}: nothing changed while paused (version, service, pod)`);
  }
  await apply({ version: V3, paused: false });
  await watchRollout(t, `unpaused (${V3})`, async (n) => (await p.host.agentVersion(n)) === V3);
  await rolloutComplete(`the rollout of ${V3} complete`, (c) => c.status?.rollout?.currentRevision === paused.status?.rollout?.pendingRevision);
});

test('a new `latest` published on the mirror rolls out gated, like a pin change; status shows the resolved version', async (t) => {
  const latestFile = (version: string) => {
    const dir = join(p.fixture.work, 'mirror', 'latest');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'VERSION.tmp'), `${version}\n`);
    renameSync(join(dir, 'VERSION.tmp'), join(dir, 'VERSION'));
  };
  latestFile(V3);
  const before = await snapshot();
  await apply({ version: 'latest' });
  await rolloutComplete('latest resolved to what runs', (c) => c.status?.agent?.resolvedVersion === V3, 600_000);
  const same = await snapshot();
  for (const node of p.nodeNames) assert.equal(same.get(node)?.invocation, before.get(node)?.invocation, `${node}: latest = ${V3} is what runs: not touched`);
  const printed = await p.kubectl(['get', 'sac', CONFIG]);
  assert.match(printed, new RegExp(`${V3.replace(/\./g, '\\.')}\\s+${V3.replace(/\./g, '\\.')}\\s+RolloutComplete`), printed);

  latestFile(V4);
  await watchRollout(t, `latest → ${V4}`, async (n) => (await p.host.agentVersion(n)) === V4);
  const done = await rolloutComplete(`the rollout of the new latest (${V4})`, (c) => c.status?.agent?.resolvedVersion === V4);
  assert.equal(done.status?.agent?.resolvedVersion, V4);
});

test('a proxy Secret change rolls out node by node; its value never appears in a ConfigMap or a pod spec', async (t) => {
  const emulatorPort = Number(new URL(p.emulator.url).port);
  proxy = await startTinyproxy({ dir: work, connectPorts: [emulatorPort] });
  const exposed = await p.cluster.expose(proxy.port, 'proxy');
  const secret = (password: string) =>
    `apiVersion: v1\nkind: Secret\nmetadata: {name: ${PROXY_SECRET}, namespace: ${NAMESPACE}}\nstringData: {httpsProxy: "http://ops:${password}@${exposed.host}:${exposed.port}"}\n`;
  // The agents' SSM endpoint becomes one only the proxy reaches (the emulator on this machine's loopback): each
  // agent's pings after its restart cross the real proxy.
  for (const node of p.nodeNames) await p.cluster.node(node).host.host.writeFileAtomic(STAND_IN_PATHS.endpointFile, `http://127.0.0.1:${emulatorPort}`, 0o644);
  await p.kubectl(['apply', '-f', '-'], secret('first-Pa55'));
  await apply({ version: 'latest', proxySecret: true });
  await watchRollout(t, 'the proxy (first Secret)', async (n) => (await service(n)).environment.includes('first-Pa55'));
  const first = await rolloutComplete('the proxy revision complete');
  const connectsBefore = proxy.connectTargets().length;

  await p.kubectl(['apply', '-f', '-'], secret('second-Pa55'));
  await watchRollout(t, 'the proxy Secret change', async (n) => (await service(n)).environment.includes('second-Pa55'));
  await rolloutComplete('the new Secret’s revision complete', (c) => c.status?.rollout?.currentRevision !== first.status?.rollout?.currentRevision);
  for (const node of p.nodeNames) assert.doesNotMatch((await service(node)).environment, /first-Pa55/, `${node}: the old value is gone from the agent's environment`);
  const through = await waitFor('each restarted agent pinging through the proxy', () => {
    const targets = proxy?.connectTargets().slice(connectsBefore) ?? [];
    return targets.filter((x) => x === `127.0.0.1:${emulatorPort}`).length >= p.nodeNames.length ? targets : undefined;
  }, 300_000, 1_000);
  t.diagnostic(`CONNECTs through tinyproxy after the Secret change: ${through.length}`);

  const everything = JSON.stringify([
    await json(['get', 'configmaps', '-A']),
    await json(['get', 'pods', '-A']),
    await json(['get', 'daemonsets', '-A']),
    await json(['get', 'controllerrevisions', '-A']),
    await json(['get', 'sac', CONFIG]),
  ]);
  assert.doesNotMatch(everything, /first-Pa55|second-Pa55/, 'the proxy password is in no ConfigMap, pod, DaemonSet, ControllerRevision or status');
});

test('SIGTERM during an install: dpkg finishes, the pod exits, the next pod finds a converged host', async (t) => {
  for (const node of p.nodeNames) await configureStandIn(p.cluster.node(node).host.host, { installDelaySeconds: INSTALL_DELAY_SECONDS });
  let stopped: { node: string; pod: string } | undefined;
  try {
    await apply({ version: V5, proxySecret: true });
    // The first host the rollout reaches: its dpkg is in the slow postinst.
    stopped = await waitFor('a dpkg running on a node', async () => {
      for (const node of p.nodeNames) {
        const r = await p.cluster.node(node).host.run(['pgrep', '-x', 'dpkg']);
        if (r.code !== 0) continue;
        const pod = (await livePods()).find((x) => x.spec.nodeName === node);
        if (pod) return { node, pod: pod.metadata.name };
      }
      return undefined;
    }, WAIT_MS, 500);
    const { node, pod } = stopped;
    // The other hosts install at normal speed.
    for (const other of p.nodeNames.filter((n) => n !== node)) await configureStandIn(p.cluster.node(other).host.host, {});
    const logs = p.kubectlResult(['logs', '-f', '-n', NAMESPACE, pod]);
    const deleted = Date.now();
    await p.kubectl(['delete', 'pod', '-n', NAMESPACE, pod, '--wait=false']);
    await waitFor(`pod ${pod} gone`, async () => (await p.kubectlResult(['get', 'pod', '-n', NAMESPACE, pod])).code !== 0, 300_000, 500);
    t.diagnostic(`${pod} on ${node} took ${((Date.now() - deleted) / 1000).toFixed(1)} s to exit after its SIGTERM (dpkg's postinst takes ${INSTALL_DELAY_SECONDS} s)`);
    const out = (await logs).stdout;
    const lines = out.split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as { msg?: string; step?: string }];
      } catch {
        return [];
      }
    });
    const shutdown = lines.findIndex((l) => l.msg === 'shutting down');
    assert.ok(shutdown >= 0, `the node agent logged its SIGTERM:\n${out.slice(-2000)}`);
    assert.ok(lines.slice(shutdown).some((l) => l.msg === 'host step changed the host' && l.step === 'install'), `the install finished after the SIGTERM, in the old pod:\n${out.slice(-2000)}`);
    const h = p.cluster.node(node).host;
    assert.equal((await h.run(['pgrep', '-x', 'dpkg'])).code, 1, 'no dpkg left running');
    assert.equal((await h.run(['dpkg', '--audit'])).stdout.trim(), '', 'dpkg --audit: no half-installed package');
    assert.equal(await p.host.agentVersion(node), V5);

    const next = await waitFor(`the next pod on ${node} ready`, async () => {
      const x = (await livePods()).find((y) => y.spec.nodeName === node);
      return x && x.metadata.name !== pod && podReady(x) ? x : undefined;
    }, 600_000, 1_000);
    const nextLog = await p.kubectl(['logs', '-n', NAMESPACE, next.metadata.name]);
    assert.doesNotMatch(nextLog, /"step":"install"[^\n]*"msg":"host step changed the host"|"msg":"host step changed the host"[^\n]*"step":"install"/, 'the next pod found the package installed: no second install');
    assert.equal(await p.host.serviceActive(node), true);
  } finally {
    for (const node of p.nodeNames) await configureStandIn(p.cluster.node(node).host.host, {}).catch(() => undefined);
  }
  await rolloutComplete(`the rollout of ${V5} complete`, (c) => c.status?.agent?.resolvedVersion === V5);
  for (const node of p.nodeNames) assert.equal(await p.host.agentVersion(node), V5, `${node} runs ${V5}`);
  await waitFor('Ready=True', async () => condition(await sac(), 'Ready')?.status === 'True', 600_000, 1_000);
  await p.kubectl(['rollout', 'status', `daemonset/${DAEMONSET}`, '-n', NAMESPACE, '--timeout=60s']);
});
