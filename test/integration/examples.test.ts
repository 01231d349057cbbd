// The samples in examples/ (used by the demo and the README) against the real API server: every valid one is
// accepted by a server-side dry run (schema + CEL), invalid.yaml is rejected with messages that name the fields.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { parseSpec } from '../../operator/api/validate.ts';
import { REPO, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';

const EXAMPLES = join(REPO, 'examples');
const FILES = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const INVALID = 'invalid.yaml';

let env: OperatorTestEnv;

before(async () => {
  // A dry run needs only the API server: no kube-controller-manager.
  env = await startOperatorTestEnv({ controllerManager: false });
});

after(async () => {
  await env?.stop();
});

function readExample(file: string): { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: unknown } {
  return YAML.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: unknown };
}

test('examples/ holds the samples the demo and the README use, each one SsmAgentConfig', () => {
  for (const f of ['basic.yaml', 'everything.yaml', INVALID, 'hybrid-secret.yaml', 'managed-activation.yaml']) assert.ok(FILES.includes(f), `examples/${f} is missing`);
  const names = new Set<string>();
  for (const f of FILES) {
    const docs = YAML.parseAllDocuments(readFileSync(join(EXAMPLES, f), 'utf8'));
    assert.equal(docs.length, 1, `examples/${f} should hold exactly one object`);
    const obj = readExample(f);
    assert.equal(obj.apiVersion, 'ssmagent.io/v1alpha1', f);
    assert.equal(obj.kind, 'SsmAgentConfig', f);
    const name = obj.metadata?.name ?? '';
    assert.ok(name !== '' && !names.has(name), `examples/${f} needs a unique metadata.name`);
    names.add(name);
  }
});

for (const file of FILES.filter((f) => f !== INVALID)) {
  test(`examples/${file} is accepted by the API server (server-side dry run)`, async () => {
    const r = await env.kubectl(['apply', '--dry-run=server', '-f', join(EXAMPLES, file)]);
    assert.equal(r.code, 0, `kubectl apply --dry-run=server -f examples/${file}:\n${r.stderr}`);
    assert.match(r.stdout, /^ssmagentconfig\.ssmagent\.io\/\S+ created \(server dry run\)$/m);
    // The operator's own runtime validation (same schema, without CEL) agrees.
    const parsed = parseSpec(readExample(file).spec);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.join('; '));
  });
}

test('examples/invalid.yaml is rejected, naming spec.region and the missing hybrid activation', async () => {
  const r = await env.kubectl(['apply', '--dry-run=server', '-f', join(EXAMPLES, INVALID)]);
  assert.notEqual(r.code, 0, `expected a rejection, got: ${r.stdout}`);
  assert.match(r.stderr, /spec\.region: Invalid value: "us-east": must be an AWS region/);
  assert.match(r.stderr, /spec\.registration\.activation: Required value: mode Hybrid needs activation/);
});

test('dry runs store nothing', async () => {
  const r = await env.kubectl(['get', 'ssmagentconfigs', '-o', 'name']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '');
});
