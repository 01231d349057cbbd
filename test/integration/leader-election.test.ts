// Two operator processes: one leads and reconciles, the other waits; kill the leader and the other takes over.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { freePort } from '../harness/control-plane.ts';
import { startProcess, type ManagedProcess } from '../harness/managed-process.ts';
import { NAMESPACE, REPO, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

interface Replica {
  name: string;
  proc: ManagedProcess;
  port: number;
}

let env: OperatorTestEnv;
const replicas: Replica[] = [];

async function startReplica(name: string): Promise<Replica> {
  const port = await freePort();
  const proc = startProcess({
    name,
    command: process.execPath,
    args: [join(REPO, 'operator', 'main.ts')],
    logPath: join(env.cp.dir, `${name}.log`),
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: env.cp.kubeconfigPath,
      POD_NAMESPACE: NAMESPACE,
      POD_NAME: name,
      NODE_AGENT_IMAGE: 'example.com/ssm-agent-operator:test',
      HTTP_PORT: String(port),
      LEADER_ELECTION: 'true',
      LEASE_DURATION_SECONDS: '4',
      RENEW_DEADLINE_SECONDS: '3',
      RETRY_PERIOD_SECONDS: '0.5',
      LOG_LEVEL: 'info',
    },
  });
  const replica = { name, proc, port };
  replicas.push(replica);
  await waitFor(`${name} to serve /readyz`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 30_000, 200);
  return replica;
}

async function reconciles(r: Replica): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('ssm_operator_reconcile_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const leaseHolder = async () =>
  (await env.getOrUndefined<{ spec: { holderIdentity?: string } }>(resourcePath(RESOURCES.lease, { namespace: NAMESPACE, name: 'ssm-agent-operator-leader' })))?.spec.holderIdentity;

async function applyConfig(name: string) {
  const r = await env.kubectl(['apply', '-f', '-'], `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${name}}\nspec: {region: us-east-1, nodeSelector: {pool: ${name}}}\n`);
  assert.equal(r.code, 0, r.stderr);
}

before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
});

after(async () => {
  await Promise.all(replicas.map((r) => r.proc.stop(5_000)));
  await env?.stop();
});

test('only the lease holder reconciles; when it is killed the other takes over', async () => {
  const first = await startReplica('operator-a');
  await waitFor('operator-a to hold the lease', async () => (await leaseHolder()) === 'operator-a', 30_000, 200);
  const second = await startReplica('operator-b');

  await applyConfig('one');
  await waitFor('the leader to create the DaemonSet', () => env.getOrUndefined(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: 'ssm-node-agent-one' })));
  assert.ok((await reconciles(first)) > 0, 'the leader reconciled');
  assert.equal(await reconciles(second), 0, 'the standby did not reconcile');
  assert.match(await (await fetch(`http://127.0.0.1:${second.port}/metrics`)).text(), /^ssm_operator_leader 0$/m);

  first.proc.stop(0); // SIGKILL at once: no graceful release of the lease
  await first.proc.exited;
  await waitFor('operator-b to take the lease', async () => (await leaseHolder()) === 'operator-b', 30_000, 200);
  await applyConfig('two');
  await waitFor('the new leader to create the second DaemonSet', () => env.getOrUndefined(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: 'ssm-node-agent-two' })), 30_000);
  assert.ok((await reconciles(second)) > 0, 'the new leader reconciled');
});

test('a leader stopped with SIGTERM exits cleanly and releases the lease for the next replica', async () => {
  const leader = replicas.find((r) => r.name === 'operator-b');
  assert.ok(leader);
  await leader.proc.stop(10_000);
  const status = await leader.proc.exited;
  assert.equal(status.code, 0, 'graceful exit');
  // Released, not left to expire: the holder is cleared as the process goes.
  assert.equal(await leaseHolder(), '');
  await startReplica('operator-c');
  await waitFor('operator-c to take the lease', async () => (await leaseHolder()) === 'operator-c', 30_000, 100);
});
