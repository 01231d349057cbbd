// A config the API server stored but the operator's schema refuses (stored under an older, looser CRD): the
// operator says so in status (Degraded InvalidSpec, Progressing Blocked) and in a Warning Event, creates nothing
// for it, and leaves it out of the conflict check, so a valid config on the same nodes runs. The CRD's spec schema
// is loosened here to store such an object; the operator itself is the real one against a real kube-apiserver.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

let env: OperatorTestEnv;
let operator: Operator | undefined;

const configPath = (name: string) => resourcePath(RESOURCES.ssmAgentConfig, { name });
const dsPath = (config: string) => resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: `ssm-node-agent-${config}` });
const condition = (c: SsmAgentConfig | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);

async function apply(yaml: string) {
  const r = await env.kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], yaml);
  assert.equal(r.code, 0, r.stderr);
}

before(async () => {
  env = await startOperatorTestEnv();
  await env.createNode('shared-1', { pool: 'shared' });
  // An older CRD that checked nothing in spec.
  const loosen = JSON.stringify([{ op: 'replace', path: '/spec/versions/0/schema/openAPIV3Schema/properties/spec', value: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } }]);
  const r = await env.kubectl(['patch', 'crd', 'ssmagentconfigs.ssmagent.io', '--type=json', '-p', loosen]);
  assert.equal(r.code, 0, r.stderr);
  // The looser schema is served once a bad spec is accepted (a dry run until then).
  await waitFor(
    'the loosened schema to be served',
    async () => (await env.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], 'apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: probe}\nspec: {region: eu-west-1, deletionPolicy: Sometimes}\n')).code === 0,
    30_000,
    200,
  );
});

after(async () => {
  await operator?.stop();
  await env?.stop();
});

test('an invalid stored spec: Degraded InvalidSpec and a Warning Event, nothing created, no conflict with a valid config', { timeout: 120_000 }, async () => {
  // The invalid one is older: were it counted, the valid one on the same node would be Conflicted.
  await apply('apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: bad}\nspec:\n  region: eu-west-1\n  deletionPolicy: Sometimes\n  nodeSelector: {pool: shared}\n');
  await new Promise((r) => setTimeout(r, 1_100)); // creationTimestamp has a one-second resolution
  await apply('apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: good}\nspec:\n  region: eu-west-1\n  nodeSelector: {pool: shared}\n');
  ({ operator } = await startInProcessOperator(env));

  const bad = await waitFor('the invalid config’s status', async () => {
    const c = await env.getOrUndefined<SsmAgentConfig>(configPath('bad'));
    return condition(c, 'Degraded')?.reason === 'InvalidSpec' ? c : undefined;
  });
  assert.equal(condition(bad, 'Degraded')?.status, 'True');
  assert.match(condition(bad, 'Degraded')?.message ?? '', /spec\.deletionPolicy/);
  assert.equal(condition(bad, 'Progressing')?.reason, 'Blocked');
  assert.equal(condition(bad, 'Ready')?.status, 'False');
  assert.equal(bad.status?.observedGeneration, bad.metadata.generation);

  const good = await waitFor('the valid config’s status', async () => {
    const c = await env.getOrUndefined<SsmAgentConfig>(configPath('good'));
    return condition(c, 'Conflicted') ? c : undefined;
  });
  assert.equal(condition(good, 'Conflicted')?.status, 'False', JSON.stringify(condition(good, 'Conflicted')));
  await waitFor('the valid config’s DaemonSet', () => env.getOrUndefined(dsPath('good')));
  assert.equal(await env.getOrUndefined(dsPath('bad')), undefined, 'nothing is created for the invalid config');

  const event = await waitFor('the InvalidSpec Event', async () => {
    const events = await env.client.get<KubeList<{ type: string; reason: string; message: string; involvedObject: { name: string; kind: string } }>>('/api/v1/namespaces/default/events');
    return events.items.find((e) => e.involvedObject.name === 'bad' && e.reason === 'InvalidSpec');
  });
  assert.equal(event.type, 'Warning');
  assert.equal(event.involvedObject.kind, 'SsmAgentConfig');
  assert.match(event.message, /spec\.deletionPolicy/);
});
