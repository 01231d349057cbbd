// The fleet channel against a real kube-apiserver: real pod-bound ServiceAccount tokens (TokenRequest), real
// TokenReviews, real TLS with the certificates the operator keeps in a real Secret, real WebSockets on loopback.
// The operator side runs with a least-privilege ServiceAccount, so the RBAC it needs is checked too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { FleetClient, type FleetClientEvent } from '../../node-agent/fleet/client.ts';
import { FLEET_TOKEN_AUDIENCE } from '../../operator/api/group.ts';
import { fleetCertificatesFromSecret, type FleetCertificates } from '../../operator/fleet/certificates.ts';
import { FLEET_NODE_HEADER, FLEET_PATH, type NodeState } from '../../operator/api/fleet-protocol.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP, FLEET_TLS_SECRET } from '../../operator/manifests/names.ts';
import { identityFromReview, lookupPodNode, TOKEN_REVIEW_PATH, type TokenReviewStatus } from '../../operator/fleet/auth.ts';
import { FleetServer, type StateUpdate } from '../../operator/fleet/server.ts';
import { ensureFleetTls, keepFleetTlsFresh, type FleetTls } from '../../operator/fleet/tls.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

const SERVICE = 'ssm-agent-operator';
const NODE_AGENT_SA = 'ssm-node-agent-x';
const HEARTBEAT_SECONDS = 1;

let env: OperatorTestEnv;
let operatorClient: KubeClient;
let dir: string;
let caFile: string;
let firstTls: FleetTls;
const tokens: Record<string, string> = {};
const podUids: Record<string, string> = {};

// What the operator side saw and logged.
const logs: { level: number; msg: string; reason?: string }[] = [];
const states: { node: string; state: NodeState; update: StateUpdate }[] = [];
const disconnects: string[] = [];
let registry: Registry;
let server: FleetServer | undefined;
let port = 0;

function collectingLogger(): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logs.push(JSON.parse(line) as (typeof logs)[number]);
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}
const quiet = pino({ level: 'silent' });

async function startServer(): Promise<FleetServer> {
  const tls = await ensureFleetTls(operatorClient, { namespace: NAMESPACE, serviceName: SERVICE, clusterIP: '127.0.0.1' });
  server = await FleetServer.start({
    client: operatorClient,
    namespace: NAMESPACE,
    tls: tls.certs.serving,
    port,
    host: '127.0.0.1',
    log: collectingLogger(),
    registry,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    onState: (node, state, update) => states.push({ node, state: structuredClone(state), update }),
    onDisconnect: (node) => disconnects.push(node),
  });
  port = server.port;
  return server;
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (found?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  const match = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return match?.value ?? 0;
}

async function post<T>(path: string, body: unknown): Promise<T> {
  return env.client.request<T>('POST', path, { body });
}

async function tokenFor(serviceAccount: string, pod: string | undefined, audiences: string[]): Promise<string> {
  const boundObjectRef = pod ? { kind: 'Pod', apiVersion: 'v1', name: pod, uid: podUids[pod] } : undefined;
  const response = await post<{ status: { token: string } }>(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${serviceAccount}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { audiences, expirationSeconds: 3600, ...(boundObjectRef ? { boundObjectRef } : {}) },
  });
  return response.status.token;
}

async function createPod(name: string, node: string, serviceAccount: string): Promise<void> {
  // No kubelet runs: the pod stays Pending, but it exists and is bound to the node, which is all a bound token needs.
  const pod = await post<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NAMESPACE}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName: node, serviceAccountName: serviceAccount, automountServiceAccountToken: false, containers: [{ name: 'node-agent', image: 'example.invalid/node-agent:test' }] },
  });
  podUids[name] = pod.metadata.uid;
}

