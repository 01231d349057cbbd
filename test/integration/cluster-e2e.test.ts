// The product the way users run it: real kubelet nodes (test/harness/cluster/), the image built from the
// repository's Dockerfile, the chart installed with `helm install` (two replicas, leader election), a Hybrid config
// with a managed activation. Every assertion about a host is read inside that node (dpkg, systemctl, the agent's
// own files), never from the node agent's own report. The tests run in order on one cluster.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { hybridConfigYaml, NAMESPACE, MIRROR_CA_CONFIGMAP, RELEASE, SIGNING_KEYS_CONFIGMAP, startProductCluster, type ProductCluster } from '../harness/cluster/product.ts';
import { CHART_DIR } from '../harness/helm.ts';
import { waitFor } from '../harness/wait.ts';

const V1 = '3.3.1142.0';
const V2 = '3.3.1200.0';
const CONFIG = 'fleet';
const DAEMONSET = `ssm-node-agent-${CONFIG}`;
let p: ProductCluster;

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: { resources?: unknown }[] };
  status: {
    phase?: string;
    reason?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready: boolean; restartCount: number; lastState?: { terminated?: { reason?: string } } }[];
  };
}
interface SacStatus {
  nodes?: { desired?: number; installed?: number; registered?: number; online?: number; failing?: number };
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  agentVersions?: { version: string; count: number }[];
}

