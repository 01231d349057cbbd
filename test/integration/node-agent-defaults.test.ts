// The node agents' defaults end to end: the operator, started with the settings the chart renders (PriorityClass,
// shared pull Secrets, control-plane toleration), against a real kube-apiserver and DaemonSet controller with a
// Linux node, a Windows node, an unlabelled node and a tainted control-plane node. The DaemonSet carries the
// defaults, the real DaemonSet controller schedules no pod on the Windows node, and the config counts the same.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

type DaemonSet = {
  spec: { template: { spec: { priorityClassName?: string; imagePullSecrets?: { name: string }[]; tolerations?: { key?: string }[]; affinity?: unknown } } };
  status?: { desiredNumberScheduled?: number };
};

let env: OperatorTestEnv;
let operator: Operator;

before(async () => {
  env = await startOperatorTestEnv();
  await env.createNode('linux-1', { 'kubernetes.io/os': 'linux' });
  await env.createNode('win-1', { 'kubernetes.io/os': 'windows' });
  await env.createNode('bare-1');
  await env.createNode('cp-1', { 'kubernetes.io/os': 'linux' }, [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }]);
  ({ operator } = await startInProcessOperator(env, {
    NODE_AGENT_PRIORITY_CLASS_NAME: 'system-node-critical',
    NODE_AGENT_IMAGE_PULL_SECRETS: 'shared-registry',
    NODE_AGENT_TOLERATE_CONTROL_PLANE: 'true',
  }));
});

after(async () => {
  await operator?.stop();
  await env?.stop();
});

test('the DaemonSet carries the chart defaults, and neither it nor the config counts the Windows node', async () => {
  const apply = await env.kubectl(
    ['apply', '--server-side', '--field-manager=test', '-f', '-'],
    'apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: fleet}\nspec:\n  region: us-east-1\n  daemonSet: {imagePullSecrets: [{name: own-registry}]}\n',
  );
  assert.equal(apply.code, 0, apply.stderr);
  const dsPath = resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: 'ssm-node-agent-fleet' });
  // The DaemonSet controller's count: linux-1, bare-1 and cp-1, never win-1 (a count of 4 would stay 4).
  let last: DaemonSet | undefined;
  const ds = await waitFor(
    'the DaemonSet controller to schedule 3 nodes',
    async () => {
      last = await env.getOrUndefined<DaemonSet>(dsPath);
      return last?.status?.desiredNumberScheduled === 3 ? last : undefined;
    },
    90_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last status ${JSON.stringify(last?.status)}`);
  });
  const pod = ds.spec.template.spec;
  assert.equal(pod.priorityClassName, 'system-node-critical');
  assert.deepEqual(pod.imagePullSecrets, [{ name: 'shared-registry' }, { name: 'own-registry' }]);
  assert.ok(pod.tolerations?.some((t) => t.key === 'node-role.kubernetes.io/control-plane'), 'tolerates the control plane');
  assert.equal(ds.status?.desiredNumberScheduled, 3, 'linux-1, bare-1 and cp-1: not win-1 (the real DaemonSet controller)');
  const config = await waitFor(
    'status.nodes.desired of 3',
    async () => {
      const c = await env.getOrUndefined<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name: 'fleet' }));
      return c?.status?.nodes?.desired === 3 ? c : undefined;
    },
    60_000,
  );
  assert.equal(config.status?.nodes?.desired, 3);
});
