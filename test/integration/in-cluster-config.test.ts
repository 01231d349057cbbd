// The operator process with the in-cluster configuration, as in a pod: no kubeconfig, KUBERNETES_SERVICE_HOST/PORT,
// and a real ServiceAccount token (TokenRequest) and the cluster CA in files, as the kubelet projects them. The token
// is then rotated the way the kubelet does it (the file replaced by a rename) and the old token revoked (its bound
// object deleted): the operator keeps reconciling without a failed reconcile.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeApiError, KubeClient } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { inClusterCredentials, type InClusterCredentials } from '../harness/in-cluster-credentials.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

const SA = 'ssm-agent-operator';

let env: OperatorTestEnv;
let dir: string;
let creds: InClusterCredentials;
let operator: OperatorProcess | undefined;

async function post<T>(path: string, body: unknown): Promise<T> {
  return env.client.request<T>('POST', path, { body });
}

async function tokenWorks(token: string): Promise<boolean> {
  const c = new KubeClient(env.cp.kubeConfigForToken(token, SA));
  try {
    await c.get(resourcePath(RESOURCES.ssmAgentConfig));
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 401) return false;
    throw err;
  } finally {
    c.close();
  }
}

async function applyConfig(name: string): Promise<void> {
  await post(resourcePath(RESOURCES.ssmAgentConfig), {
    apiVersion: 'ssmagent.io/v1alpha1',
    kind: 'SsmAgentConfig',
    metadata: { name },
    // Pinned: `latest` would be resolved from the regional bucket, off this machine.
    spec: { region: 'us-east-1', nodeSelector: { pool: name }, agent: { version: '3.3.1.0' } },
  });
}

async function daemonSetFor(name: string): Promise<void> {
  await waitFor(`the DaemonSet of config ${name}`, () => env.getOrUndefined(`${resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE })}/ssm-node-agent-${name}`), 60_000, 200);
  await waitFor(
    `status.observedGeneration on config ${name}`,
    async () => ((await env.getOrUndefined<{ status?: { observedGeneration?: number } }>(`${resourcePath(RESOURCES.ssmAgentConfig)}/${name}`))?.status?.observedGeneration ?? 0) >= 1,
    60_000,
    200,
  );
}

async function reconcileErrors(): Promise<number> {
  return (await operator?.reconciles())?.get('error') ?? 0;
}

before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
  dir = mkdtempSync(join(tmpdir(), 'ssm-in-cluster-'));
  creds = await inClusterCredentials({ admin: env.client, server: env.cp.server, caCertPath: env.cp.caCertPath, namespace: NAMESPACE, serviceAccount: SA, dir: join(dir, 'serviceaccount'), home: dir });
  for (const pool of ['first', 'second']) await env.createNode(`node-${pool}`, { pool });
});

after(async () => {
  await operator?.stop();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the operator runs on the in-cluster configuration, with no kubeconfig, and survives a token rotation', async (t) => {
  const firstToken = await creds.boundToken('operator-token-1');
  creds.writeToken(firstToken);
  const server = new URL(env.cp.server);

  operator = await startOperatorProcess({
    kubeconfigPath: '',
    logPath: join(dir, 'operator.log'),
    env: { ...creds.env, FLEET_PORT: '0' },
  });
  const startLine = operator
    .logTail(200)
    .split('\n')
    .find((l) => l.includes('"msg":"Kubernetes API"'));
  assert.ok(startLine, `no "Kubernetes API" start-up line in the log:\n${operator.logTail()}`);
  assert.match(startLine, /"credentialSource":"in-cluster \(/);
  assert.match(startLine, new RegExp(`"server":"https://${server.hostname}:${server.port}"`));

  await applyConfig('first');
  await daemonSetFor('first');
  const errorsBefore = await reconcileErrors();

  // Rotation: a new token in the file, the old one revoked.
  const secondToken = await creds.boundToken('operator-token-2');
  creds.writeToken(secondToken);
  await env.client.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/secrets/operator-token-1`);
  await waitFor('the old token to be rejected (401)', async () => !(await tokenWorks(firstToken)), 30_000, 200);
  assert.equal(await tokenWorks(secondToken), true, 'the new token works');

  // The operator's next writes meet the 401 with its cached token, re-read the file and carry on.
  await applyConfig('second');
  await daemonSetFor('second');
  // A change to the first config too: its reconcile goes through the same client.
  await env.client.request('PATCH', `${resourcePath(RESOURCES.ssmAgentConfig)}/first`, { body: { spec: { agent: { version: '3.3.1.1' } } }, contentType: 'application/merge-patch+json' });
  await waitFor(
    'the first config reconciled after the rotation',
    async () => ((await env.getOrUndefined<{ status?: { observedGeneration?: number } }>(`${resourcePath(RESOURCES.ssmAgentConfig)}/first`))?.status?.observedGeneration ?? 0) >= 2,
    60_000,
    200,
  );
  const errorsAfter = await reconcileErrors();
  t.diagnostic(`reconcile errors before / after the rotation: ${errorsBefore} / ${errorsAfter}`);
  assert.equal(errorsAfter, errorsBefore, `no reconcile failed across the rotation; log tail:\n${operator.logTail()}`);
  operator.assertRunning();
});
