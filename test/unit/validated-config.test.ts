// Where configs enter the cache they are validated once (operator/controllers/validated-config.ts), and Events are
// built where `kubectl describe` finds them (operator/manifests/event.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { validateConfig } from '../../operator/controllers/validated-config.ts';
import { buildEvent, CLUSTER_SCOPED_EVENTS_NAMESPACE } from '../../operator/manifests/event.ts';
import { OS_LABEL } from '../../operator/manifests/node-agent-defaults.ts';

const stored = (spec: Record<string, unknown>): SsmAgentConfig =>
  ({ apiVersion: 'ssmagent.io/v1alpha1', kind: 'SsmAgentConfig', metadata: { name: 'a', resourceVersion: '7' }, spec, status: { observedGeneration: 1 } }) as unknown as SsmAgentConfig;

test('a valid stored spec: the schema defaults and the node-agent defaults applied; the object itself as stored', () => {
  const raw = stored({ region: 'eu-west-1' });
  const cached = validateConfig(raw, { priorityClassName: 'system-node-critical' });
  assert.ok(cached.verdict.ok);
  const spec = cached.verdict.config.spec;
  assert.equal(spec.agent.version, 'latest', 'schema default');
  assert.equal(spec.daemonSet.priorityClassName, 'system-node-critical', 'node-agent default');
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  assert.ok(terms.every((t) => t.matchExpressions?.some((e) => e.key === OS_LABEL)), 'Linux nodes only');
  assert.deepEqual(cached.spec, { region: 'eu-west-1' }, 'the stored spec is kept as it was');
  assert.deepEqual(raw.spec, { region: 'eu-west-1' }, 'and the object given is not changed');
  assert.equal(cached.verdict.config.metadata.resourceVersion, '7');
  assert.deepEqual(cached.status, { observedGeneration: 1 });
});

test('an invalid stored spec: the errors, each naming its field', () => {
  const cached = validateConfig(stored({ region: 'eu-west-1', deletionPolicy: 'Sometimes' }));
  assert.equal(cached.verdict.ok, false);
  assert.ok(!cached.verdict.ok && cached.verdict.errors.some((e) => e.startsWith('spec.deletionPolicy')), JSON.stringify(cached.verdict));
});

test('Events: in the object’s namespace, or in "default" for a cluster-scoped object; the message capped', () => {
  const at = new Date('2026-12-02T03:00:00Z');
  const reporter = { component: 'ssm-agent-operator', instance: 'pod-0' };
  const clusterScoped = buildEvent({ apiVersion: 'ssmagent.io/v1alpha1', kind: 'SsmAgentConfig', name: 'a', uid: 'u1' }, { type: 'Warning', reason: 'InvalidSpec', message: 'x'.repeat(2000) }, reporter, at, 'abc');
  assert.equal(clusterScoped.metadata.namespace, CLUSTER_SCOPED_EVENTS_NAMESPACE);
  assert.equal(CLUSTER_SCOPED_EVENTS_NAMESPACE, 'default');
  assert.equal(clusterScoped.metadata.name, `a.${at.getTime().toString(16)}abc`);
  assert.deepEqual(clusterScoped.involvedObject, { apiVersion: 'ssmagent.io/v1alpha1', kind: 'SsmAgentConfig', name: 'a', uid: 'u1' });
  assert.equal(clusterScoped.message.length, 1024);
  assert.equal(clusterScoped.firstTimestamp, '2026-12-02T03:00:00.000Z');
  const namespaced = buildEvent({ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'd', namespace: 'ssm-system' }, { type: 'Normal', reason: 'R', message: 'm' }, reporter, at, 'abc');
  assert.equal(namespaced.metadata.namespace, 'ssm-system');
  assert.equal(namespaced.involvedObject.namespace, 'ssm-system');
});
