// Fleet changes are rollouts, on the real kube-apiserver and the real DaemonSet controller. No kubelet runs here,
// so test/harness/simulated-kubelet.ts binds the DaemonSet's pods and reports their readiness as the node agent's
// /readyz would (converged unless the revision's agent version is the broken one), and fake node agents report
// over the real fleet channel what a node agent on that revision would. Which pod is replaced when is the real
// DaemonSet controller's decision, gated by that readiness.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:https';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { NodeState } from '../../operator/api/fleet-protocol.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP } from '../../operator/manifests/names.ts';
import type { KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import type { FleetClient } from '../../node-agent/fleet/client.ts';
import { connectFakeAgent } from '../harness/fake-node-agent.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { currentRevision } from '../harness/revision.ts';
import { simulateKubelets, type SimPod, type SimulatedKubelet } from '../harness/simulated-kubelet.ts';
import { waitFor } from '../harness/wait.ts';
import { selfSignedCert } from '../servers/test-ca.ts';

const CONFIG = 'roll';
const NODES = ['r-1', 'r-2', 'r-3'];
const BROKEN = '9.9.9.9';
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let env: OperatorTestEnv;
let operator: Operator;
let kubelets: SimulatedKubelet;
let mirror: Server;
let mirrorUrl: string;
let latest = '3.3.50.0';
let work: string;
const agents = new Map<string, FleetClient>();
/** Every pass of the simulated kubelets: node → [revision, ready] (missing: no pod on the node). */
const timeline: Map<string, [string, boolean]>[] = [];
const versionOfRevision = new Map<string, string>();

const configPath = resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG });
const getConfig = () => env.getOrUndefined<SsmAgentConfig>(configPath);
const condition = (c: SsmAgentConfig | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);
type Ds = { metadata: { generation: number }; spec: { updateStrategy: { type: string } }; status?: { observedGeneration?: number; updatedNumberScheduled?: number; numberReady?: number } };
const getDs = () => env.getOrUndefined<Ds>(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}` }));

/** The agent version a revision carries, read once from its immutable ConfigMap. */
async function versionOf(revision: string | undefined): Promise<string | undefined> {
  if (!revision) return undefined;
  const known = versionOfRevision.get(revision);
  if (known) return known;
  const cm = await env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}-${revision}` }));
  const version = cm ? (JSON.parse(cm.data['config.json'] ?? '{}') as { agent?: { version?: string } }).agent?.version : undefined;
  if (version) versionOfRevision.set(revision, version);
  return version;
}

/** What a node agent on this revision reports: converged, or the install step failing (the package is missing). */
function stateFor(revision: string, version: string, node: string): NodeState {
  const index = NODES.indexOf(node);
  if (version === BROKEN) {
    return { facts: { revision, desiredVersion: version }, steps: [{ step: 'install', status: 'failed', reason: 'NotFound', message: `amazon-ssm-agent ${version}: not found` }], observation: { serviceActive: true } };
  }
  return { facts: { revision, desiredVersion: version }, steps: [{ step: 'install', status: 'ok' }], observation: { serviceActive: true, version, instanceId: `mi-000000000000000${index}`, region: 'us-east-1' } };
}

