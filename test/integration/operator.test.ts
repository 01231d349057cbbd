// The operator against a real kube-apiserver, etcd and DaemonSet controller, with exactly the chart's RBAC: the
// chart is rendered by the real helm and applied, and the operator authenticates as the chart's ServiceAccount.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { installChart } from '../harness/chart-rbac.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { reconcilesByResult, sumReconciles } from '../harness/operator-process.ts';
import { waitFor } from '../harness/wait.ts';

type DaemonSet = {
  metadata: { uid: string; generation: number };
  spec: { template: { metadata: { annotations: Record<string, string> }; spec: { hostPID: boolean; hostNetwork: boolean; nodeSelector?: Record<string, string>; containers: { image: string; securityContext: { privileged: boolean } }[] } } };
  status?: { desiredNumberScheduled?: number };
};

let env: OperatorTestEnv;
let operator: Operator;
let metricsUrl: string;

const dsPath = (config: string) => resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: `ssm-node-agent-${config}` });
const configPath = (name: string) => resourcePath(RESOURCES.ssmAgentConfig, { name });
const getConfig = (name: string) => env.getOrUndefined<SsmAgentConfig>(configPath(name));
const condition = (c: SsmAgentConfig | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);

async function apply(yaml: string) {
  const r = await env.kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], yaml);
  assert.equal(r.code, 0, r.stderr);
}

async function reconcileCount(): Promise<number> {
  return sumReconciles(reconcilesByResult(await (await fetch(metricsUrl)).text()));
}

/** The pool-a config, in one region or another. */
const poolA = (region: string) => `
apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: pool-a}
spec:
  region: ${region}
  nodeSelector: {pool: a}
  daemonSet: {maxUnavailable: 2}
`;

before(async () => {
  env = await startOperatorTestEnv();
  for (const [name, pool] of [['node-a1', 'a'], ['node-a2', 'a'], ['node-b1', 'b']] as const) await env.createNode(name, { pool });
  const chart = await installChart(env.cp, NAMESPACE);
  ({ operator, metricsUrl } = await startInProcessOperator(env, {}, { kubeConfig: await chart.kubeConfig() }));
});

after(async () => {
  await operator?.stop();
  await env?.stop();
});

test('a new config gets its DaemonSet, ServiceAccount, ConfigMap and a finalizer (no RBAC object), and status from the real DaemonSet', async () => {
  await apply(poolA('us-east-1'));
  const ds = await waitFor('the DaemonSet', () => env.getOrUndefined<DaemonSet>(dsPath('pool-a')));
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostPID, true);
  assert.equal(pod.hostNetwork, true);
  assert.deepEqual(pod.nodeSelector, { pool: 'a' });
  assert.equal(pod.containers[0]?.securityContext.privileged, true);
  assert.equal(pod.containers[0]?.image, 'example.com/ssm-agent-operator:test');
  const revision = ds.spec.template.metadata.annotations['ssmagent.io/revision'] ?? '';
  assert.match(revision, /^[0-9a-f]{10}$/);
  for (const path of [
    resourcePath(RESOURCES.serviceAccount, { namespace: NAMESPACE, name: 'ssm-node-agent-pool-a' }),
    resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: `ssm-node-agent-pool-a-${revision}` }),
  ]) {
    assert.ok(await env.getOrUndefined(path), `${path} exists`);
  }
  // The node agent never calls the API: no role is made for it (and the operator may not make one).
  for (const kind of ['clusterroles', 'clusterrolebindings']) {
    const found = await env.client.get<KubeList<unknown>>(`/apis/rbac.authorization.k8s.io/v1/${kind}?labelSelector=${encodeURIComponent('ssmagent.io/config')}`);
    assert.equal(found.items.length, 0, `no ${kind}`);
  }
  const config = await waitFor('status with 2 desired nodes', async () => {
    const c = await getConfig('pool-a');
    return c?.status?.nodes?.desired === 2 && c.status.observedGeneration === c.metadata.generation ? c : undefined;
  });
  assert.deepEqual(config.metadata.finalizers, ['ssmagent.io/cleanup']);
  // No kubelet runs here, so the pods never become available: the status must say so rather than claim Ready.
  assert.equal(condition(config, 'Ready')?.status, 'False');
  assert.equal(condition(config, 'Conflicted')?.status, 'False');
  const printed = await env.kubectl(['get', 'sac', 'pool-a']);
  assert.match(printed.stdout, /REGION\s+DESIRED\s+REGISTERED\s+ONLINE\s+VERSION\s+RESOLVED\s+ROLLOUT\s+READY\s+AGE/);
  assert.match(printed.stdout, /pool-a\s+us-east-1\s+2\s+/);
});

test('a spec change updates the DaemonSet to a new immutable revision', async () => {
  const before = await waitFor('the DaemonSet', () => env.getOrUndefined<DaemonSet>(dsPath('pool-a')));
  await apply(poolA('eu-west-1'));
  const updated = await waitFor('a new revision', async () => {
    const ds = await env.getOrUndefined<DaemonSet>(dsPath('pool-a'));
    const rev = ds?.spec.template.metadata.annotations['ssmagent.io/revision'];
    return rev && rev !== before.spec.template.metadata.annotations['ssmagent.io/revision'] ? ds : undefined;
  });
  assert.equal(updated.metadata.uid, before.metadata.uid, 'updated in place, not recreated');
  const revision = updated.spec.template.metadata.annotations['ssmagent.io/revision'];
  const cm = await env.getOrUndefined<{ immutable?: boolean; data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: `ssm-node-agent-pool-a-${revision}` }));
  assert.equal(cm?.immutable, true);
  assert.match(cm?.data['config.json'] ?? '', /"region": "eu-west-1"/);
  assert.match(cm?.data['config.json'] ?? '', /ec2messages\.eu-west-1\.amazonaws\.com/);
});

