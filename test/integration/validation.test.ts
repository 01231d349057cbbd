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

test('kubectl explain describes the fields', async () => {
  const r = await env.kubectl(['explain', 'sac.spec.registration.activation.managed']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /expirationDays/);
  assert.match(r.stdout.replace(/\s+/g, ' '), /rotates it before then/);
});