async function apply(spec: string) {
  const r = await env.kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${CONFIG}}\nspec:\n${spec}`);
  assert.equal(r.code, 0, r.stderr);
}
const spec = (version: string, extra = '') => `  region: us-east-1\n  nodeSelector: {pool: roll}\n  agent: {version: "${version}", source: {mirror: "${mirrorUrl}"}}\n  daemonSet: {maxUnavailable: 1}\n${extra}`;

async function rolloutDone(revision?: string) {
  return waitFor(
    `rollout ${revision ?? ''} complete`,
    async () => {
      const c = await getConfig();
      const r = c?.status?.rollout;
      return r?.state === 'RolloutComplete' && (!revision || r.currentRevision === revision) && c?.status?.observedGeneration === c?.metadata.generation ? c : undefined;
    },
    90_000,
    200,
  );
}

async function events(): Promise<string[]> {
  const list = await env.client.get<KubeList<{ reason: string; involvedObject: { name: string } }>>('/api/v1/namespaces/default/events');
  return list.items.filter((e) => e.involvedObject.name === CONFIG).map((e) => e.reason);
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-rollout-'));
  // An https mirror (a plain-http one needs every version pinned by its sha256), trusted by this process's operator.
  const tls = selfSignedCert(join(work, 'mirror-tls'), { name: 'mirror', commonName: '127.0.0.1', ips: ['127.0.0.1'] });
  setDefaultCACertificates([...getCACertificates('default'), tls.cert]);
  mirror = createServer({ key: tls.key, cert: tls.cert }, (req, res) => (req.url === '/latest/VERSION' ? res.end(`${latest}\n`) : res.writeHead(404).end()));
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
  const address = mirror.address();
  mirrorUrl = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  env = await startOperatorTestEnv();
  for (const node of NODES) await env.createNode(node, { pool: 'roll' });
  const started = await startInProcessOperator(env, { LATEST_VERSION_INTERVAL_SECONDS: '1' });
  operator = started.operator;
  await apply(spec('3.3.1.0'));
  const ca = await waitFor('the fleet CA', () => env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })));
  writeFileSync(join(work, 'ca.crt'), ca.data[FLEET_CA_KEY] ?? '');
  await waitFor('the ServiceAccount', () => env.getOrUndefined(resourcePath(RESOURCES.serviceAccount, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}` })));
  for (const node of NODES) agents.set(node, await connectFakeAgent({ client: env.client, namespace: NAMESPACE, node, config: CONFIG, fleetPort: started.fleetPort, caFile: join(work, 'ca.crt'), workDir: work, log: silent }));
  kubelets = simulateKubelets({
    client: env.client,
    namespace: NAMESPACE,
    labelSelector: `ssmagent.io/config=${CONFIG}`,
    ready: async (_node, revision) => {
      const version = await versionOf(revision);
      return version !== undefined && version !== BROKEN;
    },
    onPass: (pods: SimPod[]) => {
      const snapshot = new Map<string, [string, boolean]>();
      for (const pod of pods) {
        const node = pod.spec.nodeName;
        const revision = pod.metadata.annotations?.['ssmagent.io/revision'];
        if (!node || !revision || pod.metadata.deletionTimestamp) continue;
        const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        snapshot.set(node, [revision, ready]);
        const version = versionOfRevision.get(revision);
        if (version) agents.get(node)?.update(stateFor(revision, version, node));
      }
      timeline.push(snapshot);
    },
  });
});

after(async () => {
  await kubelets?.stop();
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await operator?.stop();
  await env?.stop();
  await new Promise<void>((resolve) => (mirror ? mirror.close(() => resolve()) : resolve()));
  rmSync(work, { recursive: true, force: true });
});

test('the first revision converges on every node; Ready says the fleet converged', async () => {
  const c = await rolloutDone();
  assert.equal(c.status?.rollout?.updated, 3);
  assert.equal(c.status?.rollout?.converged, 3);
  await waitFor('Ready=True', async () => condition(await getConfig(), 'Ready')?.status === 'True', 30_000, 200);
  const ready = await getConfig();
  assert.equal(ready?.status?.agent?.resolvedVersion, '3.3.1.0');
  assert.equal(ready?.status?.nodes?.registered, 3);
  const printed = await env.kubectl(['get', 'sac', CONFIG]);
  assert.match(printed.stdout, /3\.3\.1\.0\s+3\.3\.1\.0\s+RolloutComplete\s+True/, printed.stdout);
});