test('a DaemonSet deleted by hand is restored, and one edited by hand is set right', async () => {
  const original = await waitFor('the DaemonSet', () => env.getOrUndefined<DaemonSet>(dsPath('pool-a')));
  const del = await env.kubectl(['delete', 'daemonset', '-n', NAMESPACE, 'ssm-node-agent-pool-a', '--wait=false']);
  assert.equal(del.code, 0, del.stderr);
  await waitFor('a new DaemonSet', async () => {
    const ds = await env.getOrUndefined<DaemonSet>(dsPath('pool-a'));
    return ds && ds.metadata.uid !== original.metadata.uid ? ds : undefined;
  });
  const patch = await env.kubectl(['patch', 'daemonset', '-n', NAMESPACE, 'ssm-node-agent-pool-a', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/hostPID","value":false}]']);
  assert.equal(patch.code, 0, patch.stderr);
  await waitFor('hostPID restored', async () => (await env.getOrUndefined<DaemonSet>(dsPath('pool-a')))?.spec.template.spec.hostPID === true);
});

test('a newer config that overlaps an older one is Conflicted, names both, and gets no DaemonSet', async () => {
  await apply(`
apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: everything}
spec: {region: us-east-1}
`);
  const conflicted = await waitFor('Conflicted=True', async () => {
    const c = await getConfig('everything');
    return condition(c, 'Conflicted')?.status === 'True' ? c : undefined;
  });
  const message = condition(conflicted, 'Conflicted')?.message ?? '';
  assert.match(message, /"pool-a"/);
  assert.match(message, /node-a1, node-a2/);
  assert.equal(condition(conflicted, 'Ready')?.reason, 'Conflicted');
  assert.equal(await env.getOrUndefined(dsPath('everything')), undefined);
  assert.equal(condition(await getConfig('pool-a'), 'Conflicted')?.status, 'False', 'the older config is untouched');
  const events = await env.client.get<KubeList<{ reason: string; involvedObject: { name: string } }>>('/api/v1/namespaces/default/events');
  assert.ok(events.items.some((e) => e.reason === 'Conflicted' && e.involvedObject.name === 'everything'), 'a Warning event is raised');

  // Narrowing the newer config resolves the conflict and its DaemonSet appears.
  await apply(`
apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: everything}
spec: {region: us-east-1, nodeSelector: {pool: b}}
`);
  await waitFor('the conflict to resolve', async () => condition(await getConfig('everything'), 'Conflicted')?.status === 'False');
  await waitFor('its DaemonSet', () => env.getOrUndefined(dsPath('everything')));
});

test('deleting a config runs the finalizer and removes everything it owned', async () => {
  const del = await env.kubectl(['delete', 'sac', 'everything', '--timeout=30s']);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(await getConfig('everything'), undefined);
  for (const path of [
    dsPath('everything'),
    resourcePath(RESOURCES.serviceAccount, { namespace: NAMESPACE, name: 'ssm-node-agent-everything' }),
  ]) {
    await waitFor(`${path} to go`, async () => (await env.getOrUndefined(path)) === undefined);
  }
  const revisions = await env.client.get<KubeList<unknown>>(`${resourcePath(RESOURCES.configMap, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent('ssmagent.io/config=everything')}`);
  assert.equal(revisions.items.length, 0, 'its revision ConfigMaps went too');
});

test('the informers survive an apiserver restart and reconciles resume', async () => {
  await env.cp.stopApiServer();
  await new Promise((r) => setTimeout(r, 3_000));
  await env.cp.startApiServer();
  await apply(`
apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: after-restart}
spec: {region: us-west-2, nodeSelector: {pool: b}}
`);
  await waitFor('a DaemonSet made after the restart', () => env.getOrUndefined(dsPath('after-restart')), 60_000);
  const restarts = (await (await fetch(metricsUrl)).text()).match(/ssm_operator_informer_restarts_total\{[^}]*\} (\d+)/g) ?? [];
  assert.ok(restarts.length > 0, 'informer restarts were counted');
});

test('no reconcile loop: a quiet cluster causes no reconciles', async () => {
  // Let the previous test's writes and the DaemonSet controller's pod creation settle, then count.
  await waitFor('status of after-restart', async () => (await getConfig('after-restart'))?.status?.nodes?.desired === 1);
  await waitFor('the DaemonSet controller to settle', async () => {
    const ds = await env.getOrUndefined<DaemonSet & { status?: { currentNumberScheduled?: number; observedGeneration?: number } }>(dsPath('after-restart'));
    return ds?.status?.currentNumberScheduled === 1 && ds.status.observedGeneration === ds.metadata.generation;
  });
  await new Promise((r) => setTimeout(r, 3_000));
  const start = await reconcileCount();
  await new Promise((r) => setTimeout(r, 8_000));
  const end = await reconcileCount();
  assert.equal(end - start, 0, `reconciles during a quiet period: ${end - start}`);
});

test("the operator's /metrics passes promtool check metrics and carries the contract names", async () => {
  const text = await (await fetch(metricsUrl)).text();
  for (const name of ['ssm_operator_reconcile_total', 'ssm_operator_reconcile_duration_seconds', 'ssm_operator_nodes', 'ssm_operator_workqueue_depth']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
  }
  assert.match(text, /^ssm_operator_nodes\{config="after-restart",state="desired"\} 1$/m);
  const { execFileSync } = await import('node:child_process');
  assert.doesNotThrow(() => execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] }));
});