/** The operator's own ServiceAccount with only what the fleet channel needs. */
async function leastPrivilegeOperatorClient(): Promise<KubeClient> {
  await post(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'operator' } });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'fleet-test-tokenreviews' },
    rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }],
  });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'fleet-test-tokenreviews' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fleet-test-tokenreviews' },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NAMESPACE }],
  });
  await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'fleet-test' },
    rules: [
      { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ],
  });
  await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'fleet-test' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'fleet-test' },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NAMESPACE }],
  });
  return new KubeClient(env.cp.kubeConfigForToken(await tokenFor('operator', undefined, []), 'operator'));
}

/** A bare WebSocket, to do what a well-behaved agent never would. */
type Dialed = { status: number; body: string } | { ws: WebSocket };
function dial(headers: Record<string, string>): Promise<Dialed> {
  return new Promise<Dialed>((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${FLEET_PATH}`, { ca: firstTls.certs.ca.cert, headers, perMessageDeflate: false });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('error', (err) => reject(err));
  }).catch((err: Error): Dialed => ({ status: -1, body: err.message }));
}

const auth = (token: string, node: string) => ({ Authorization: `Bearer ${token}`, [FLEET_NODE_HEADER]: node });

/** Connects as node-b, says hello, waits for welcome. */
async function helloAsNodeB(): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const dialed = await dial(auth(tokens.b ?? '', 'node-b'));
  assert.ok('ws' in dialed, JSON.stringify(dialed));
  const { ws } = dialed;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const welcome = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(JSON.stringify({ v: 1, type: 'hello', node: 'node-b', config: 'x', nodeAgentVersion: 'raw', heartbeatSeconds: 60, state: {} }));
  assert.match(await welcome, /"type":"welcome"/);
  return { ws, closed };
}

const passState: NodeState = {
  facts: { os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' }, arch: 'amd64', packageManager: 'dpkg', ec2: false, installedVersion: '3.3.1142.0' },
  steps: [
    { step: 'detect', status: 'ok' },
    { step: 'install', status: 'ok' },
    { step: 'register', status: 'failed', reason: 'ActivationExpired', message: 'the activation expired' },
  ],
  observation: { serviceActive: true, version: '3.3.1142.0', instanceId: 'mi-0123456789abcdef0', region: 'us-east-1' },
  timestamps: { pass: new Date().toISOString() },
};

let agent: FleetClient;
let tokenFileA: string;
const agentEvents: FleetClientEvent[] = [];
let probesAsked = 0;

before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
  dir = mkdtempSync(join(tmpdir(), 'ssm-fleet-'));
  registry = new Registry();
  await env.createNode('node-a');
  await env.createNode('node-b');
  for (const name of [NODE_AGENT_SA, 'intruder']) {
    await post(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
  }
  await createPod('agent-a', 'node-a', NODE_AGENT_SA);
  await createPod('agent-b', 'node-b', NODE_AGENT_SA);
  await createPod('intruder-a', 'node-a', 'intruder');
  tokens.a = await tokenFor(NODE_AGENT_SA, 'agent-a', [FLEET_TOKEN_AUDIENCE]);
  tokens.b = await tokenFor(NODE_AGENT_SA, 'agent-b', [FLEET_TOKEN_AUDIENCE]);
  tokens.wrongAudience = await tokenFor(NODE_AGENT_SA, 'agent-a', ['https://kubernetes.default.svc']);
  tokens.intruder = await tokenFor('intruder', 'intruder-a', [FLEET_TOKEN_AUDIENCE]);
  operatorClient = await leastPrivilegeOperatorClient();
  firstTls = await ensureFleetTls(operatorClient, { namespace: NAMESPACE, serviceName: SERVICE, clusterIP: '127.0.0.1' });
  caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, firstTls.certs.ca.cert);
  await startServer();
  tokenFileA = join(dir, 'token-a');
  writeFileSync(tokenFileA, `${tokens.a}\n`);
  agent = new FleetClient({
    url: `wss://127.0.0.1:${port}${FLEET_PATH}`,
    tokenFile: tokenFileA,
    caFile,
    nodeName: 'node-a',
    configName: 'x',
    nodeAgentVersion: '0.1.0',
    log: quiet,
    backoff: { initialMs: 200, maxMs: 1_000 },
    initialState: passState,
    onProbeNow: () => probesAsked++,
    onEvent: (e) => agentEvents.push(e),
  });
});

