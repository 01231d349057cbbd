// The fleet server's limits against a real kube-apiserver, real TLS and real sockets on loopback: a client that
// never finishes its request is cut off, connections past the cap are refused, a refused token is not reviewed
// again for a while, a source that keeps sending bad tokens is slowed without more TokenReviews, and a connection
// that floods messages is closed alone. TokenReviews are counted by the API server itself (apiserver_request_total).
import assert from 'node:assert/strict';
import https from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { FLEET_TOKEN_AUDIENCE } from '../../operator/api/group.ts';
import { FLEET_NODE_HEADER, FLEET_PATH } from '../../operator/api/fleet-protocol.ts';
import { FleetServer, type FleetServerOptions } from '../../operator/fleet/server.ts';
import { ensureFleetTls, type FleetTls } from '../../operator/fleet/tls.ts';
import { createBoundPod, requestToken } from '../harness/node-agent-identity.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

const NODE_AGENT_SA = 'ssm-node-agent-x';
let env: OperatorTestEnv;
let tls: FleetTls;
const tokens: Record<string, string> = {};
const servers: FleetServer[] = [];

before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
  await env.createNode('node-a');
  await env.client.request('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NODE_AGENT_SA } } });
  const uid = await createBoundPod(env.client, NAMESPACE, 'agent-a', 'node-a', NODE_AGENT_SA);
  tokens.a = await requestToken(env.client, NAMESPACE, NODE_AGENT_SA, { name: 'agent-a', uid });
  // A real token the API server accepts, but for another audience: the review says no.
  tokens.wrongAudience = await requestToken(env.client, NAMESPACE, NODE_AGENT_SA, { name: 'agent-a', uid }, ['https://kubernetes.default.svc']);
  tls = await ensureFleetTls(env.client, { namespace: NAMESPACE, serviceName: 'ssm-agent-operator', clusterIP: '127.0.0.1' });
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await env?.stop();
});

async function start(registry: Registry, over: Partial<FleetServerOptions> = {}): Promise<FleetServer> {
  const server = await FleetServer.start({
    client: env.client,
    namespace: NAMESPACE,
    tls: tls.certs.serving,
    port: 0,
    host: '127.0.0.1',
    log: pino({ level: 'silent' }),
    registry,
    ...over,
  });
  servers.push(server);
  return server;
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (found?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((a, v) => a + v.value, 0);
}

/** TokenReviews the API server has answered so far. */
async function apiserverTokenReviews(): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.get(`${env.cp.server}/metrics`, { ca: env.cp.caPem, headers: { Authorization: `Bearer ${env.cp.adminToken}` }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('apiserver /metrics timed out')));
    req.on('error', reject);
  });
  return text
    .split('\n')
    .filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="tokenreviews"') && l.includes('verb="POST"'))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

/** A raw TLS connection that has finished its handshake. */
function rawTls(port: number): Promise<{ socket: TLSSocket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: tls.certs.ca.cert, servername: `ssm-agent-operator.${NAMESPACE}.svc` }, () => resolve({ socket, closed }));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.resume(); // read what the server says, so that its end is seen
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

