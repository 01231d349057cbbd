// The test control plane itself: real etcd + kube-apiserver + kube-controller-manager, exercised for real.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  VersionApi,
  type KubeConfig,
  type V1DaemonSet,
} from '@kubernetes/client-node';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { pidAlive, sleep } from '../harness/managed-process.ts';

const ALICE_TOKEN = 'alice-token-0123456789abcdef';
let cp: ControlPlane;
let kc: KubeConfig; // created once, before any restart, and reused after it

before(async () => {
  const t0 = Date.now();
  cp = await startControlPlane({ users: [{ name: 'alice', token: ALICE_TOKEN, groups: ['developers'] }] });
  console.error(`control plane started in ${Date.now() - t0} ms at ${cp.server}`);
  kc = cp.kubeConfig();
});

after(async () => {
  await cp?.stop();
});

/** Polls `fn` until it returns a value that is not undefined; bounded in time and attempts. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < timeoutMs / 200 + 1 && Date.now() < deadline; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not reached in ${timeoutMs} ms (last error: ${String(last)})`);
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

test('the apiserver answers with the stamped version over verified TLS', async () => {
  assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  const version = await kc.makeApiClient(VersionApi).getCode();
  assert.match(version.gitVersion, /^v1\.35\./);
  assert.equal(version.major, '1');
  assert.equal(version.minor, '35');

  // The kubeconfig pins the throwaway CA; nothing skips verification.
  const raw = YAML.parse(readFileSync(cp.kubeconfigPath, 'utf8')) as {
    clusters: { cluster: Record<string, unknown> }[];
  };
  const cluster = raw.clusters[0]?.cluster ?? {};
  assert.equal(cluster['insecure-skip-tls-verify'], undefined);
  assert.equal(Buffer.from(String(cluster['certificate-authority-data']), 'base64').toString(), cp.caPem);
});

test('kubectl works with the kubeconfig', async () => {
  const applied = await cp.kubectl(
    ['apply', '-f', '-'],
    'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubectl-check\n',
  );
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /namespace\/kubectl-check (created|configured)/);
  const got = await cp.kubectl(['get', 'namespace', 'kubectl-check', '-o', 'jsonpath={.status.phase}']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, 'Active');
  const missing = await cp.kubectl(['get', 'namespace', 'does-not-exist']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /NotFound|not found/);
});

test('RBAC applies to non-admin identities (static user and ServiceAccount token)', async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ns = 'rbac-check';
  await core.createNamespace({ body: { metadata: { name: ns } } });

  // A wrong token is not authenticated at all.
  const stranger = cp.kubeConfigForToken('no-such-token').makeApiClient(CoreV1Api);
  await assert.rejects(stranger.listNamespacedPod({ namespace: ns }), (e) => statusOf(e) === 401);

  // A static user without bindings is authenticated but forbidden.
  const alice = cp.kubeConfigForToken(ALICE_TOKEN, 'alice').makeApiClient(CoreV1Api);
  await assert.rejects(alice.listNamespacedPod({ namespace: ns }), (e) => statusOf(e) === 403);

  // A ServiceAccount token minted by the apiserver (TokenRequest) authenticates; RBAC decides.
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: ns,
    name: 'reader',
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const saToken = tr.status?.token;
  assert.ok(saToken);
  const sa = cp.kubeConfigForToken(saToken, 'reader').makeApiClient(CoreV1Api);
  await assert.rejects(sa.listNamespacedPod({ namespace: ns }), (e) => statusOf(e) === 403);

  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'pod-reader' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'pod-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [
        { kind: 'ServiceAccount', name: 'reader', namespace: ns },
        { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'developers' },
      ],
    },
  });
  const list = await eventually('SA may list pods', async () => sa.listNamespacedPod({ namespace: ns }));
  assert.equal(list.items.length, 0);
  await eventually('alice (via group) may list pods', async () => alice.listNamespacedPod({ namespace: ns }));
  // ...and still nothing else.
  await assert.rejects(sa.listNamespacedSecret({ namespace: ns }), (e) => statusOf(e) === 403);
});

async function desiredScheduled(apps: AppsV1Api, name: string, want: number): Promise<V1DaemonSet> {
  return eventually(`daemonset ${name} desiredNumberScheduled == ${want}`, async () => {
    const ds = await apps.readNamespacedDaemonSet({ namespace: 'default', name });
    return ds.status?.desiredNumberScheduled === want ? ds : undefined;
  });
}

test('a DaemonSet over 2 Nodes gets desiredNumberScheduled 2 (kube-controller-manager is real)', async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  // A bare Node is tainted not-ready by admission (no kubelet will ever clear it): no daemon pod belongs there.
  const raw = await core.createNode({ body: { metadata: { name: 'node-unready' } } });
  assert.ok(raw.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/not-ready' && t.effect === 'NoSchedule'));
  const a = await cp.addNode('node-a');
  assert.deepEqual(a.spec?.taints ?? [], []);
  assert.equal(a.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  await cp.addNode('node-b');
  await apps.createNamespacedDaemonSet({
    namespace: 'default',
    body: {
      metadata: { name: 'probe' },
      spec: {
        selector: { matchLabels: { app: 'probe' } },
        template: {
          metadata: { labels: { app: 'probe' } },
          spec: {
            containers: [{ name: 'c', image: 'example.invalid/probe:1', securityContext: { privileged: true } }],
          },
        },
      },
    },
  });
  const ds = await desiredScheduled(apps, 'probe', 2);
  assert.equal(ds.status?.numberReady ?? 0, 0); // no kubelet: pods stay Pending
  // The controller really created one pod per node (they stay Pending).
  const pods = await eventually('2 daemon pods', async () => {
    const l = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=probe' });
    return l.items.length === 2 ? l : undefined;
  });
  const nodes = pods.items
    .map((p) => p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0])
    .map((t) => t?.matchFields?.[0]?.values?.[0])
    .sort();
  assert.deepEqual(nodes, ['node-a', 'node-b']);
});

test('stop/start apiserver keeps the port, the data, and the old KubeConfig working', async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespacedConfigMap({
    namespace: 'default',
    body: { metadata: { name: 'survivor' }, data: { k: 'v' } },
  });
  const server = cp.server;

  const t0 = Date.now();
  await cp.stopApiServer();
  const tStop = Date.now();
  await assert.rejects(core.readNamespacedConfigMap({ namespace: 'default', name: 'survivor' }));
  await cp.startApiServer();
  console.error(`apiserver stop ${tStop - t0} ms, start ${Date.now() - tStop} ms`);

  assert.equal(cp.server, server);
  const cm = await core.readNamespacedConfigMap({ namespace: 'default', name: 'survivor' });
  assert.equal(cm.data?.k, 'v');
  const got = await cp.kubectl(['get', 'configmap', 'survivor', '-o', 'jsonpath={.data.k}']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, 'v');

  // kube-controller-manager reconnected too: a third node is picked up by the DaemonSet.
  await cp.addNode('node-c');
  await desiredScheduled(apps, 'probe', 3);
});

test('stop() leaves no process and no temp dir behind, and is idempotent', async () => {
  const pids = cp.pids();
  assert.equal(pids.length, 3); // etcd, kube-apiserver, kube-controller-manager
  for (const pid of pids) assert.ok(pidAlive(pid), `pid ${pid} should be running`);
  await cp.stop();
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} is still there`);
  }
  assert.deepEqual(cp.pids(), []);
  assert.equal(existsSync(cp.dir), false);
  await cp.stop();
});
