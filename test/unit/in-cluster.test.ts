import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inClusterAccess, inClusterServer } from '../../operator/kube/in-cluster.ts';
import { loadKubeAccess } from '../../operator/kube/load-access.ts';

test('the API server address comes from KUBERNETES_SERVICE_HOST/PORT, IPv6 in brackets', () => {
  assert.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), 'https://10.96.0.1:443');
  assert.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }), 'https://[fd00::1]:443');
  assert.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }), undefined);
  assert.equal(inClusterServer({}), undefined);
  assert.throws(() => inClusterServer({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443x' }), /KUBERNETES_SERVICE_PORT=443x: not a port number/);
  assert.throws(() => inClusterServer({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '70000' }), /not a port number/);
});

test('the token is read again on every auth() (rotation); a missing or empty token names the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-in-cluster-unit-'));
  try {
    const access = inClusterAccess('https://10.96.0.1:443', dir);
    await assert.rejects(access.auth(), new RegExp(`cannot read the ServiceAccount token ${join(dir, 'token')}`));
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    writeFileSync(join(dir, 'token'), '\n');
    await assert.rejects(access.auth(), /is empty/);
    writeFileSync(join(dir, 'token'), 'one\n');
    assert.deepEqual((await access.auth()).headers, { Authorization: 'Bearer one' });
    writeFileSync(join(dir, 'token'), 'two');
    const auth = await access.auth();
    assert.deepEqual(auth.headers, { Authorization: 'Bearer two' });
    assert.equal(String(auth.tls.ca), 'CA');
    assert.equal(auth.tls.rejectUnauthorized, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('KUBECONFIG wins over the in-cluster variables (running the operator against another cluster from a pod)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-kubeconfig-unit-'));
  try {
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = file; // client-node's loadFromDefault reads process.env
    try {
      const access = await loadKubeAccess({ KUBECONFIG: file, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
      assert.equal(access.source, 'kubeconfig');
      assert.equal(access.server, 'https://127.0.0.1:6443');
      assert.equal((await access.auth()).headers.Authorization, 'Bearer t');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
    const inCluster = await loadKubeAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
    assert.equal(inCluster.server, 'https://10.96.0.1:443');
    assert.match(inCluster.source, /^in-cluster \(\/var\/run\/secrets\/kubernetes.io\/serviceaccount\)$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