after(async () => {
  await agent?.stop();
  await server?.close();
  operatorClient?.close();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('kube-apiserver v1.35 reviews a pod-bound token with the node it is bound to', async () => {
  const review = await post<{ status: TokenReviewStatus }>(TOKEN_REVIEW_PATH, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token: tokens.a, audiences: [FLEET_TOKEN_AUDIENCE] },
  });
  const { status } = review;
  assert.equal(status.authenticated, true);
  assert.deepEqual(status.audiences, [FLEET_TOKEN_AUDIENCE]);
  assert.equal(status.user?.username, `system:serviceaccount:${NAMESPACE}:${NODE_AGENT_SA}`);
  assert.deepEqual(status.user?.extra?.['authentication.kubernetes.io/node-name'], ['node-a']);
  assert.deepEqual(status.user?.extra?.['authentication.kubernetes.io/pod-name'], ['agent-a']);
  assert.deepEqual(status.user?.extra?.['authentication.kubernetes.io/pod-uid'], [podUids['agent-a']]);

  // Where the claim is missing (clusters before 1.30) the operator reads the bound pod instead, with `get pods`.
  const extra = { ...status.user?.extra };
  delete extra['authentication.kubernetes.io/node-name'];
  const fallback = await identityFromReview(
    { ...status, user: { ...status.user, extra } },
    { namespace: NAMESPACE, podNode: (pod) => lookupPodNode(operatorClient, NAMESPACE, pod) },
  );
  assert.deepEqual(fallback, { ok: true, identity: { node: 'node-a', config: 'x', serviceAccount: NODE_AGENT_SA, pod: 'agent-a', nodeBinding: 'pod-lookup' } });
});

