// Golden tests of the pure builders. Regenerate with UPDATE_GOLDEN=1 after an intended change, and review the diff.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseNodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { buildDesiredObjects } from '../../operator/manifests/desired-objects.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const context = { namespace: 'ssm-system', nodeAgentImage: 'example.com/ssm-agent-operator:1.0.0' };
type Obj = { kind?: string; spec?: Record<string, unknown>; data?: Record<string, string>; metadata?: { annotations?: Record<string, string> } };

function golden(name: string, value: unknown) {
  const path = new URL(`./golden/${name}.yaml`, import.meta.url);
  const text = stringify(value, { lineWidth: 0 });
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
  assert.ok(text === readFileSync(path, 'utf8'), `golden ${name} differs: compare with UPDATE_GOLDEN=1 and git diff, and commit it if intended`);
}

const full = sampleConfig('hybrid', {
  nodeSelector: { 'node.kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm64'] }] }] } } },
  agent: { version: '3.3.1142.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Replace', source: { mirror: 'https://mirror.corp/ssm', signingKeys: { configMap: 'ssm-keys', key: 'keys.asc' } } },
  registration: { mode: 'Hybrid', activation: { secretRef: { name: 'my-activation' } }, deregisterOnNodeDelete: true },
  proxy: { httpsProxy: 'http://proxy.corp:3128', noProxy: ['.corp', '10.0.0.0/8'] },
  endpoints: { ssm: 'vpce-1.ssm.us-east-1.vpce.amazonaws.com' },
  daemonSet: { maxUnavailable: '20%', priorityClassName: 'system-node-critical', resources: { limits: { memory: '256Mi', cpu: 1 } }, serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/x' } },
});

test('desired objects of a minimal config match the golden file', () => {
  golden('minimal', buildDesiredObjects({ config: sampleConfig('default'), context }));
});

test('desired objects of a full hybrid config match the golden file', () => {
  golden('hybrid', buildDesiredObjects({ config: full, context }));
});

test('the DaemonSet is privileged on the host and schedules as the spec says', () => {
  const ds = buildDesiredObjects({ config: full, context }).find((o) => o.kind === 'DaemonSet') as Obj;
  const pod = (ds.spec?.template as { spec: Record<string, unknown> }).spec as {
    hostPID: boolean;
    hostNetwork: boolean;
    tolerations: unknown[];
    nodeSelector: Record<string, string>;
    affinity: unknown;
    containers: { securityContext: { privileged: boolean }; volumeMounts: { mountPath: string }[] }[];
    volumes: { name: string; hostPath?: { path: string } }[];
  };
  assert.equal(pod.hostPID, true);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.containers[0]?.securityContext.privileged, true);
  // The host is reached through nsenter into PID 1 (hostPID) and /proc/1/root only: no host directory is mounted.
  assert.deepEqual(pod.volumes.filter((v) => v.hostPath), [], 'no hostPath volume');
  assert.equal(pod.containers[0]?.volumeMounts.some((m) => m.mountPath === '/host'), false);
  assert.deepEqual(pod.nodeSelector, { 'node.kubernetes.io/os': 'linux' });
  assert.equal(pod.tolerations.length, 1);
  assert.ok(pod.affinity);
  assert.deepEqual(ds.spec?.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '20%', maxSurge: 0 } });
  const container = (ds.spec?.template as { spec: { containers: { env: { name: string; value?: string }[] }[] } }).spec.containers[0];
  assert.deepEqual(container?.env.find((e) => e.name === 'SSM_AGENT_SIGNING_KEY_FILE'), { name: 'SSM_AGENT_SIGNING_KEY_FILE', value: '/etc/ssm-node-agent-signing-keys/keys.asc' });
  assert.ok(pod.volumes.some((v) => v.name === 'signing-keys'), 'the re-signing keys are mounted');
});

test('the config hash follows the rendered configuration, and only it', () => {
  const hash = (c: ReturnType<typeof sampleConfig>) => {
    const ds = buildDesiredObjects({ config: c, context }).find((o) => o.kind === 'DaemonSet') as Obj;
    return (ds.spec?.template as { metadata: { annotations: Record<string, string> } }).metadata.annotations['ssmagent.io/config-hash'];
  };
  const base = sampleConfig('c');
  assert.equal(hash(base), hash(sampleConfig('c')));
  assert.notEqual(hash(base), hash(sampleConfig('c', { region: 'eu-west-1' })));
  assert.notEqual(hash(base), hash(sampleConfig('c', { agent: { version: '3.3.1142.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' } })));
  assert.equal(hash(base), hash(sampleConfig('c', { daemonSet: { maxUnavailable: 3 } })), 'a scheduling-only change does not change the hash');
});

test('the rendered node-agent configuration is valid, resolves endpoints and always bypasses the proxy for IMDS', () => {
  const cm = buildDesiredObjects({ config: full, context }).find((o) => o.kind === 'ConfigMap') as Obj;
  const parsed = parseNodeAgentConfig(cm.data?.['config.json'] ?? '');
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  assert.equal(parsed.config.endpoints.ssm, 'vpce-1.ssm.us-east-1.vpce.amazonaws.com');
  assert.equal(parsed.config.endpoints.ec2messages, 'ec2messages.us-east-1.amazonaws.com');
  assert.deepEqual(parsed.config.proxy.noProxy, ['.corp', '10.0.0.0/8', '169.254.169.254']);
  assert.equal(parsed.config.connectivity.intervalSeconds, 60);
  const china = buildDesiredObjects({ config: sampleConfig('cn', { region: 'cn-north-1' }), context }).find((o) => o.kind === 'ConfigMap') as Obj;
  assert.match(china.data?.['config.json'] ?? '', /ssm\.cn-north-1\.amazonaws\.com\.cn/);
});
