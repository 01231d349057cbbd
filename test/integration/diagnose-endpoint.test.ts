// The operator's diagnosis endpoint against a real kube-apiserver: real ServiceAccount tokens reviewed with real
// TokenReviews, real SubjectAccessReviews against real RBAC (the custom verb `diagnose`), the real fleet server and
// a real node agent's fleet client, whose probe-now answer is a real probe of a loopback server. The operator side
// runs with least privilege, so the RBAC the chart must grant (tokenreviews, subjectaccessreviews) is checked too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent, fetch } from 'undici';
import { FleetClient } from '../../node-agent/fleet/client.ts';
import { stateFromProbes } from '../../node-agent/fleet/report.ts';
import { probeEndpoint } from '../../node-agent/probes/probe-endpoint.ts';
import { FLEET_TOKEN_AUDIENCE } from '../../operator/api/group.ts';
import { FreshProbes } from '../../operator/diagnose/fresh-probes.ts';
import { CALLER_TOKEN_HEADER, DIAGNOSE_PATH, type NodeDiagnosis, type NodeSummary } from '../../operator/diagnose/report.ts';
import { DiagnoseServer } from '../../operator/diagnose/server.ts';
import { FleetStore } from '../../operator/fleet/fleet-store.ts';
import { FLEET_PATH } from '../../operator/api/fleet-protocol.ts';
import { FleetServer } from '../../operator/fleet/server.ts';
import { ensureFleetTls } from '../../operator/fleet/tls.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

const quiet = pino({ level: 'silent' });
const NODE_AGENT_SA = 'ssm-node-agent-fleet';
let env: OperatorTestEnv;
let dir: string;
let operatorClient: KubeClient;
let fleet: FleetServer;
let diagnose: DiagnoseServer;
let agent: FleetClient;
let target: Server;
let dispatcher: Agent;
const tokens: Record<string, string> = {};
let probesRun = 0;

const post = <T>(path: string, body: unknown) => env.client.request<T>('POST', path, { body });

async function serviceAccountToken(namespace: string, name: string, audiences: string[], pod?: { name: string; uid: string }): Promise<string> {
  await post(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } }).catch(() => undefined);
  const r = await post<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { audiences, expirationSeconds: 3600, ...(pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid } } : {}) },
  });
  return r.status.token;
}

async function bind(name: string, rules: object[], subject: { name: string; namespace: string }): Promise<void> {
  await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', ...subject }],
  });
}

async function ask(path: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`https://127.0.0.1:${diagnose.port}${path}`, { headers: token ? { [CALLER_TOKEN_HEADER]: `Bearer ${token}` } : {}, dispatcher });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
  dir = mkdtempSync(join(tmpdir(), 'ssm-diagnose-endpoint-'));
  await env.createNode('node-a');
  await env.createNode('node-b', { 'eks.amazonaws.com/compute-type': 'hybrid' });
  // The operator: only what the fleet channel and the diagnosis endpoint need (as the chart's ClusterRole grants).
  await bind(
    'diagnose-test-operator',
    [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets', 'configmaps', 'pods'], verbs: ['get', 'create', 'update'] },
    ],
    { name: 'operator', namespace: NAMESPACE },
  );
  operatorClient = new KubeClient(env.cp.kubeConfigForToken(await serviceAccountToken(NAMESPACE, 'operator', []), 'operator'));
  // People: alice may diagnose (examples/rbac/diagnose.yaml's verb), bob may read configs but not diagnose them.
  tokens.alice = await serviceAccountToken('default', 'alice', []);
  tokens.bob = await serviceAccountToken('default', 'bob', []);
  await bind('diagnose-test-alice', [{ apiGroups: ['ssmagent.io'], resources: ['ssmagentconfigs'], verbs: ['get', 'list', 'diagnose'] }], { name: 'alice', namespace: 'default' });
  await bind('diagnose-test-bob', [{ apiGroups: ['ssmagent.io'], resources: ['ssmagentconfigs'], verbs: ['get', 'list'] }], { name: 'bob', namespace: 'default' });

  const tls = await ensureFleetTls(operatorClient, { namespace: NAMESPACE, serviceName: 'ssm-agent-operator', clusterIP: '127.0.0.1' });
  const store = new FleetStore(() => undefined);
  const fresh = new FreshProbes();
  fleet = await FleetServer.start({
    client: operatorClient,
    namespace: NAMESPACE,
    tls: tls.certs.serving,
    port: 0,
    host: '127.0.0.1',
    log: quiet,
    registry: new Registry(),
    onState: (node, state, update) => {
      store.update(node, update.config, state);
      fresh.observe(node, state, update.sections, update.nodeAgentVersion);
    },
    onDisconnect: (node) => store.disconnect(node),
  });
  diagnose = await DiagnoseServer.start({
    client: operatorClient,
    log: quiet,
    tls: tls.certs.serving,
    port: 0,
    host: '127.0.0.1',
    fleet,
    fresh,
    report: (node) => {
      const e = store.get(node);
      return e ? { config: e.config, state: e.state, connected: e.connected } : undefined;
    },
    nodes: () => [
      { name: 'node-a', meta: {} },
      { name: 'node-b', meta: { labels: { 'eks.amazonaws.com/compute-type': 'hybrid' } } },
    ],
  });
  dispatcher = new Agent({ connect: { ca: tls.certs.ca.cert, servername: 'ssm-agent-operator.ssm-system.svc' } });

  // The node agent of node-a: its probes are real probes of a loopback server that speaks HTTP, not TLS.
  target = createServer((_req, res) => res.end('not TLS')).listen(0, '127.0.0.1');
  await new Promise((r) => target.once('listening', r));
  const pod = await post<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NAMESPACE}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'agent-a' },
    spec: { nodeName: 'node-a', serviceAccountName: NODE_AGENT_SA, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'example.invalid/x:1' }] },
  }).catch(async () => {
    await post(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NODE_AGENT_SA } });
    return post<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NAMESPACE}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent-a' },
      spec: { nodeName: 'node-a', serviceAccountName: NODE_AGENT_SA, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'example.invalid/x:1' }] },
    });
  });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, await serviceAccountToken(NAMESPACE, NODE_AGENT_SA, [FLEET_TOKEN_AUDIENCE], { name: 'agent-a', uid: pod.metadata.uid }));
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, tls.certs.ca.cert);
  const probeOnce = async () => {
    const r = await probeEndpoint({ name: 'ssm', host: '127.0.0.1', port: (target.address() as AddressInfo).port }, { timeoutMs: 3_000, noProxy: [] });
    probesRun++;
    return stateFromProbes([r]);
  };
  agent = new FleetClient({
    url: `wss://127.0.0.1:${fleet.port}${FLEET_PATH}`,
    tokenFile,
    caFile,
    nodeName: 'node-a',
    configName: 'fleet',
    nodeAgentVersion: '0.1.0',
    log: quiet,
    initialState: {
      facts: { os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' }, arch: 'amd64', packageManager: 'dpkg', ec2: false },
      observation: { serviceActive: true, version: '3.3.1142.0', instanceId: 'mi-0123456789abcdef0', region: 'eu-west-1' },
      steps: [{ step: 'detect', status: 'ok' }],
      ...(await probeOnce()),
    },
    // As node-agent/main.ts does: a requested round is reported even when nothing changed.
    onProbeNow: () => void probeOnce().then((s) => agent.update(s, { force: true })),
  });
  agent.start();
  await waitFor('node-a connected', () => fleet.connectedNodes().includes('node-a'), 15_000);
});

