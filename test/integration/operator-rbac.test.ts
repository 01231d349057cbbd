// The operator's RBAC is what it calls and nothing more, proved on a real kube-apiserver: the chart rendered by the
// real helm and applied; `kubectl auth can-i` as the chart's ServiceAccount for what the operator needs (allowed)
// and for what it must never do (denied); then the operator itself, authenticated with a token of that
// ServiceAccount, runs a config through its whole life (finalizer, revisions, status, events, lease, fleet TLS,
// a managed activation, prune, deletion) without one request refused.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { FLEET_CA_CONFIGMAP, FLEET_TLS_SECRET } from '../../operator/manifests/names.ts';
import type { KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { installChart, RELEASE, type InstalledChart } from '../harness/chart-rbac.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { startSsmForOperator, type SsmForOperator } from '../harness/ssm-for-operator.ts';
import { waitFor } from '../harness/wait.ts';

const LEASE = 'ssm-agent-operator-leader';
const CONFIG = 'rbac-proof';
let env: OperatorTestEnv;
let chart: InstalledChart;
let ssm: SsmForOperator | undefined;
let operator: Operator | undefined;
const logLines: string[] = [];

before(async () => {
  env = await startOperatorTestEnv();
  await env.createNode('rbac-node-1', { pool: 'rbac' });
  chart = await installChart(env.cp, NAMESPACE);
});

after(async () => {
  await operator?.stop();
  await env?.stop();
  await ssm?.stop();
});

/**
 * `kubectl auth can-i`'s question, asked as a SubjectAccessReview of the chart's ServiceAccount (the same
 * authorizer, without a kubectl process per question). args: VERB RESOURCE[.GROUP][/NAME] [-n NS] [--subresource=S].
 */
async function can(args: string[]): Promise<boolean> {
  const [verb, target = ''] = args;
  const nsAt = args.indexOf('-n');
  const namespace = nsAt >= 0 ? args[nsAt + 1] : undefined;
  const subresource = args.find((a) => a.startsWith('--subresource='))?.slice('--subresource='.length);
  const [typed = '', name] = target.split('/');
  const dot = typed.indexOf('.');
  const resource = dot < 0 ? typed : typed.slice(0, dot);
  const group = dot < 0 ? '' : typed.slice(dot + 1);
  const review = await env.client.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: chart.user,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`, 'system:authenticated'],
        resourceAttributes: { verb, group, resource, ...(name ? { name } : {}), ...(namespace ? { namespace } : {}), ...(subresource ? { subresource } : {}) },
      },
    },
  });
  return review.status?.allowed === true;
}

const ns = ['-n', NAMESPACE];

test('the chart grants the operator what it calls', async () => {
  const needed: string[][] = [
    // Its own API: informer, finalizer and annotation patches, server-side-applied status; ownerReferences with
    // blockOwnerDeletion need update on the finalizers subresource where that admission plugin is on.
    ['list', 'ssmagentconfigs.ssmagent.io'],
    ['watch', 'ssmagentconfigs.ssmagent.io'],
    ['get', 'ssmagentconfigs.ssmagent.io'],
    ['patch', 'ssmagentconfigs.ssmagent.io'],
    ['patch', 'ssmagentconfigs.ssmagent.io', '--subresource=status'],
    ['update', 'ssmagentconfigs.ssmagent.io', '--subresource=finalizers'],
    // Nodes: selection (informer) and the per-node SSM annotations.
    ['list', 'nodes'],
    ['watch', 'nodes'],
    ['patch', 'nodes'],
    ['get', 'namespaces/kube-system'],
    ['create', 'tokenreviews.authentication.k8s.io'],
    // What it owns per config, in its namespace: server-side apply (create + patch), prune (delete), informers.
    ...['daemonsets.apps', 'serviceaccounts', 'configmaps'].flatMap((r) => ['list', 'watch', 'create', 'patch', 'delete'].map((v) => [v, r, ...ns])),
    // Secrets: the referenced-inputs informer (digests), activation Secrets (server-side apply), the fleet TLS key.
    ...['get', 'list', 'watch', 'create', 'patch'].map((v) => [v, 'secrets', ...ns]),
    ['update', `secrets/${FLEET_TLS_SECRET}`, ...ns],
    ['update', `configmaps/${FLEET_CA_CONFIGMAP}`, ...ns],
    ['get', `configmaps/${FLEET_CA_CONFIGMAP}`, ...ns],
    ['get', 'configmaps/a-mirror-ca-bundle', ...ns],
    ['get', `services/${RELEASE}`, ...ns],
    // The fleet Service: its ClusterIP is what the node agents dial and what the fleet certificate names.
    ['get', `services/${RELEASE}-fleet`, ...ns],
    ...['get', 'list', 'watch'].map((v) => [v, 'pods', ...ns]),
    ['create', 'leases.coordination.k8s.io', ...ns],
    ...['get', 'update', 'patch'].map((v) => [v, `leases.coordination.k8s.io/${LEASE}`, ...ns]),
    // Events of cluster-scoped SsmAgentConfigs live in "default".
    ['create', 'events', '-n', 'default'],
  ];
  const missing: string[] = [];
  for (const args of needed) if (!(await can(args))) missing.push(args.join(' '));
  assert.deepEqual(missing, [], 'needed and not granted');
});

test('the chart denies what the operator must never do', async () => {
  const forbidden: string[][] = [
    // RBAC of any kind: the per-config node-agent ClusterRole is gone, so nothing justifies it.
    ...['create', 'update', 'patch', 'delete', 'list'].flatMap((v) => [
      [v, 'clusterroles.rbac.authorization.k8s.io'],
      [v, 'clusterrolebindings.rbac.authorization.k8s.io'],
    ]),
    ['create', 'roles.rbac.authorization.k8s.io', ...ns],
    ['create', 'rolebindings.rbac.authorization.k8s.io', ...ns],
    ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
    ['bind', 'clusterroles.rbac.authorization.k8s.io'],
    ['impersonate', 'serviceaccounts', ...ns],
    ['impersonate', 'users'],
    // Secrets outside its namespace, and more than it uses inside.
    ['get', 'secrets', '-n', 'default'],
    ['get', 'secrets', '-n', 'kube-system'],
    ['list', 'secrets'], // no namespace: cluster-wide
    ['delete', 'secrets', ...ns],
    ['update', 'secrets/some-user-secret', ...ns],
    ['update', 'configmaps/some-user-configmap', ...ns],
    // Nodes: annotate, never change or remove.
    ['delete', 'nodes'],
    ['update', 'nodes'],
    ['create', 'nodes'],
    ['patch', 'nodes', '--subresource=status'],
    // Workloads anywhere else, and pods it would run itself.
    ['create', 'daemonsets.apps', '-n', 'default'],
    ['create', 'daemonsets.apps', '-n', 'kube-system'],
    ['create', 'pods', ...ns],
    ['delete', 'pods', ...ns],
    ['create', 'pods/exec', ...ns],
    ['create', 'deployments.apps', ...ns],
    // Its Service and Lease are the chart's and its own: nothing else.
    ['create', 'services', ...ns],
    ['get', 'services/another-service', ...ns],
    ['update', 'leases.coordination.k8s.io/another-lease', ...ns],
    ['delete', 'leases.coordination.k8s.io', ...ns],
    ['list', 'leases.coordination.k8s.io', ...ns],
    // Events only where its configs' events go.
    ['create', 'events', '-n', 'kube-system'],
    ['create', 'events', ...ns],
    ['create', 'events.events.k8s.io', '-n', 'default'],
    // Configs are made by cluster admins.
    ['create', 'ssmagentconfigs.ssmagent.io'],
    ['delete', 'ssmagentconfigs.ssmagent.io'],
    ['update', 'ssmagentconfigs.ssmagent.io'],
    // Namespaces other than kube-system's identity.
    ['get', 'namespaces/default'],
    ['list', 'namespaces'],
    ['get', 'customresourcedefinitions.apiextensions.k8s.io'],
  ];
  const granted: string[] = [];
  for (const args of forbidden) if (await can(args)) granted.push(args.join(' '));
  assert.deepEqual(granted, [], 'granted and never needed');
});

test('the operator, authenticated as the chart ServiceAccount, runs a config through its whole life with no request refused', { timeout: 5 * 60_000 }, async (t) => {
  t.after(() => {
    for (const l of logLines.filter((x) => /"level":(40|50)/.test(x)).slice(-30)) t.diagnostic(l.slice(0, 600));
  });
  ssm = await startSsmForOperator('eu-west-1');
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  ({ operator } = await startInProcessOperator(
    env,
    { LEADER_ELECTION: 'true', POD_NAME: 'rbac-operator-0', CLUSTER_NAME: '', OPERATOR_SERVICE_NAME: RELEASE, ...ssm.settings },
    { kubeConfig: await chart.kubeConfig(), log: pino({ level: 'debug' }, sink) },
  ));
  const configPath = resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG });
  const spec = (interval: string) => `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${CONFIG}}
spec:
  region: eu-west-1
  nodeSelector: {pool: rbac}
  connectivity: {interval: ${interval}}
  registration:
    mode: Hybrid
    activation:
      managed: {iamRole: SSMServiceRole}
`;
  const apply = async (yaml: string) => {
    const r = await env.kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], yaml);
    assert.equal(r.code, 0, r.stderr);
  };
  await apply(spec('60s'));
  const config = await waitFor(
    'status with the activation and the DaemonSet',
    async () => {
      const c = await env.getOrUndefined<SsmAgentConfig>(configPath);
      const ready = c?.status?.conditions?.find((x) => x.type === 'ActivationReady')?.status === 'True';
      return ready && c?.status?.nodes?.desired === 1 && c.status.observedGeneration === c.metadata.generation ? c : undefined;
    },
    90_000,
  );
  assert.deepEqual(config.metadata.finalizers, ['ssmagent.io/cleanup']);
  const ds = await env.getOrUndefined<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(
    resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}` }),
  );
  const firstRevision = ds?.spec.template.metadata.annotations['ssmagent.io/revision'] ?? '';
  assert.match(firstRevision, /^[0-9a-f]{10}$/);
  assert.ok(await env.getOrUndefined(resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name: `ssm-activation-${CONFIG}` })), 'the activation Secret');

  // What it makes for itself, tied to the chart's Service (get on that one Service, patch on its own objects).
  type Owned = { metadata: { ownerReferences?: { kind: string; name: string }[] }; spec?: { holderIdentity?: string } };
  const ownedByService = (o: Owned | undefined) => o?.metadata.ownerReferences?.some((r) => r.kind === 'Service' && r.name === RELEASE) === true;
  const lease = await waitFor('the Lease, owned by the Service', async () => {
    const l = await env.getOrUndefined<Owned>(resourcePath(RESOURCES.lease, { namespace: NAMESPACE, name: LEASE }));
    return ownedByService(l) ? l : undefined;
  });
  assert.equal(lease.spec?.holderIdentity, 'rbac-operator-0');
  for (const path of [resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name: FLEET_TLS_SECRET }), resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })]) {
    await waitFor(`${path}, owned by the Service`, async () => ownedByService(await env.getOrUndefined<Owned>(path)));
  }
  const events = await env.client.get<KubeList<{ reason: string; involvedObject: { name: string } }>>('/api/v1/namespaces/default/events');
  assert.ok(events.items.some((e) => e.involvedObject.name === CONFIG && e.reason === 'DaemonSetApplied'), 'an Event was recorded');

  // A spec change: a new revision, applied beside the old one (kept for a rollback).
  await apply(spec('90s'));
  await waitFor('the new revision', async () => {
    const cms = await env.client.get<KubeList<{ metadata: { name: string } }>>(
      `${resourcePath(RESOURCES.configMap, { namespace: NAMESPACE })}?labelSelector=${encodeURIComponent(`ssmagent.io/config=${CONFIG}`)}`,
    );
    return cms.items.some((c) => c.metadata.name !== `ssm-node-agent-${CONFIG}-${firstRevision}`);
  }, 60_000);

  // Deletion: the finalizer deletes what the config owns and the activation, then lets it go.
  const del = await env.kubectl(['delete', 'sac', CONFIG, '--timeout=90s']);
  assert.equal(del.code, 0, del.stderr);
  for (const path of [
    resourcePath(RESOURCES.serviceAccount, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}` }),
    resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}` }),
  ]) {
    assert.equal(await env.getOrUndefined(path), undefined, `${path} deleted by the finalizer`);
  }
  assert.equal(ssm.emulator.state.activations().length, 0, 'the managed activation deleted in SSM');

  const refused = logLines.filter((l) => /forbidden|\b403\b/i.test(l));
  assert.deepEqual(refused, [], 'no request of the operator was refused');
  assert.ok(logLines.some((l) => l.includes('became leader')), 'the log was captured');
});