test('the CA and serving certificate are kept in a Secret, the CA published in a ConfigMap', async () => {
  assert.equal(firstTls.secret, 'created');
  assert.equal(firstTls.configMap, 'created');
  const secret = await env.client.get<{ type: string; data: Record<string, string> }>(`/api/v1/namespaces/${NAMESPACE}/secrets/${FLEET_TLS_SECRET}`);
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.deepEqual(fleetCertificatesFromSecret(secret), firstTls.certs);
  const cm = await env.client.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${NAMESPACE}/configmaps/${FLEET_CA_CONFIGMAP}`);
  assert.deepEqual(Object.keys(cm.data), [FLEET_CA_KEY]);
  assert.equal(cm.data[FLEET_CA_KEY], firstTls.certs.ca.cert);
});

test('an agent with a token for its own node connects: hello reaches onState, probe-now reaches the agent', async () => {
  agent.start();
  const hello = await waitFor('the hello of node-a', () => states.find((s) => s.node === 'node-a' && s.update.kind === 'hello'), 15_000);
  assert.deepEqual(hello.state, passState);
  assert.deepEqual(hello.update, { kind: 'hello', sections: ['facts', 'steps', 'observation', 'timestamps'], config: 'x', nodeAgentVersion: '0.1.0', agentVersion: '3.3.1142.0' });
  await waitFor('the agent to be welcomed', () => agent.connected, 5_000);
  assert.deepEqual(server?.connectedNodes(), ['node-a']);
  assert.equal(await metric('ssm_operator_agents_connected'), 1);
  assert.ok(logs.some((l) => l.msg === 'node agent connected'));

  assert.equal(server?.requestProbe('node-a'), true);
  await waitFor('probe-now at the agent', () => probesAsked === 1, 5_000);
  assert.equal(server?.requestProbe('node-b'), false, 'node-b is not connected');

  // A change goes out as a state message with just the sections that changed.
  const before = states.length;
  const probes: NodeState = { probes: [{ endpoint: 'ssm', host: 'ssm.us-east-1.amazonaws.com', ok: true, via: 'direct' }], timestamps: { probes: new Date().toISOString() } };
  agent.update(probes);
  const update = await waitFor('the state message', () => states.slice(before).find((s) => s.update.kind === 'state'), 5_000);
  assert.deepEqual(update.update.sections, ['probes', 'timestamps']);
  assert.deepEqual(update.state.probes, probes.probes);
  assert.deepEqual(update.state.steps, passState.steps, 'the operator keeps the sections that did not change');
  agent.update(probes);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(states.length, before + 1, 'an unchanged state is not sent again');
});

test('refused before the upgrade: another node’s token 403, no token 401, wrong audience 401, not a node agent 403', async () => {
  const cases: { name: string; headers: Record<string, string>; status: number; reason: string; body: RegExp }[] = [
    { name: 'a token for node B claiming node A', headers: auth(tokens.b ?? '', 'node-a'), status: 403, reason: 'node_mismatch', body: /bound to node node-b, not node-a/ },
    { name: 'no token', headers: { [FLEET_NODE_HEADER]: 'node-a' }, status: 401, reason: 'no_token', body: /Authorization: Bearer/ },
    { name: 'a token for the API server audience', headers: auth(tokens.wrongAudience ?? '', 'node-a'), status: 401, reason: 'audience', body: /not for audience ssmagent\.io\/fleet/ },
    // The API server accepts its static tokens for its own audience only: for ours it answers "invalid bearer token".
    { name: 'a static admin token', headers: auth(env.cp.adminToken, 'node-a'), status: 401, reason: 'unauthenticated', body: /not valid/ },
    { name: 'garbage', headers: auth('not-a-token', 'node-a'), status: 401, reason: 'unauthenticated', body: /not valid/ },
    { name: 'another ServiceAccount bound to a pod on node A', headers: auth(tokens.intruder ?? '', 'node-a'), status: 403, reason: 'not_node_agent', body: /not a node agent ServiceAccount/ },
    { name: 'no node named', headers: { Authorization: `Bearer ${tokens.a}` }, status: 400, reason: 'no_node', body: /x-ssmagent-node/ },
  ];
  for (const c of cases) {
    const before = await metric('ssm_operator_fleet_rejected_total', { reason: c.reason });
    const result = await dial(c.headers);
    assert.ok('status' in result, `${c.name}: must not be upgraded`);
    assert.equal(result.status, c.status, `${c.name}: ${result.body}`);
    assert.match(result.body, c.body, c.name);
    assert.equal(await metric('ssm_operator_fleet_rejected_total', { reason: c.reason }), before + 1, `${c.name}: counted`);
    assert.ok(logs.some((l) => l.reason === c.reason && /fleet connection rejected/.test(l.msg)), `${c.name}: logged`);
  }
  assert.deepEqual(server?.connectedNodes(), ['node-a'], 'the good agent is untouched');
});

test('a malformed, an oversized or a lying message closes only that connection', async () => {
  const first = await helloAsNodeB();
  assert.deepEqual(server?.connectedNodes(), ['node-a', 'node-b']);
  first.ws.send('{"v":1,"type":"state","state":');
  assert.equal((await first.closed).code, 1008);

  const second = await helloAsNodeB();
  second.ws.send(JSON.stringify({ v: 1, type: 'state', state: { steps: [] }, pad: 'x'.repeat(70 * 1024) }));
  assert.equal((await second.closed).code, 1009);
  assert.ok((await metric('ssm_operator_fleet_closed_total', { reason: 'too_large' })) >= 1);

  const third = await helloAsNodeB();
  third.ws.send(JSON.stringify({ v: 1, type: 'hello', node: 'node-b', config: 'x', nodeAgentVersion: 'raw', heartbeatSeconds: 60, state: {} }));
  assert.deepEqual(await third.closed, { code: 1008, reason: 'hello was already said on this connection' });

  const liar = await dial(auth(tokens.b ?? '', 'node-b'));
  assert.ok('ws' in liar);
  const liarClosed = new Promise<number>((resolve) => liar.ws.once('close', (code) => resolve(code)));
  liar.ws.send(JSON.stringify({ v: 1, type: 'hello', node: 'node-a', config: 'x', nodeAgentVersion: 'raw', heartbeatSeconds: 60, state: {} }));
  assert.equal(await liarClosed, 1008);

  assert.deepEqual(server?.connectedNodes(), ['node-a']);
  assert.ok(agent.connected, 'the other agent stayed connected');
  assert.equal(server?.requestProbe('node-a'), true);
  await waitFor('probe-now at the agent', () => probesAsked === 2, 5_000);
  assert.equal(await metric('ssm_operator_agents_connected'), 1);
});

test('a connection silent for more than 3 heartbeats is closed; a heartbeating agent is not', async () => {
  const silent = await helloAsNodeB();
  const started = Date.now();
  const { code } = await silent.closed;
  const silentFor = Date.now() - started;
  assert.equal(code, 4001);
  assert.ok(silentFor >= 3 * HEARTBEAT_SECONDS * 1000 - 100 && silentFor < 8_000, `${silentFor} ms`);
  assert.ok(agent.connected, 'the agent heartbeats at the period the welcome asked for');
  assert.deepEqual(server?.connectedNodes(), ['node-a']);
});

test('operator restart: the agent reconnects with backoff (token re-read) and resends its full state; the Secret is reused', async () => {
  const secretBefore = await env.client.get<{ metadata: { uid: string; resourceVersion: string } }>(`/api/v1/namespaces/${NAMESPACE}/secrets/${FLEET_TLS_SECRET}`);
  const attemptsBefore = agent.attempts;
  const eventsBefore = agentEvents.length;
  await server?.close();
  assert.ok(disconnects.includes('node-a'), 'onDisconnect on shutdown');
  await waitFor('the agent to notice', () => !agent.connected, 5_000);

  // While the operator is away the host changes, and the token file holds a token the API server refuses.
  const changed: NodeState = { observation: { serviceActive: false, version: '3.3.1142.0', instanceId: 'mi-0123456789abcdef0', region: 'us-east-1' } };
  agent.update(changed);
  writeFileSync(tokenFileA, 'expired-or-garbage\n');
  await new Promise((r) => setTimeout(r, 1_500));
  const failedWhileDown = agent.attempts - attemptsBefore;
  assert.ok(failedWhileDown >= 2 && failedWhileDown <= 8, `${failedWhileDown} attempts in 1.5 s with 200 ms..1 s backoff`);

  const statesBefore = states.length;
  const restarted = await startServer();
  assert.equal(restarted.port, port);
  const reused = await ensureFleetTls(operatorClient, { namespace: NAMESPACE, serviceName: SERVICE, clusterIP: '127.0.0.1' });
  assert.deepEqual([reused.secret, reused.configMap], ['reused', 'unchanged']);
  assert.deepEqual(reused.certs, firstTls.certs);
  const secretAfter = await env.client.get<{ metadata: { uid: string; resourceVersion: string } }>(`/api/v1/namespaces/${NAMESPACE}/secrets/${FLEET_TLS_SECRET}`);
  assert.deepEqual(secretAfter.metadata.uid, secretBefore.metadata.uid, 'created once');
  assert.equal(secretAfter.metadata.resourceVersion, secretBefore.metadata.resourceVersion, 'not rewritten');

  await waitFor('a refusal of the bad token', () => agentEvents.slice(eventsBefore).some((e) => e.type === 'rejected' && e.status === 401), 10_000);
  writeFileSync(tokenFileA, `${await tokenFor(NODE_AGENT_SA, 'agent-a', [FLEET_TOKEN_AUDIENCE])}\n`); // the kubelet rotated it
  const hello = await waitFor('the hello after the restart', () => states.slice(statesBefore).find((s) => s.node === 'node-a' && s.update.kind === 'hello'), 15_000);
  assert.deepEqual(hello.state.observation, changed.observation, 'what changed while the operator was away');
  assert.deepEqual(hello.state.steps, passState.steps, 'and everything else: the full state');
  assert.ok(hello.state.probes?.length === 1);

  const retries = agentEvents.slice(eventsBefore).filter((e): e is Extract<FleetClientEvent, { type: 'disconnected' }> => e.type === 'disconnected');
  assert.ok(retries.length >= 2);
  assert.ok(retries.every((e) => e.retryInMs >= 100 && e.retryInMs <= 1_000), JSON.stringify(retries.map((e) => e.retryInMs)));
  await waitFor('the agent to be welcomed again', () => agent.connected, 5_000);
  assert.equal(await metric('ssm_operator_agents_connected'), 1);
  assert.equal(restarted.requestProbe('node-a'), true);
  await waitFor('probe-now after the restart', () => probesAsked === 3, 5_000);
});

test('a plain HTTPS request is told to upgrade', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    httpsRequest(`https://127.0.0.1:${port}${FLEET_PATH}`, { ca: firstTls.certs.ca.cert }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
  assert.equal(status, 426);
});