const json = async <T>(args: string[]): Promise<T> => JSON.parse(await p.kubectl([...args, '-o', 'json'])) as T;
const status = async () => (await json<{ status?: SacStatus }>(['get', 'sac', CONFIG])).status ?? {};
const agentPods = async () =>
  (await json<{ items: Pod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', `ssmagent.io/config=${CONFIG}`])).items;
const operatorPods = async () =>
  (await json<{ items: Pod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', 'app.kubernetes.io/name=ssm-agent-operator'])).items;
const leader = async () =>
  (await json<{ spec: { holderIdentity?: string } }>(['get', 'lease', '-n', NAMESPACE, 'ssm-agent-operator-leader'])).spec.holderIdentity ?? '';

const configYaml = (version: string) => hybridConfigYaml(p, { name: CONFIG, version });

/** What the host looks like from inside the node, for "was it touched" comparisons. */
async function hostFingerprint(node: string): Promise<string> {
  const h = p.cluster.node(node).host;
  const dpkgList = await h.run(['stat', '-c', '%Y', '/var/lib/dpkg/info/amazon-ssm-agent.list']);
  const service = await h.run(['systemctl', 'show', 'amazon-ssm-agent', '-p', 'ActiveEnterTimestampMonotonic', '-p', 'MainPID']);
  return `${dpkgList.stdout.trim()} ${service.stdout.trim().replace(/\n/g, ' ')} registrations=${await p.host.registrations(node)}`;
}

async function metricsOf(pod: string, port: number): Promise<string> {
  return p.kubectl(['exec', '-n', NAMESPACE, pod, '--', 'node', '-e', `fetch('http://127.0.0.1:${port}/metrics').then(r => r.text()).then(t => process.stdout.write(t))`]);
}

before(async () => {
  p = await startProductCluster({ versions: [V1, V2] });
});

after(async () => {
  await p?.stop();
});

test('helm install: two operator replicas from the locally built image, one of them leads', async () => {
  const r = await p.helmInstall();
  assert.equal(r.code, 0, r.stderr);
  const pods = await operatorPods();
  assert.equal(pods.length, 2);
  for (const pod of pods) assert.ok(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), `${pod.metadata.name} is ready`);
  const holder = await waitFor('a leader', async () => (await leader()) || undefined, 60_000, 500);
  assert.ok(pods.some((pod) => pod.metadata.name === holder), `the lease is held by one of the pods (${holder})`);
  const images = await p.kubectl(['get', 'pods', '-n', NAMESPACE, '-o', 'jsonpath={.items[*].spec.containers[*].image}']);
  assert.ok(images.split(' ').every((i) => i === p.cluster.images.appImage), images);
});

test('install: every node’s host gets the pinned agent, active, registered exactly once; status and Nodes agree', async () => {
  await p.kubectl(['apply', '-f', '-'], configYaml(V1));
  await waitFor('a node-agent pod on every node', async () => (await agentPods()).length === p.nodeNames.length || undefined, 120_000, 1_000);
  await p.kubectl(['rollout', 'status', `daemonset/${DAEMONSET}`, '-n', NAMESPACE, '--timeout=300s']);
  for (const node of p.nodeNames) {
    await waitFor(`the agent installed and registered on ${node}`, async () => (await p.host.instanceId(node)) !== undefined, 240_000, 1_000);
    assert.equal(await p.host.agentVersion(node), V1, `${node}: dpkg reports the pinned version`);
    assert.equal(await p.host.serviceActive(node), true, `${node}: amazon-ssm-agent.service is active`);
    assert.equal(await p.host.registrations(node), 1, `${node}: registered exactly once`);
  }
  // "Online" is what SSM says (PingStatus). The stand-in does not ping yet: SSM's view is set here.
  for (const i of p.emulator.state.instances()) p.emulator.state.ping(i.instanceId);
  const n = p.nodeNames.length;
  await waitFor(
    'installed = registered = online = N in status',
    async () => {
      const s = (await status()).nodes;
      return s?.installed === n && s.registered === n && s.online === n;
    },
    180_000,
    1_000,
  );
  for (const node of p.nodeNames) {
    const got = await json<{ metadata: { annotations?: Record<string, string>; labels?: Record<string, string> } }>(['get', 'node', node]);
    assert.equal(got.metadata.annotations?.['ssmagent.io/managed-instance-id'], await p.host.instanceId(node), `${node}'s annotation is its host's mi- id`);
    assert.equal(got.metadata.annotations?.['ssmagent.io/agent-version'], V1);
    assert.equal(got.metadata.labels?.['ssmagent.io/registered'], 'true');
  }
  const instances = p.emulator.state.instances();
  assert.equal(instances.length, n, 'one managed instance per node in SSM');
  const w = await p.kubectlResult(['wait', '--for=condition=Ready', `sac/${CONFIG}`, '--timeout=120s']);
  assert.equal(w.code, 0, w.stderr);
});

test('a realistic package (≥ 30 MiB) installs under the chart’s default resources: no OOM kill, eviction or restart', async (t) => {
  const size = statSync(p.fixture.debPath(V1)).size;
  assert.ok(size >= 30 * 1024 * 1024, `the stand-in package is ${size} bytes`);
  const pods = await agentPods();
  assert.equal(pods.length, p.nodeNames.length);
  for (const pod of pods) {
    assert.notEqual(pod.status.reason, 'Evicted');
    for (const c of pod.status.containerStatuses ?? []) {
      assert.equal(c.lastState?.terminated?.reason, undefined, `${pod.metadata.name} was never terminated (${JSON.stringify(c.lastState)})`);
      assert.equal(c.restartCount, 0, `${pod.metadata.name} never restarted`);
      assert.equal(c.ready, true);
    }
  }
  // The figure the default memory limit is sized from: each node agent's peak, install included (its pod's cgroup).
  for (const pod of pods) {
    const node = pod.spec.nodeName ?? '';
    const uid = (pod.metadata as { uid?: string }).uid ?? '';
    const r = await p.cluster.node(node).host.run(['sh', '-c', `cat /sys/fs/cgroup/memory/kubepods/*/pod${uid}/memory.max_usage_in_bytes /sys/fs/cgroup/memory/kubepods/pod${uid}/memory.max_usage_in_bytes 2>/dev/null | head -n1`]);
    if (r.stdout.trim()) t.diagnostic(`${node}: node-agent pod peak memory ${(Number(r.stdout.trim()) / 1024 / 1024).toFixed(1)} MiB (install of a ${(size / 1024 / 1024).toFixed(0)} MiB package included)`);
  }
  const all = await json<{ items: Pod[] }>(['get', 'pods', '-A']);
  assert.deepEqual(all.items.filter((x) => x.status.reason === 'Evicted').map((x) => x.metadata.name), []);
});

test('drift: a deleted DaemonSet comes back and the hosts are not touched', async () => {
  const before = new Map<string, string>();
  for (const node of p.nodeNames) before.set(node, await hostFingerprint(node));
  await p.kubectl(['delete', 'daemonset', DAEMONSET, '-n', NAMESPACE, '--wait=true']);
  await waitFor('the DaemonSet to come back', async () => (await p.kubectlResult(['get', 'daemonset', DAEMONSET, '-n', NAMESPACE])).code === 0, 120_000, 1_000);
  await p.kubectl(['rollout', 'status', `daemonset/${DAEMONSET}`, '-n', NAMESPACE, '--timeout=300s']);
  for (const node of p.nodeNames) {
    // the new pod has made at least one pass: its agent reports again
    assert.equal(await hostFingerprint(node), before.get(node), `${node}: no reinstall, no restart of the agent, no re-registration`);
  }
});

test('operator failover: the standby leads after the leader’s pod is deleted, agents reconnect, status stays right', async (t) => {
  const old = await leader();
  const started = Date.now();
  await p.kubectl(['delete', 'pod', old, '-n', NAMESPACE, '--wait=false']);
  const next = await waitFor('another leader', async () => {
    const h = await leader();
    return h && h !== old ? h : undefined;
  }, 15_000, 250);
  const tookMs = Date.now() - started;
  t.diagnostic(`failover: ${next} leads ${tookMs} ms after ${old}'s pod was deleted`);
  await waitFor(
    'every agent connected to the new leader',
    async () => new RegExp(`^ssm_operator_agents_connected ${p.nodeNames.length}$`, 'm').test(await metricsOf(next, 8080)),
    120_000,
    1_000,
  );
  // The new leader writes status from the reports it now holds, a debounce (2 s) after they arrive: wait for that
  // write, not for whatever the old leader or the first pass before the reconnects wrote.
  const n = p.nodeNames.length;
  const s = await waitFor('the new leader’s status with every node', async () => {
    const nodes = (await status()).nodes;
    return nodes?.registered === n && nodes.installed === n ? nodes : undefined;
  }, 30_000, 500).catch(async () => (await status()).nodes);
  assert.equal(s?.registered, n);
  assert.equal(s?.installed, n);
  await waitFor('two operator pods again', async () => (await operatorPods()).filter((x) => x.status.phase === 'Running').length === 2 || undefined, 120_000, 1_000);
});

test('helm upgrade changes the operator in place; the hosts are not touched', async () => {
  const before = new Map<string, string>();
  for (const node of p.nodeNames) before.set(node, await hostFingerprint(node));
  const r = await p.helm(['upgrade', RELEASE, CHART_DIR, '--namespace', NAMESPACE, '--wait', '--timeout', '5m', ...p.chartValues(), '--set', 'logLevel=debug']);
  assert.equal(r.code, 0, r.stderr);
  const env = await p.kubectl(['get', 'deployment', '-n', NAMESPACE, '-l', 'app.kubernetes.io/name=ssm-agent-operator', '-o', 'jsonpath={.items[0].spec.template.spec.containers[0].env[?(@.name=="LOG_LEVEL")].value}']);
  assert.equal(env, 'debug');
  for (const node of p.nodeNames) assert.equal(await hostFingerprint(node), before.get(node), `${node} untouched by the operator's upgrade`);
});

test('a version change with maxUnavailable: 1 reaches every host one at a time (timeline recorded host by host)', async (t) => {
  const changedAt = new Map<string, number>();
  const started = Date.now();
  await p.kubectl(['apply', '-f', '-'], configYaml(V2));
  let maxInFlight = 0;
  let maxUnready = 0;
  await waitFor(
    'every host on the new version',
    async () => {
      const versions = await Promise.all(p.nodeNames.map(async (n) => [n, await p.host.agentVersion(n)] as const));
      for (const [n, v] of versions) if (v === V2 && !changedAt.has(n)) changedAt.set(n, Date.now() - started);
      // between versions: neither the old nor the new one installed (dpkg in progress) or changed but not yet converged
      const inFlight = versions.filter(([, v]) => v !== V1 && v !== V2).length;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // recorded, not asserted: a terminating old pod and a readiness blip of a converged host count here too
      const unready = (await agentPods()).filter((x) => !(x.metadata as { deletionTimestamp?: string }).deletionTimestamp && !x.status.containerStatuses?.every((c) => c.ready)).length;
      maxUnready = Math.max(maxUnready, unready);
      return changedAt.size === p.nodeNames.length;
    },
    600_000,
    250,
  );
  const timeline = [...changedAt].sort((a, b) => a[1] - b[1]).map(([n, t]) => `${n} +${(t / 1000).toFixed(1)} s`);
  t.diagnostic(`rollout ${V1} → ${V2}, maxUnavailable 1: ${timeline.join(', ')} (at most ${maxUnready} node agent(s) unready and ${maxInFlight} host(s) mid-install at once)`);
  assert.ok(maxInFlight <= 1, `never more than one host between versions at once (saw ${maxInFlight})`);
  const times = [...changedAt.values()].sort((a, b) => a - b);
  assert.ok(times.every((t0, i) => i === 0 || t0 > (times[i - 1] ?? 0)), 'hosts changed one after another');
  await p.kubectl(['rollout', 'status', `daemonset/${DAEMONSET}`, '-n', NAMESPACE, '--timeout=300s']);
  for (const node of p.nodeNames) {
    assert.equal(await p.host.serviceActive(node), true);
    assert.equal(await p.host.registrations(node), 1, `${node}: an upgrade does not re-register`);
  }
});

test('node loss: a node whose kubelet stopped and whose Node was deleted is deregistered, with an Event', async () => {
  const lost = p.nodeNames[p.nodeNames.length - 1] ?? '';
  const id = await p.host.instanceId(lost);
  assert.ok(id);
  const stopped = await p.cluster.node(lost).host.run(['systemctl', 'stop', 'kubelet']);
  assert.equal(stopped.code, 0, stopped.stderr);
  await p.kubectl(['delete', 'node', lost, '--wait=false']);
  await waitFor('the instance to be deregistered in SSM', () => p.emulator.state.instance(id) === undefined, 120_000, 500);
  await waitFor('an Event about it', async () => {
    const events = await json<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(['get', 'events', '-n', 'default']);
    return events.items.some((e) => e.involvedObject.name === CONFIG && e.reason === 'InstanceDeregistered' && e.message.includes(id));
  }, 60_000, 1_000);
  assert.equal(p.emulator.state.instances().length, p.nodeNames.length - 1, 'the other hosts stay registered');
});

test('deletionPolicy Uninstall: the agent leaves every host, then the config goes; helm uninstall leaves nothing of ours', async () => {
  const remaining = p.nodeNames.slice(0, -1);
  await p.kubectl(['delete', 'sac', CONFIG, '--wait=false']);
  await waitFor('the config to be gone', async () => (await p.kubectlResult(['get', 'sac', CONFIG])).code !== 0, 600_000, 1_000);
  for (const node of remaining) {
    assert.equal(await p.host.agentVersion(node), undefined, `${node}: the package is removed`);
    assert.equal(await p.host.serviceActive(node), false, `${node}: no agent service runs`);
  }
  assert.equal(p.emulator.state.instances().length, 0, 'every managed instance deregistered');
  const r = await p.helm(['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait', '--timeout', '5m']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('no pods left', async () => (await json<{ items: Pod[] }>(['get', 'pods', '-n', NAMESPACE])).items.length === 0 || undefined, 120_000, 1_000);
  const kinds = 'deployments,daemonsets,services,serviceaccounts,configmaps,secrets,roles,rolebindings,leases,poddisruptionbudgets';
  const left = await json<{ items: { kind: string; metadata: { name: string } }[] }>(['get', kinds, '-n', NAMESPACE]);
  const ours = left.items
    .filter((o) => !(o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt'))
    .filter((o) => !(o.kind === 'ServiceAccount' && o.metadata.name === 'default'))
    .filter((o) => !(o.kind === 'ConfigMap' && (o.metadata.name === SIGNING_KEYS_CONFIGMAP || o.metadata.name === MIRROR_CA_CONFIGMAP))) // the test's own
    .map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(ours, [], 'nothing of ours is left in the namespace');
  const cluster = await json<{ items: { kind: string; metadata: { name: string } }[] }>(['get', 'clusterroles,clusterrolebindings', '-l', 'app.kubernetes.io/part-of=ssm-agent-operator']);
  assert.deepEqual(cluster.items.map((o) => `${o.kind}/${o.metadata.name}`), []);
});
