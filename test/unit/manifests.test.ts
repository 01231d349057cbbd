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

test('a config owns a ServiceAccount bound to no role, its revision ConfigMap and the DaemonSet: no RBAC object', () => {
  for (const config of [sampleConfig('default'), full]) {
    const objects = buildDesiredObjects({ config, context });
    assert.deepEqual(objects.map((o) => o.kind), ['ServiceAccount', 'ConfigMap', 'DaemonSet']);
    const sa = objects[0] as Obj & { automountServiceAccountToken?: boolean };
    assert.equal(sa.automountServiceAccountToken, false, 'no API token is mounted');
  }
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

test('the revision follows the rendered configuration and the referenced Secrets, and only them', () => {
  const revision = (c: ReturnType<typeof sampleConfig>, digests: Record<string, string> = {}) => {
    const objects = buildDesiredObjects({ config: c, context, inputs: { digests } });
    const ds = objects.find((o) => o.kind === 'DaemonSet') as Obj;
    const template = ds.spec?.template as { metadata: { annotations: Record<string, string> }; spec: { volumes: { name: string; configMap?: { name: string } }[] } };
    const rev = template.metadata.annotations['ssmagent.io/revision'] ?? '';
    const cm = objects.find((o) => o.kind === 'ConfigMap') as Obj & { immutable?: boolean; metadata: { name: string } };
    // The pod template references exactly the revision's immutable ConfigMap, named by the hash.
    assert.equal(cm.metadata.name, `ssm-node-agent-${c.metadata.name}-${rev}`);
    assert.equal(cm.immutable, true);
    assert.equal(template.spec.volumes.find((v) => v.name === 'config')?.configMap?.name, cm.metadata.name);
    return rev;
  };
  const base = sampleConfig('c');
  assert.match(revision(base), /^[0-9a-f]{10}$/);
  assert.equal(revision(base), revision(sampleConfig('c')));
  assert.notEqual(revision(base), revision(sampleConfig('c', { region: 'eu-west-1' })));
  assert.notEqual(revision(base), revision(sampleConfig('c', { agent: { version: '3.3.1142.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' } })));
  assert.equal(revision(base), revision(sampleConfig('c', { daemonSet: { maxUnavailable: 3 } })), 'a scheduling-only change does not change the revision');
  // A referenced Secret's content counts (as a digest); one the config does not reference does not.
  const withProxy = sampleConfig('c', { proxy: { secretRef: { name: 'proxy-creds' } } });
  assert.notEqual(revision(withProxy, { 'Secret/proxy-creds': 'd1' }), revision(withProxy, { 'Secret/proxy-creds': 'd2' }));
  assert.equal(revision(base, { 'Secret/proxy-creds': 'd1' }), revision(base, { 'Secret/proxy-creds': 'd2' }));
  const cm = buildDesiredObjects({ config: withProxy, context, inputs: { digests: { 'Secret/proxy-creds': 'secret-digest' } } }).find((o) => o.kind === 'ConfigMap') as Obj;
  assert.ok(!JSON.stringify(cm).includes('secret-digest'), 'not even the digest is copied into the ConfigMap');
});

test('the mirror Secret counts in the revision as a digest, is mounted 0400, and its content never enters the ConfigMap', () => {
  const agent = { version: '3.3.1142.0', verify: 'Signature' as const, selfUpdate: false, existingInstall: 'Adopt' as const, source: { mirror: 'https://mirror.corp/ssm', mirrorSecretRef: { name: 'mirror-creds' } } };
  const c = sampleConfig('m', { agent });
  const rev = (d: string) => {
    const ds = buildDesiredObjects({ config: c, context, inputs: { digests: { 'Secret/mirror-creds': d } } }).find((o) => o.kind === 'DaemonSet') as Obj;
    return (ds.spec?.template as { metadata: { annotations: Record<string, string> } }).metadata.annotations['ssmagent.io/revision'];
  };
  assert.notEqual(rev('d1'), rev('d2'), 'a changed mirror Secret is a new revision');
  const objects = buildDesiredObjects({ config: c, context, inputs: { digests: { 'Secret/mirror-creds': 'mirror-digest' } } });
  const pod = ((objects.find((o) => o.kind === 'DaemonSet') as Obj).spec?.template as { spec: { volumes: { name: string; secret?: { secretName: string; defaultMode: number } }[]; containers: { volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[] } }).spec;
  assert.deepEqual(pod.volumes.find((v) => v.name === 'mirror')?.secret, { secretName: 'mirror-creds', optional: true, defaultMode: 0o400 });
  assert.deepEqual(pod.containers[0]?.volumeMounts.find((m) => m.name === 'mirror'), { name: 'mirror', mountPath: '/var/run/secrets/ssmagent.io/mirror', readOnly: true });
  const cm = objects.find((o) => o.kind === 'ConfigMap') as Obj;
  const parsed = parseNodeAgentConfig(cm.data?.['config.json'] ?? '');
  assert.ok(parsed.ok);
  assert.equal(parsed.config.agent.mirrorSecretDir, '/var/run/secrets/ssmagent.io/mirror');
  assert.equal(parsed.config.agent.mirrorSecretName, 'mirror-creds');
  assert.ok(!JSON.stringify(cm).includes('mirror-digest'), 'not even the digest is in the ConfigMap');
});

test('a resolved "latest" is written into the revision; a pin is left as it is', () => {
  const render = (c: ReturnType<typeof sampleConfig>, resolvedVersion?: string) => {
    const cm = buildDesiredObjects({ config: c, context, inputs: { digests: {}, ...(resolvedVersion ? { resolvedVersion } : {}) } }).find((o) => o.kind === 'ConfigMap') as Obj;
    const parsed = parseNodeAgentConfig(cm.data?.['config.json'] ?? '');
    assert.ok(parsed.ok);
    return parsed.config.agent.version;
  };
  assert.equal(render(sampleConfig('c'), '3.3.2000.0'), '3.3.2000.0');
  assert.equal(render(sampleConfig('c')), 'latest');
  assert.equal(render(sampleConfig('c', { agent: { version: '3.3.1142.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' } }), '3.3.2000.0'), '3.3.1142.0');
});

test('the pods are ready only when their host converged, and get time to finish a host command on SIGTERM', () => {
  const ds = buildDesiredObjects({ config: sampleConfig('c'), context }).find((o) => o.kind === 'DaemonSet') as Obj;
  const pod = (ds.spec?.template as { spec: { terminationGracePeriodSeconds: number; containers: { readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } }; env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } }).spec;
  assert.equal(pod.containers[0]?.readinessProbe.httpGet.path, '/readyz');
  // A converged host is seen ready within 2 s (the rollout waits for it on every node), and one slow answer of a
  // busy node agent does not make a converged pod unready, which the DaemonSet controller would count as a
  // second node in flight.
  const probe = pod.containers[0]?.readinessProbe as unknown as { periodSeconds: number; failureThreshold: number; timeoutSeconds: number };
  assert.ok(probe.periodSeconds <= 2, `readiness period ${probe.periodSeconds} s`);
  assert.ok(probe.failureThreshold >= 3, `readiness failureThreshold ${probe.failureThreshold}`);
  assert.ok(probe.timeoutSeconds >= 2, `readiness timeout ${probe.timeoutSeconds} s`);
  assert.equal(pod.containers[0]?.livenessProbe.httpGet.path, '/healthz');
  assert.ok(pod.terminationGracePeriodSeconds > 300, 'longer than the longest host command (dpkg/rpm: 300 s)');
  assert.equal(pod.containers[0]?.env.find((e) => e.name === 'REVISION')?.valueFrom?.fieldRef?.fieldPath, "metadata.annotations['ssmagent.io/revision']");
});

test('a halted rollout switches the DaemonSet to OnDelete; Uninstall goes to every node at once', () => {
  const strategy = (objects: ReturnType<typeof buildDesiredObjects>) => (objects.find((o) => o.kind === 'DaemonSet') as Obj).spec?.updateStrategy;
  assert.deepEqual(strategy(buildDesiredObjects({ config: sampleConfig('c'), context }, { halted: true })), { type: 'OnDelete' });
  assert.deepEqual(strategy(buildDesiredObjects({ config: sampleConfig('c'), context })), { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  assert.deepEqual(strategy(buildDesiredObjects({ config: sampleConfig('c'), context, action: 'Uninstall' })), { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%', maxSurge: 0 } });
});

test('the rendered node-agent configuration is valid, resolves endpoints and always bypasses the proxy for IMDS', () => {
  const cm = buildDesiredObjects({ config: full, context }).find((o) => o.kind === 'ConfigMap') as Obj;
  const parsed = parseNodeAgentConfig(cm.data?.['config.json'] ?? '');
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
  assert.equal(parsed.config.endpoints.ssm, 'vpce-1.ssm.us-east-1.vpce.amazonaws.com');
  assert.equal(parsed.config.endpoints.ec2messages, 'ec2messages.us-east-1.amazonaws.com');
  assert.deepEqual(parsed.config.proxy.noProxy, ['.corp', '10.0.0.0/8', '169.254.169.254']);
  assert.equal(parsed.config.connectivity.intervalSeconds, 60);
  const china = buildDesiredObjects({ config: sampleConfig('cn', { region: 'cn-north-1' }), context }).find((o) => o.kind === 'ConfigMap') as Obj;
  assert.match(china.data?.['config.json'] ?? '', /ssm\.cn-north-1\.amazonaws\.com\.cn/);
});