test('a version change rolls out host by host: never more than one node between revisions', async () => {
  const from = (await currentRevision(env, NAMESPACE, CONFIG)) as string;
  const start = timeline.length;
  await apply(spec('3.3.2.0'));
  const to = await waitFor('a new revision', async () => {
    const r = await currentRevision(env, NAMESPACE, CONFIG);
    return r && r !== from ? r : undefined;
  });
  const done = await rolloutDone(to);
  assert.equal(done.status?.rollout?.previousRevision, from);
  const passes = timeline.slice(start);
  assert.ok(passes.length > 3, 'the rollout was watched');
  for (const [i, snapshot] of passes.entries()) {
    const between = NODES.filter((n) => !snapshot.get(n)?.[1]);
    assert.ok(between.length <= 1, `pass ${i}: ${between.join(', ')} are between revisions at once`);
  }
  // Host by host: the order in which nodes reached the new revision has three distinct steps.
  const reached = NODES.map((n) => passes.findIndex((s) => s.get(n)?.[0] === to && s.get(n)?.[1]));
  assert.equal(new Set(reached).size, 3, `each node converged in its own pass: ${reached.join(', ')}`);
  const reasons = await waitFor('the events', async () => {
    const r = await events();
    return r.includes('RolloutStarted') && r.includes('RolloutComplete') ? r : undefined;
  });
  assert.ok(reasons.includes('RolloutStarted'));
  // The previous revision is kept (rolling back finds it); nothing older is.
  const cms = await env.client.get<KubeList<{ metadata: { labels: Record<string, string> } }>>(`${resourcePath(RESOURCES.configMap, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent(`ssmagent.io/config=${CONFIG},ssmagent.io/revision`)}`);
  await waitFor('only the current and previous revision ConfigMaps', async () => {
    const list = await env.client.get<KubeList<{ metadata: { labels: Record<string, string> } }>>(`${resourcePath(RESOURCES.configMap, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent(`ssmagent.io/config=${CONFIG},ssmagent.io/revision`)}`);
    const revs = list.items.map((i) => i.metadata.labels['ssmagent.io/revision']).sort();
    return revs.length === 2 && revs.includes(from) && revs.includes(to) ? true : undefined;
  });
  assert.ok(cms.items.length >= 2);
});

test('a broken revision halts after one node, names it, leaves the others untouched; fixing the spec resumes', async () => {
  const good = (await currentRevision(env, NAMESPACE, CONFIG)) as string;
  const before = new Map((await env.client.get<KubeList<SimPod>>(`${resourcePath(RESOURCES.pod, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent(`ssmagent.io/config=${CONFIG}`)}`)).items.map((p) => [p.spec.nodeName, p.metadata.uid]));
  await apply(spec(BROKEN));
  const halted = await waitFor(
    'Progressing=False Halted',
    async () => {
      const c = await getConfig();
      return condition(c, 'Progressing')?.reason === 'Halted' ? c : undefined;
    },
    60_000,
    200,
  );
  const message = condition(halted, 'Progressing')?.message ?? '';
  assert.match(message, /r-\d \(NotFound: install: amazon-ssm-agent 9\.9\.9\.9: not found\)/);
  assert.equal(condition(halted, 'Progressing')?.status, 'False');
  assert.equal(condition(halted, 'Ready')?.status, 'False');
  assert.equal(halted.status?.rollout?.failed, 1);
  await waitFor('the DaemonSet to move no further node (OnDelete)', async () => (await getDs())?.spec.updateStrategy.type === 'OnDelete');
  // Give the DaemonSet controller every chance to move another node: it must not.
  const seen = timeline.length;
  await waitFor('a few more kubelet passes', async () => (timeline.length > seen + 10 ? true : undefined), 30_000, 100);
  const pods = (await env.client.get<KubeList<SimPod>>(`${resourcePath(RESOURCES.pod, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent(`ssmagent.io/config=${CONFIG}`)}`)).items.filter((p) => !p.metadata.deletionTimestamp);
  const onGood = pods.filter((p) => p.metadata.annotations?.['ssmagent.io/revision'] === good);
  assert.equal(onGood.length, 2, 'two nodes stay on the good revision');
  for (const p of onGood) assert.equal(p.metadata.uid, before.get(p.spec.nodeName), `${p.spec.nodeName}: the same pod, never restarted`);
  assert.ok((await events()).includes('RolloutHalted'));

  await apply(spec('3.3.3.0'));
  const fixed = await waitFor('a fixed revision', async () => {
    const r = await currentRevision(env, NAMESPACE, CONFIG);
    return r && r !== good && versionOfRevision.get(r) !== BROKEN && (await versionOf(r)) === '3.3.3.0' ? r : undefined;
  });
  await waitFor('RollingUpdate again', async () => (await getDs())?.spec.updateStrategy.type === 'RollingUpdate');
  await rolloutDone(fixed);
});

