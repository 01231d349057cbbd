// Two operator processes: one leads and reconciles, the other waits; kill the leader and the other takes over.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { startOperatorProcess, sumReconciles, type OperatorProcess } from '../harness/operator-process.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

let env: OperatorTestEnv;
const replicas: OperatorProcess[] = [];

async function startReplica(name: string): Promise<OperatorProcess> {
  const replica = await startOperatorProcess({
    name,
    kubeconfigPath: env.cp.kubeconfigPath,
    logPath: join(env.cp.dir, `${name}.log`),
    env: {
      POD_NAME: name,
      LEADER_ELECTION: 'true',
      LEASE_DURATION_SECONDS: '4',
      RENEW_DEADLINE_SECONDS: '3',
      RETRY_PERIOD_SECONDS: '0.5',
      LOG_LEVEL: 'info',
    },
  });
  replicas.push(replica);
  return replica;
}

async function reconciles(r: OperatorProcess): Promise<number> {
  return sumReconciles(await r.reconciles());
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
  // The counter moves when a reconcile ends, a moment after the DaemonSet it wrote appears.
  await waitFor('the leader to count its reconciles', async () => (await reconciles(first)) > 0);
  assert.equal(await reconciles(second), 0, 'the standby did not reconcile');
  assert.match(await second.metrics(), /^ssm_operator_leader 0$/m);

  first.proc.stop(0); // SIGKILL at once: no graceful release of the lease
  await first.proc.exited;
  await waitFor('operator-b to take the lease', async () => (await leaseHolder()) === 'operator-b', 30_000, 200);
  await applyConfig('two');
  await waitFor('the new leader to create the second DaemonSet', () => env.getOrUndefined(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: 'ssm-node-agent-two' })), 30_000);
  await waitFor('the new leader to count its reconciles', async () => (await reconciles(second)) > 0);
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
