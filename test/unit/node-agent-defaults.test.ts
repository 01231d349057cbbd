// The node agents' scheduling and image defaults (operator/manifests/node-agent-defaults.ts): Linux nodes only,
// whatever the spec says; the operator's PriorityClass, pull Secrets and control-plane toleration unless the spec
// says otherwise; and what the DaemonSet and node selection make of them. The settings that carry them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../operator/api/validate.ts';
import type { SsmAgentConfigSpec } from '../../operator/api/types.ts';
import { nodeIsCovered, type NodeObject } from '../../operator/controllers/node-selection.ts';
import { buildDaemonSet } from '../../operator/manifests/daemonset.ts';
import { withNodeAgentDefaults, type NodeAgentDefaults } from '../../operator/manifests/node-agent-defaults.ts';
import { readSettings } from '../../operator/settings.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const node = (name: string, labels: Record<string, string> = {}, taints: { key: string; effect: string }[] = []): NodeObject => ({ metadata: { name, labels }, spec: { taints } });
const linux = node('linux-1', { 'kubernetes.io/os': 'linux' });
const windows = node('win-1', { 'kubernetes.io/os': 'windows' });
const unlabelled = node('bare-1');
const controlPlane = node('cp-1', { 'kubernetes.io/os': 'linux' }, [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }]);

function spec(raw: Record<string, unknown> = {}): SsmAgentConfigSpec {
  const parsed = parseSpec({ region: 'us-east-1', ...raw });
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.spec;
}

test('Windows nodes are never covered, with or without a selector or affinity of the spec; unlabelled nodes are', () => {
  for (const raw of [
    {},
    { nodeSelector: { pool: 'a' } },
    { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['a'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['win-1', 'linux-1'] }] }] } } } },
  ]) {
    const plain = spec(raw);
    const effective = withNodeAgentDefaults(plain);
    const label = JSON.stringify(raw);
    const pool = (n: NodeObject): NodeObject => ({ ...n, metadata: { ...n.metadata, labels: { ...n.metadata?.labels, pool: 'a' } } });
    // Without the defaults a Windows node in the pool would be covered: that is what they fix.
    assert.equal(nodeIsCovered(plain, pool(windows)), true, `${label}: the spec alone covers the Windows node`);
    assert.equal(nodeIsCovered(effective, pool(windows)), false, `${label}: Windows excluded`);
    assert.equal(nodeIsCovered(effective, pool(linux)), true, `${label}: Linux covered`);
    assert.equal(nodeIsCovered(effective, pool(unlabelled)), true, `${label}: a node without the OS label is covered`);
  }
});

test('the control-plane toleration is opt-in and not doubled', () => {
  assert.equal(nodeIsCovered(withNodeAgentDefaults(spec()), controlPlane), false, 'tainted control-plane nodes are left out by default');
  const opted = withNodeAgentDefaults(spec(), { tolerateControlPlane: true });
  assert.equal(nodeIsCovered(opted, controlPlane), true);
  assert.equal(opted.tolerations?.length, 1);
  const own = withNodeAgentDefaults(spec({ tolerations: [{ operator: 'Exists' }] }), { tolerateControlPlane: true });
  assert.deepEqual(own.tolerations, [{ operator: 'Exists' }], "the spec's tolerate-everything already covers it");
});

test('priorityClassName and pull Secrets: the operator default, the spec wins, Secrets merged once each', () => {
  const defaults: NodeAgentDefaults = { priorityClassName: 'system-node-critical', imagePullSecrets: ['shared', 'both'] };
  const ds = buildDaemonSet({ config: sampleConfig('a', withNodeAgentDefaults(spec(), defaults)), context: { namespace: 'ssm-system', nodeAgentImage: 'img:1' } }, 'r1');
  const pod = ds.spec?.template.spec;
  assert.equal(pod?.priorityClassName, 'system-node-critical');
  assert.deepEqual(pod?.imagePullSecrets, [{ name: 'shared' }, { name: 'both' }]);
  assert.deepEqual(pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms, [
    { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'NotIn', values: ['windows'] }] },
  ]);

  const own = withNodeAgentDefaults(spec({ daemonSet: { priorityClassName: 'fleet-high', imagePullSecrets: [{ name: 'both' }, { name: 'mine' }] } }), defaults);
  assert.equal(own.daemonSet.priorityClassName, 'fleet-high');
  assert.deepEqual(own.daemonSet.imagePullSecrets, [{ name: 'shared' }, { name: 'both' }, { name: 'mine' }]);
  const none = withNodeAgentDefaults(spec());
  assert.equal(none.daemonSet.priorityClassName, undefined);
  assert.equal(none.daemonSet.imagePullSecrets, undefined);
});

test('the settings carry the defaults and name a bad one', () => {
  const base = { POD_NAMESPACE: 'ssm-system', NODE_AGENT_IMAGE: 'img:1' };
  const ok = readSettings({ ...base, NODE_AGENT_PRIORITY_CLASS_NAME: 'system-node-critical', NODE_AGENT_IMAGE_PULL_SECRETS: 'a, b', NODE_AGENT_TOLERATE_CONTROL_PLANE: 'true' });
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.deepEqual(ok.settings.nodeAgentDefaults, { priorityClassName: 'system-node-critical', imagePullSecrets: ['a', 'b'], tolerateControlPlane: true });
  const empty = readSettings(base);
  assert.ok(empty.ok);
  assert.deepEqual(empty.settings.nodeAgentDefaults, {});
  for (const [name, value] of [
    ['NODE_AGENT_PRIORITY_CLASS_NAME', 'System Critical'],
    ['NODE_AGENT_IMAGE_PULL_SECRETS', 'ok,Not_OK'],
    ['NODE_AGENT_TOLERATE_CONTROL_PLANE', 'yes'],
  ] as const) {
    const bad = readSettings({ ...base, [name]: value });
    assert.ok(!bad.ok && bad.errors.some((e) => e.startsWith(name)), `${name}=${value}: ${JSON.stringify(bad)}`);
  }
});