type Dialed = { status: number; body: string } | { ws: WebSocket };
function dial(port: number, token: string, node = 'node-a'): Promise<Dialed> {
  return new Promise<Dialed>((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${FLEET_PATH}`, {
      ca: tls.certs.ca.cert,
      headers: { Authorization: `Bearer ${token}`, [FLEET_NODE_HEADER]: node },
      perMessageDeflate: false,
    });
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

test('a client that never finishes its request headers, or never sends one, is cut off', async () => {
  const registry = new Registry();
  const server = await start(registry, { headersTimeoutMs: 1_000 });
  const slow = await rawTls(server.port);
  slow.socket.write(`GET ${FLEET_PATH} HTTP/1.1\r\nHost: fleet\r\n`); // …and never the blank line
  const silent = await rawTls(server.port);
  let slowClosed = false;
  let silentClosed = false;
  void slow.closed.then(() => (slowClosed = true));
  void silent.closed.then(() => (silentClosed = true));
  await waitFor('the server to close a request with unfinished headers', () => slowClosed, 15_000, 50);
  await waitFor('the server to close a connection that sent nothing', () => silentClosed, 15_000, 50);
});

test('connections past the cap are refused at once and counted; the ones under it stay', async () => {
  const registry = new Registry();
  const server = await start(registry, { maxConnections: 2 });
  const first = await rawTls(server.port);
  const second = await rawTls(server.port);
  let firstClosed = false;
  void first.closed.then(() => (firstClosed = true));
  const third = tlsConnect({ host: '127.0.0.1', port: server.port, ca: tls.certs.ca.cert, servername: `ssm-agent-operator.${NAMESPACE}.svc` });
  third.on('error', () => undefined);
  await new Promise<void>((resolve) => third.once('close', () => resolve()));
  assert.equal(await metric(registry, 'ssm_operator_fleet_rejected_total', { reason: 'connection_cap' }), 1);
  assert.equal(firstClosed, false, 'a connection under the cap is left alone');
  first.socket.destroy();
  second.socket.destroy();
  await first.closed;
  await second.closed;
  // Room again: a real agent connects.
  const dialed = await waitFor('a connection under the cap again', async () => {
    const d = await dial(server.port, tokens.a ?? '');
    return 'ws' in d ? d : undefined;
  }, 10_000, 100);
  dialed.ws.terminate();
});

test('a refused token is not reviewed again while the refusal is cached', async () => {
  const registry = new Registry();
  const server = await start(registry, { failedReviewCacheMs: 60_000 });
  const before = await apiserverTokenReviews();
  for (let i = 0; i < 5; i++) {
    const d = await dial(server.port, tokens.wrongAudience ?? '');
    assert.ok(!('ws' in d) && d.status === 401, JSON.stringify(d));
    assert.match(d.body, new RegExp(`audience ${FLEET_TOKEN_AUDIENCE}`));
  }
  assert.equal((await apiserverTokenReviews()) - before, 1, 'five attempts with one refused token, one TokenReview');
  assert.equal(await metric(registry, 'ssm_operator_fleet_rejected_total', { reason: 'audience' }), 5);
  assert.equal(await metric(registry, 'ssm_operator_fleet_token_reviews_total'), 1);
});

test('a source that keeps failing authentication is answered 429 without more TokenReviews', async () => {
  const registry = new Registry();
  const server = await start(registry, { failedReviewsPerSource: { burst: 3, perSecond: 0.01 } });
  const before = await apiserverTokenReviews();
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    // A different garbage token each time: the refusal cache does not help, the per-source limit must.
    const d = await dial(server.port, `garbage-${i}-${Math.random().toString(36).slice(2)}`);
    assert.ok(!('ws' in d));
    statuses.push(d.status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
  assert.equal((await apiserverTokenReviews()) - before, 3, 'no TokenReview once the source is over its budget');
  assert.equal(await metric(registry, 'ssm_operator_fleet_rejected_total', { reason: 'rate_limited' }), 7);
});

test('a connection that floods messages is closed alone (1008 rate_limited); a paced one stays', async () => {
  const registry = new Registry();
  const server = await start(registry, { messagesPerConnection: { burst: 10, perSecond: 1 } });
  const d = await dial(server.port, tokens.a ?? '');
  assert.ok('ws' in d, JSON.stringify(d));
  const { ws } = d;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const welcome = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(JSON.stringify({ v: 1, type: 'hello', node: 'node-a', config: 'x', nodeAgentVersion: 'raw', heartbeatSeconds: 60, state: {} }));
  assert.match(await welcome, /"type":"welcome"/);
  // Within the budget: still connected.
  for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ v: 1, type: 'heartbeat' }));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(ws.readyState, WebSocket.OPEN);
  assert.deepEqual(server.connectedNodes(), ['node-a']);
  for (let i = 0; i < 100; i++) ws.send(JSON.stringify({ v: 1, type: 'heartbeat' }));
  const { code, reason } = await closed;
  assert.equal(code, 1008);
  assert.match(reason, /too many messages/);
  assert.equal(await metric(registry, 'ssm_operator_fleet_closed_total', { reason: 'rate_limited' }), 1);
  await waitFor('the node to be disconnected', () => server.connectedNodes().length === 0, 5_000, 50);
});