test('paused: a change reaches no node; unpausing rolls it out', async () => {
  const current = (await currentRevision(env, NAMESPACE, CONFIG)) as string;
  await apply(spec('3.3.4.0', '  rollout: {paused: true}\n'));
  const paused = await waitFor('Paused with a pending revision', async () => {
    const c = await getConfig();
    return c?.status?.rollout?.state === 'Paused' && c.status.rollout.pendingRevision && c.status.observedGeneration === c.metadata.generation ? c : undefined;
  });
  assert.equal(paused.status?.rollout?.currentRevision, current);
  assert.equal(condition(paused, 'Progressing')?.reason, 'Paused');
  assert.equal(await currentRevision(env, NAMESPACE, CONFIG), current, 'the DaemonSet still references the old revision');
  const pending = paused.status?.rollout?.pendingRevision as string;
  assert.equal(await env.getOrUndefined(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}-${pending}` })), undefined, 'the pending revision is not even made');
  await apply(spec('3.3.4.0', '  rollout: {paused: false}\n'));
  await rolloutDone(pending);
});

test('a proxy Secret change rolls out, and its content never appears in a ConfigMap', async () => {
  const secret = (url: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: roll-proxy, namespace: ${NAMESPACE}}\nstringData: {httpsProxy: "${url}"}\n`;
  let r = await env.kubectl(['apply', '-f', '-'], secret('http://user:first-pass@127.0.0.1:3128'));
  assert.equal(r.code, 0, r.stderr);
  await apply(spec('3.3.4.0', '  proxy: {secretRef: {name: roll-proxy}, noProxy: ["127.0.0.1"]}\n'));
  const first = await waitFor('a revision with the proxy Secret', async () => {
    const c = await getConfig();
    return c?.status?.observedGeneration === c?.metadata.generation && c?.status?.rollout?.state === 'RolloutComplete' ? c.status.rollout.currentRevision : undefined;
  }, 90_000, 200);
  r = await env.kubectl(['apply', '-f', '-'], secret('http://user:second-pass@127.0.0.1:3128'));
  assert.equal(r.code, 0, r.stderr);
  const second = await waitFor('a new revision for the new Secret', async () => {
    const rev = await currentRevision(env, NAMESPACE, CONFIG);
    return rev && rev !== first ? rev : undefined;
  });
  await rolloutDone(second);
  const cms = await env.client.get<KubeList<unknown>>(`${resourcePath(RESOURCES.configMap, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent(`ssmagent.io/config=${CONFIG}`)}`);
  assert.doesNotMatch(JSON.stringify(cms), /first-pass|second-pass/);
  const ds = await getDs();
  assert.doesNotMatch(JSON.stringify(ds), /first-pass|second-pass/);
});

test('"latest" is resolved once by the operator, written into the revision, and a new release rolls out gated', async () => {
  await apply(spec('latest', '  proxy: {secretRef: {name: roll-proxy}, noProxy: ["127.0.0.1"]}\n'));
  const resolved = await waitFor('latest resolved', async () => {
    const c = await getConfig();
    return c?.status?.agent?.resolvedVersion === latest && c.status.rollout?.state === 'RolloutComplete' ? c : undefined;
  }, 90_000, 200);
  const rev = resolved.status?.rollout?.currentRevision as string;
  assert.equal(await versionOf(rev), latest, 'the revision carries the resolved version, not "latest"');
  const start = timeline.length;
  latest = '3.3.51.0';
  const next = await waitFor('the new release as a new revision', async () => {
    const r = await currentRevision(env, NAMESPACE, CONFIG);
    return r && r !== rev && (await versionOf(r)) === '3.3.51.0' ? r : undefined;
  }, 30_000, 200);
  await rolloutDone(next);
  for (const snapshot of timeline.slice(start)) assert.ok(NODES.filter((n) => !snapshot.get(n)?.[1]).length <= 1, 'gated like a pin change');
  const c = await getConfig();
  assert.equal(c?.status?.agent?.resolvedVersion, '3.3.51.0');

  // A latest/VERSION that goes backwards (a rolled-back or replayed file) is not followed: no new revision, and
  // status says why and how to downgrade on purpose.
  latest = '3.3.49.0';
  const refused = await waitFor('status naming the refused downgrade', async () => {
    const got = await getConfig();
    return /older than 3\.3\.51\.0/.test(got?.status?.agent?.message ?? '') ? got : undefined;
  }, 30_000, 200);
  assert.match(refused.status?.agent?.message ?? '', /"latest" now says 3\.3\.49\.0.*pin spec\.agent\.version to 3\.3\.49\.0/);
  assert.equal(refused.status?.agent?.resolvedVersion, '3.3.51.0');
  assert.equal(await currentRevision(env, NAMESPACE, CONFIG), next, 'the fleet stays on its revision');
  assert.equal(await versionOf(next), '3.3.51.0');
});
