// Only the leader receives node agents: the fleet Service has no selector, and the replica that starts the fleet
// channel (the leader) writes the Service's EndpointSlice with its own pod address; a new leader overwrites it; a
// stopping leader empties it only while it still names itself. Against a real kube-apiserver (which validates the
// slice) with the operator's RBAC for it exactly as the chart grants it (charts/…/templates/role.yaml).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { FleetStore } from '../../operator/fleet/fleet-store.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { startFleet, type FleetWiring } from '../../operator/manager/fleet-wiring.ts';
import type { FleetEndpointSlice } from '../../operator/manifests/fleet-endpointslice.ts';
import { requestToken } from '../harness/node-agent-identity.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';

const SERVICE = 'ssm-agent-operator';
const FLEET_SERVICE = 'ssm-agent-operator-fleet';
const slicePath = `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices/${FLEET_SERVICE}`;
let env: OperatorTestEnv;
let operator: KubeClient;
let fleetClusterIP = '';
const started: FleetWiring[] = [];

async function post(path: string, body: unknown): Promise<unknown> {
  return env.client.request('POST', path, { body });
}

before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
  for (const [name, selector] of [
    [SERVICE, { app: 'operator' }],
    [FLEET_SERVICE, undefined],
  ] as const) {
    await post(`/api/v1/namespaces/${NAMESPACE}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name },
      spec: { type: 'ClusterIP', ...(selector ? { selector } : {}), ports: [{ name: 'fleet', port: 8443, protocol: 'TCP' }] },
    });
  }
  const svc = (await env.client.get(`/api/v1/namespaces/${NAMESPACE}/services/${FLEET_SERVICE}`)) as { spec: { clusterIP: string } };
  fleetClusterIP = svc.spec.clusterIP;
  // The operator's ServiceAccount with what the fleet channel needs, the EndpointSlice rules as in the chart.
  await post(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'operator' } });
  await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'fleet-route-test' },
    rules: [
      { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['create'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], resourceNames: [FLEET_SERVICE], verbs: ['get', 'update'] },
    ],
  });
  await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'fleet-route-test' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'fleet-route-test' },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NAMESPACE }],
  });
  const token = await requestToken(env.client, NAMESPACE, 'operator', undefined, []);
  operator = new KubeClient(env.cp.kubeConfigForToken(token, 'operator'));
});

after(async () => {
  await Promise.all(started.map((f) => f.stop()));
  operator?.close();
  await env?.stop();
});

function leader(podIp: string, podName: string): Promise<FleetWiring> {
  return startFleet({
    client: operator,
    namespace: NAMESPACE,
    serviceName: SERVICE,
    fleetServiceName: FLEET_SERVICE,
    podIp,
    podName,
    port: 0,
    log: pino({ level: 'silent' }),
    registry: new Registry(),
    store: new FleetStore(() => undefined),
    nodeMeta: () => undefined,
  }).then((f) => (started.push(f), f));
}

const slice = () => env.client.get<FleetEndpointSlice>(slicePath);

test('the leader routes the fleet Service to itself; agents dial the fleet Service’s ClusterIP', async () => {
  const a = await leader('10.0.0.1', 'operator-a');
  assert.equal(a.endpoint, `${fleetClusterIP}:${a.server.port}`);
  const s = await slice();
  assert.deepEqual(s.metadata.labels, { 'kubernetes.io/service-name': FLEET_SERVICE, 'endpointslice.kubernetes.io/managed-by': 'ssmagent.io-operator' });
  assert.equal(s.addressType, 'IPv4');
  assert.deepEqual(s.ports, [{ name: 'fleet', port: a.server.port, protocol: 'TCP' }]);
  assert.deepEqual(
    s.endpoints.map((e) => [e.addresses, e.conditions.ready, e.targetRef?.name]),
    [[['10.0.0.1'], true, 'operator-a']],
  );
});

test('a new leader takes the route over; the old one, stopping late, leaves it alone; the last one empties it', async () => {
  const [a] = started;
  assert.ok(a);
  const b = await leader('10.0.0.2', 'operator-b');
  assert.deepEqual((await slice()).endpoints.map((e) => e.addresses), [['10.0.0.2']]);
  await a.stop();
  assert.deepEqual((await slice()).endpoints.map((e) => e.addresses), [['10.0.0.2']], 'a stopping old leader does not remove the new one');
  await b.stop();
  assert.deepEqual((await slice()).endpoints ?? [], [], 'a stopping leader takes itself out before it closes');
});