test('renewal: a serving certificate near its end is reissued from the same CA, written back, and served to new connections', async () => {
  const before = await env.client.get<{ metadata: { resourceVersion: string } }>(`/api/v1/namespaces/${NAMESPACE}/secrets/${FLEET_TLS_SECRET}`);
  // 400 days of margin makes today's 365-day certificate due.
  const renewed = await new Promise<FleetCertificates>((resolve) => {
    const keeper = keepFleetTlsFresh(operatorClient, {
      namespace: NAMESPACE,
      serviceName: SERVICE,
      clusterIP: '127.0.0.1',
      renewBeforeDays: 400,
      intervalMs: 100,
      current: firstTls.certs,
      onChange: (certs) => {
        keeper.stop();
        server?.updateTls(certs.serving);
        resolve(certs);
      },
    });
  });
  assert.equal(renewed.ca.cert, firstTls.certs.ca.cert, 'agents keep their CA');
  assert.notEqual(renewed.serving.cert, firstTls.certs.serving.cert);
  const after = await env.client.get<{ metadata: { resourceVersion: string }; data: Record<string, string> }>(`/api/v1/namespaces/${NAMESPACE}/secrets/${FLEET_TLS_SECRET}`);
  assert.notEqual(after.metadata.resourceVersion, before.metadata.resourceVersion);
  assert.deepEqual(fleetCertificatesFromSecret(after)?.serving, renewed.serving);

  const served = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: firstTls.certs.ca.cert }, () => {
      resolve(socket.getPeerX509Certificate()?.toString() ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
  assert.equal(served.trim(), renewed.serving.cert.trim());
});

test('two replicas starting at once end up with one Secret and the same certificates', async () => {
  await env.client.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/secrets/${FLEET_TLS_SECRET}`);
  await env.client.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/configmaps/${FLEET_CA_CONFIGMAP}`);
  const opts = { namespace: NAMESPACE, serviceName: SERVICE, clusterIP: '127.0.0.1' };
  const [one, two] = await Promise.all([ensureFleetTls(operatorClient, opts), ensureFleetTls(operatorClient, opts)]);
  assert.deepEqual(one.certs, two.certs);
  assert.deepEqual([one.secret, two.secret].sort(), ['created', 'reused']);
  const cm = await env.client.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${NAMESPACE}/configmaps/${FLEET_CA_CONFIGMAP}`);
  assert.equal(cm.data[FLEET_CA_KEY], one.certs.ca.cert);
});