after(async () => {
  await agent?.stop();
  await diagnose?.close();
  await fleet?.close();
  await dispatcher?.close();
  target?.close();
  operatorClient?.close();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('alice (verb diagnose) gets node-a with a probe run just now, its phases timed, the failure and its fix', async () => {
  const before = probesRun;
  const r = await ask(`${DIAGNOSE_PATH}/node-a`, tokens.alice);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const d = r.body as NodeDiagnosis;
  assert.equal(probesRun, before + 1, 'the node agent probed because it was asked');
  assert.equal(d.probe, 'fresh');
  assert.equal(d.config, 'fleet');
  assert.equal(d.nodeAgentVersion, '0.1.0');
  assert.equal(d.registration.instanceId, 'mi-0123456789abcdef0');
  const ssm = d.probes.find((p) => p.endpoint === 'ssm');
  assert.equal(ssm?.reason, 'tls_handshake');
  assert.ok((ssm?.phases?.tcp ?? -1) >= 0 && ssm?.phases?.tls === undefined, JSON.stringify(ssm));
  assert.match(ssm?.fix ?? '', /TLS broke off/);
  // Unchanged results are still answered (forced), so a second diagnosis is fresh too.
  const again = await ask(`${DIAGNOSE_PATH}/node-a?waitSeconds=10`, tokens.alice);
  assert.equal((again.body as NodeDiagnosis).probe, 'fresh');
  const noProbe = await ask(`${DIAGNOSE_PATH}/node-a?probe=false`, tokens.alice);
  assert.equal((noProbe.body as NodeDiagnosis).probe, 'not-asked');
});

test('--all: one summary per node, the hybrid node marked as nodeadm’s', async () => {
  const r = await ask(DIAGNOSE_PATH, tokens.alice);
  assert.equal(r.status, 200);
  const nodes = (r.body as { nodes: NodeSummary[] }).nodes;
  assert.deepEqual(nodes.map((n) => [n.node, n.config, n.problems]), [
    ['node-a', 'fleet', ['ssm: tls_handshake']],
    ['node-b', undefined, []],
  ]);
  assert.equal(nodes[1]?.externallyManaged, 'nodeadm');
});

test('refused: bob without the verb (403, what to grant), no token (401), a bad token (401), unknown node (404)', async () => {
  const bob = await ask(`${DIAGNOSE_PATH}/node-a`, tokens.bob);
  assert.equal(bob.status, 403);
  assert.match((bob.body as { message: string }).message, /^system:serviceaccount:default:bob may not diagnose the SsmAgentConfig fleet: grant the verb "diagnose" on ssmagentconfigs\.ssmagent\.io/);
  assert.equal((await ask(DIAGNOSE_PATH, tokens.bob)).status, 403);
  const none = await ask(`${DIAGNOSE_PATH}/node-a`);
  assert.equal(none.status, 401);
  assert.equal((await ask(`${DIAGNOSE_PATH}/node-a`, `${tokens.alice}x`)).status, 401);
  assert.equal((await ask(`${DIAGNOSE_PATH}/node-z`, tokens.alice)).status, 404);
  assert.equal((await ask(`${DIAGNOSE_PATH}/Not_A_Node`, tokens.alice)).status, 400);
  assert.equal((await ask('/metrics', tokens.alice)).status, 404);
});
