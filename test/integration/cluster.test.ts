// The real-cluster harness itself (test/harness/cluster/): real kubelet nodes join, a privileged hostPID pod of the
// repository's own image lands in ITS node's systemd with nsenter (not the machine's, not another node's), a pod on
// one node is reachable from every node through a ClusterIP Service (kube-proxy + routes between pod subnets), and
// stop() leaves no network namespace, cgroup or process behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startCluster, type Cluster } from '../harness/cluster/cluster.ts';
import { waitFor } from '../harness/wait.ts';

let cluster: Cluster;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.controlPlane.kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  cluster = await startCluster({ nodes: ['node-1', 'node-2'] });
});

after(async () => {
  await cluster?.stop();
});

test('the nodes join: Ready, with their own InternalIP and the API server’s version', async () => {
  const nodes = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as {
    items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } } }[];
  };
  assert.deepEqual(nodes.items.map((n) => n.metadata.name).sort(), ['node-1', 'node-2']);
  const version = JSON.parse(await kubectl(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
  for (const n of nodes.items) {
    assert.equal(n.status.nodeInfo.kubeletVersion, version.serverVersion.gitVersion);
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
    const ip = n.status.addresses.find((a) => a.type === 'InternalIP')?.address;
    assert.equal(ip, cluster.node(n.metadata.name).network.address);
  }
});

test('a privileged hostPID pod nsenters its own node, and only its own', async () => {
  const marker = `/var/tmp/ssm-cluster-test-${process.pid}`;
  for (const node of ['node-1', 'node-2']) {
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `nsenter-${node}`, namespace: 'default' },
        spec: {
          nodeName: node,
          hostPID: true,
          restartPolicy: 'Never',
          containers: [
            {
              name: 'c',
              image: cluster.images.app,
              imagePullPolicy: 'Never',
              command: ['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--', 'sh', '-c', `hostname > ${marker}`],
              // as the node-agent DaemonSet runs it (the image's own user is non-root)
              securityContext: { privileged: true, runAsUser: 0 },
            },
          ],
        },
      }),
    );
  }
  for (const node of ['node-1', 'node-2']) {
    const phase = await waitFor(
      `pod nsenter-${node} to finish`,
      async () => {
        const p = await kubectl(['get', 'pod', `nsenter-${node}`, '-o', 'jsonpath={.status.phase}']);
        return p === 'Succeeded' || p === 'Failed' ? p : undefined;
      },
      120_000,
      500,
    );
    assert.equal(phase, 'Succeeded', await kubectl(['logs', `nsenter-${node}`]));
    const root = cluster.node(node).host.rootDir;
    assert.equal(readFileSync(`${root}${marker}`, 'utf8').trim(), node, `the file is in ${node}'s root and names it`);
  }
  assert.equal(existsSync(marker), false, 'nothing was written on the machine itself');
  const logs = await kubectl(['logs', 'nsenter-node-1']);
  assert.equal(logs, '', 'kubectl logs reaches the kubelet (empty output, no error)');
  await kubectl(['delete', 'pod', 'nsenter-node-1', 'nsenter-node-2', '--wait=false']);
});

test('a pod on node-1 is reachable through a ClusterIP Service from every node', async () => {
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'echo', namespace: 'default', labels: { app: 'echo' } },
          spec: {
            nodeName: 'node-1',
            containers: [
              {
                name: 'c',
                image: cluster.images.app,
                imagePullPolicy: 'Never',
                command: ['node', '-e', "require('http').createServer((q, s) => s.end('echo from ' + require('os').hostname())).listen(8080)"],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'default' }, spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] } },
      ],
    }),
  );
  const clusterIp = (await kubectl(['get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  assert.match(clusterIp, /^10\.96\.0\.\d+$/);
  for (const node of ['node-1', 'node-2']) {
    const body = await waitFor(
      `the Service from ${node}`,
      async () => {
        const r = await cluster.node(node).host.run([
          'timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${clusterIp}/80; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`,
        ]);
        return r.code === 0 && r.stdout.includes('echo from echo') ? r.stdout : undefined;
      },
      120_000,
      1_000,
    );
    assert.match(body, /^HTTP\/1\.[01] 200/);
  }
});

test('stop() leaves no network namespace, cgroup or node process behind', async () => {
  const pids = cluster.nodes.map((n) => n.host.pid);
  const netns = [cluster.network.fabric, ...cluster.network.nodes.map((n) => n.netns)];
  await cluster.stop();
  const left = readdirSync('/run/netns').filter((n) => netns.includes(n));
  assert.deepEqual(left, []);
  for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `node PID 1 ${pid} is gone`);
  const cgroups = execFileSync('sh', ['-c', 'find /sys/fs/cgroup -maxdepth 6 -type d -name "ssm-systemd-host-*" 2>/dev/null || true'], { encoding: 'utf8' });
  assert.equal(cgroups.split('\n').filter((l) => l.includes(`-${process.pid}-`)).length, 0, cgroups);
});
