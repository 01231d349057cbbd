// Bad SsmAgentConfigs are rejected by the real API server at apply time, with a message that names the field.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';

let env: OperatorTestEnv;
before(async () => {
  env = await startOperatorTestEnv({ controllerManager: false });
});
after(async () => env?.stop());

const doc = (name: string, spec: string) => `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${name}}\nspec:\n${spec}\n`;

// [what, spec (indented two spaces), field the error must name, words of the fix]
const INVALID: [string, string, string, RegExp][] = [
  ['region format', '  region: US-EAST-1', 'spec.region', /AWS region such as us-east-1/],
  ['region missing', '  nodeSelector: {a: b}', 'spec.region', /Required/],
  ['hybrid without activation', '  region: us-east-1\n  registration: {mode: Hybrid}', 'spec.registration.activation', /exactly one of secretRef or managed/],
  ['both secretRef and managed', '  region: us-east-1\n  registration:\n    mode: Hybrid\n    activation: {secretRef: {name: a}, managed: {iamRole: r}}', 'spec.registration.activation', /exactly one of secretRef or managed/],
  ['neither secretRef nor managed', '  region: us-east-1\n  registration: {mode: Hybrid, activation: {}}', 'spec.registration.activation', /exactly one/],
  ['EC2 mode with an activation', '  region: us-east-1\n  registration: {mode: EC2, activation: {secretRef: {name: a}}}', 'spec.registration.activation', /mode EC2/],
  ['expirationDays above 30', '  region: us-east-1\n  registration: {mode: Hybrid, activation: {managed: {iamRole: r, expirationDays: 31}}}', 'spec.registration.activation.managed.expirationDays', /30/],
  ['expirationDays below 1', '  region: us-east-1\n  registration: {mode: Hybrid, activation: {managed: {iamRole: r, expirationDays: 0}}}', 'spec.registration.activation.managed.expirationDays', /1/],
  ['registrationLimit above 1000', '  region: us-east-1\n  registration: {mode: Hybrid, activation: {managed: {iamRole: r, registrationLimit: 1001}}}', 'spec.registration.activation.managed.registrationLimit', /1000/],
  ['agent version not four-part', '  region: us-east-1\n  agent: {version: "3.3"}', 'spec.agent.version', /four-part version/],
  ['Checksum without sha256', '  region: us-east-1\n  agent: {version: 3.3.1142.0, verify: Checksum}', 'spec.agent.sha256', /sha256/],
  ['Checksum with latest', '  region: us-east-1\n  agent: {verify: Checksum, sha256: ' + 'a'.repeat(64) + '}', 'spec.agent.version', /pinned version/],
  ['verify value', '  region: us-east-1\n  agent: {verify: GPG}', 'spec.agent.verify', /Signature/],
  ['proxy URL scheme', '  region: us-east-1\n  proxy: {httpsProxy: "ftp://proxy:21"}', 'spec.proxy.httpsProxy', /http:\/\/ or https:\/\//],
  ['proxy URL without host', '  region: us-east-1\n  proxy: {httpProxy: "proxy.example.com:3128"}', 'spec.proxy.httpProxy', /URL with a host/],
  ['noProxy with a comma', '  region: us-east-1\n  proxy: {noProxy: ["a.com,b.com"]}', 'spec.proxy.noProxy[0]', /without spaces or commas/],
  ['deletionPolicy enum', '  region: us-east-1\n  deletionPolicy: Delete', 'spec.deletionPolicy', /Retain/],
  ['endpoint with scheme', '  region: us-east-1\n  endpoints: {ssm: "https://ssm.example.com"}', 'spec.endpoints.ssm', /without https/],
  ['maxUnavailable zero', '  region: us-east-1\n  daemonSet: {maxUnavailable: 0}', 'spec.daemonSet.maxUnavailable', /integer >= 1/],
  ['maxUnavailable bad percent', '  region: us-east-1\n  daemonSet: {maxUnavailable: "150%"}', 'spec.daemonSet.maxUnavailable', /percentage/],
  ['connectivity interval', '  region: us-east-1\n  connectivity: {interval: "one minute"}', 'spec.connectivity.interval', /duration/],
  ['toleration Exists with value', '  region: us-east-1\n  tolerations: [{key: k, operator: Exists, value: v}]', 'spec.tolerations[0]', /value must be empty/],
  // Credentials in URLs would be stored in clear in the CR and the node agents' ConfigMap (issue 10, Medium 5).
  ['httpsProxy with credentials', '  region: us-east-1\n  proxy: {httpsProxy: "http://user:pw@proxy.corp:3128"}', 'spec.proxy.httpsProxy', /credentials.*secretRef/],
  ['httpProxy with a user', '  region: us-east-1\n  proxy: {httpProxy: "http://user@proxy.corp:3128"}', 'spec.proxy.httpProxy', /credentials.*secretRef/],
  ['mirror with credentials', '  region: us-east-1\n  agent: {source: {mirror: "https://u:p@mirror.corp/ssm"}}', 'spec.agent.source.mirror', /credentials.*mirrorSecretRef/],
  // A plain-http mirror is trusted only with the package pinned by its sha256 (issue 10, Medium 7).
  ['http mirror without sha256', '  region: us-east-1\n  agent: {version: 3.3.1142.0, source: {mirror: "http://mirror.corp/ssm"}}', 'spec.agent.source.mirror', /https:\/\/.*agent\.sha256/],
  ['http mirror with sha256 and latest', '  region: us-east-1\n  agent: {sha256: ' + 'a'.repeat(64) + ', source: {mirror: "HTTP://mirror.corp/ssm"}}', 'spec.agent.source.mirror', /pin agent\.version/],
  ['mirrorSecretRef without a mirror', '  region: us-east-1\n  agent: {source: {mirrorSecretRef: {name: mirror-creds}}}', 'spec.agent.source.mirror', /mirrorSecretRef needs mirror/],
  ['caBundle without a mirror', '  region: us-east-1\n  agent: {source: {caBundle: {configMap: mirror-ca}}}', 'spec.agent.source.mirror', /caBundle needs mirror/],
  ['caBundle key', '  region: us-east-1\n  agent: {source: {mirror: "https://mirror.corp/ssm", caBundle: {configMap: mirror-ca, key: "../ca"}}}', 'spec.agent.source.caBundle.key', /ConfigMap key/],
  ['mirrorSecretRef name', '  region: us-east-1\n  agent: {source: {mirror: "https://mirror.corp/ssm", mirrorSecretRef: {name: "Bad_Name"}}}', 'spec.agent.source.mirrorSecretRef.name', /Secret name/],
  // Durations the node agent would reject, or that overflow a timer (issue 10, Medium 8).
  ['interval 0s', '  region: us-east-1\n  connectivity: {interval: 0s}', 'spec.connectivity.interval', /between 5s and 24h/],
  ['interval 600h', '  region: us-east-1\n  connectivity: {interval: 600h}', 'spec.connectivity.interval', /between 5s and 24h/],
  ['timeout 0s', '  region: us-east-1\n  connectivity: {timeout: 0ms}', 'spec.connectivity.timeout', /between 100ms and 60s/],
  ['timeout not shorter than interval', '  region: us-east-1\n  connectivity: {interval: 10s, timeout: 10s}', 'spec.connectivity', /timeout must be shorter than interval/],
  // What the API server would refuse later inside the DaemonSet.
  ['nodeSelector key', '  region: us-east-1\n  nodeSelector: {"bad key": x}', 'spec.nodeSelector', /label keys/],
  ['nodeSelector value', '  region: us-east-1\n  nodeSelector: {pool: "not a value!"}', 'spec.nodeSelector', /label values/],
  ['nodeSelector value too long', `  region: us-east-1\n  nodeSelector: {pool: ${'a'.repeat(64)}}`, 'spec.nodeSelector.pool', /more than 63/],
  ['nodeSelector too many', `  region: us-east-1\n  nodeSelector: {${Array.from({ length: 65 }, (_, i) => `k${i}: v`).join(', ')}}`, 'spec.nodeSelector', /at most 64/],
  ['toleration key', '  region: us-east-1\n  tolerations: [{key: "bad key", operator: Exists}]', 'spec.tolerations[0].key', /label key/],
  ['affinity key', '  region: us-east-1\n  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: "a b", operator: Exists}]}]}}}', 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key', /label key/],
  ['resource quantity', '  region: us-east-1\n  daemonSet: {resources: {requests: {memory: lots}}}', 'spec.daemonSet.resources.requests', /quantit/],
  ['resource name', '  region: us-east-1\n  daemonSet: {resources: {limits: {mem: 1Gi}}}', 'spec.daemonSet.resources.limits', /cpu, memory/],
  ['requests above limits', '  region: us-east-1\n  daemonSet: {resources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}}', 'spec.daemonSet.resources', /requests must not exceed limits/],
  ['podAnnotations key', '  region: us-east-1\n  daemonSet: {podAnnotations: {"bad key!": x}}', 'spec.daemonSet.podAnnotations', /annotation keys/],
  ['serviceAccountAnnotations key', '  region: us-east-1\n  daemonSet: {serviceAccountAnnotations: {"/x": v}}', 'spec.daemonSet.serviceAccountAnnotations', /annotation keys/],
  ['priorityClassName', '  region: us-east-1\n  daemonSet: {priorityClassName: Bad_Name}', 'spec.daemonSet.priorityClassName', /PriorityClass name/],
  ['activation tags too many', `  region: us-east-1\n  registration: {mode: Hybrid, activation: {managed: {iamRole: r, tags: {${Array.from({ length: 48 }, (_, i) => `t${i}: v`).join(', ')}}}}}`, 'spec.registration.activation.managed.tags', /at most 47/],
  ['activation tag key aws:', '  region: us-east-1\n  registration: {mode: Hybrid, activation: {managed: {iamRole: r, tags: {"aws:x": v}}}}', 'spec.registration.activation.managed.tags', /aws:/],
];

for (const [what, spec, field, fix] of INVALID) {
  test(`rejected at apply time: ${what}`, async () => {
    const r = await env.kubectl(['apply', '--dry-run=server', '-f', '-'], doc('bad', spec));
    assert.notEqual(r.code, 0, `accepted: ${what}`);
    assert.ok(r.stderr.includes(field), `error names ${field}: ${r.stderr}`);
    assert.match(r.stderr, fix);
  });
}

test('a name longer than 40 characters is rejected with the reason', async () => {
  const r = await env.kubectl(['apply', '--dry-run=server', '-f', '-'], doc('x'.repeat(41), '  region: us-east-1'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /at most 40 characters/);
});

test('a minimal valid config is accepted and stored with its defaults', async () => {
  const r = await env.kubectl(['apply', '-f', '-', '-o', 'json'], doc('good', '  region: us-gov-west-1'));
  assert.equal(r.code, 0, r.stderr);
  const stored = JSON.parse(r.stdout) as { spec: { agent: { version: string; verify: string }; deletionPolicy: string; registration: { mode: string }; daemonSet: { maxUnavailable: number }; connectivity: { interval: string } } };
  assert.equal(stored.spec.agent.version, 'latest');
  assert.equal(stored.spec.agent.verify, 'Signature');
  assert.equal(stored.spec.deletionPolicy, 'Retain');
  assert.equal(stored.spec.registration.mode, 'Auto');
  assert.equal(stored.spec.daemonSet.maxUnavailable, 1);
  assert.equal(stored.spec.connectivity.interval, '60s');
});

test('a plain-http mirror is accepted with a pinned version and its sha256', async () => {
  for (const verify of ['Checksum', 'Signature']) {
    const spec = `  region: us-east-1\n  agent: {version: 3.3.1142.0, verify: ${verify}, sha256: ${'b'.repeat(64)}, source: {mirror: "http://mirror.corp/ssm"}}`;
    const r = await env.kubectl(['apply', '--dry-run=server', '-f', '-'], doc(`http-mirror-${verify.toLowerCase()}`, spec));
    assert.equal(r.code, 0, r.stderr);
  }
});

test('kubectl explain describes the fields', async () => {
  const r = await env.kubectl(['explain', 'sac.spec.registration.activation.managed']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /expirationDays/);
  assert.match(r.stdout.replace(/\s+/g, ' '), /rotates it before then/);
});

test('values at the edges of the new bounds are accepted', async () => {
  const spec = [
    '  region: us-east-1',
    '  nodeSelector: {"node.kubernetes.io/pool": web-1, empty: ""}',
    '  tolerations: [{key: "node-role.kubernetes.io/control-plane", operator: Exists}, {operator: Exists}]',
    '  connectivity: {interval: 1m30s, timeout: 100ms}',
    '  proxy: {httpsProxy: "http://proxy.corp:3128", noProxy: [".corp"]}',
    '  agent: {source: {mirror: "https://mirror.corp/ssm/", mirrorSecretRef: {name: mirror-creds}}}',
    '  registration: {mode: Hybrid, activation: {managed: {iamRole: r, tags: {team: platform, "cost-center": "42"}}}}',
    '  daemonSet:',
    '    priorityClassName: system-node-critical',
    '    resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {cpu: 1, memory: 64Mi}}',
    '    podAnnotations: {"example.com/team": "platform"}',
    '    serviceAccountAnnotations: {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"}',
  ].join('\n');
  const r = await env.kubectl(['apply', '--dry-run=server', '-f', '-'], doc('edges', spec));
  assert.equal(r.code, 0, r.stderr);
});
