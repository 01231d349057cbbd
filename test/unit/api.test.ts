import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderCrdYaml } from '../../operator/api/crd-yaml.ts';
import { buildCrd } from '../../operator/api/crd.ts';
import { undescribedFields, type JsonValue } from '../../operator/api/openapi.ts';
import { parseDurationSeconds } from '../../operator/api/regions.ts';
import { parseSpec } from '../../operator/api/validate.ts';

test('the generated CRD files are up to date (run npm run generate)', () => {
  const expected = renderCrdYaml();
  for (const file of ['crds/ssmagent.io_ssmagentconfigs.yaml', 'charts/ssm-agent-operator/files/crds/ssmagent.io_ssmagentconfigs.yaml']) {
    assert.ok(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8') === expected, `${file} is stale: run npm run generate`);
  }
});

test('every field of the CRD schema has a description (kubectl explain)', () => {
  const crd = buildCrd() as { spec: { versions: { schema: { openAPIV3Schema: JsonValue } }[] } };
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema as JsonValue;
  assert.deepEqual(undescribedFields(schema), ['.metadata'], 'only metadata, whose schema the API server owns, has no description');
});

test('the CRD schema is structural: no TypeBox leftovers', () => {
  const text = JSON.stringify(buildCrd());
  assert.doesNotMatch(text, /"const"|"patternProperties"|"\$id"/);
});

test('runtime validation applies defaults and names bad fields', () => {
  const ok = parseSpec({ region: 'us-east-1' });
  assert.ok(ok.ok);
  assert.equal(ok.spec.agent.version, 'latest');
  assert.equal(ok.spec.agent.verify, 'Signature');
  assert.equal(ok.spec.deletionPolicy, 'Retain');
  assert.equal(ok.spec.daemonSet.maxUnavailable, 1);
  assert.equal(ok.spec.registration.mode, 'Auto');
  const bad = parseSpec({ region: 'us-east-1', deletionPolicy: 'Delete', registration: { activation: { managed: { iamRole: 'r', expirationDays: 90 } } } });
  assert.equal(bad.ok, false);
  assert.ok(!bad.ok && bad.errors.some((e) => e.startsWith('spec.deletionPolicy')));
  assert.ok(!bad.ok && bad.errors.some((e) => e.includes('expirationDays')));
});

test('durations parse like Go durations', () => {
  assert.equal(parseDurationSeconds('60s'), 60);
  assert.equal(parseDurationSeconds('1m30s'), 90);
  assert.equal(parseDurationSeconds('500ms'), 0.5);
  assert.ok(Number.isNaN(parseDurationSeconds('5 s')));
  assert.ok(Number.isNaN(parseDurationSeconds('')));
});

test('a spec stored under an older CRD still meets the pattern rules: region, sha256, durations, credentials in URLs', () => {
  // The API server checks these CEL rules at apply time; an object stored before they existed never met them.
  const refused = (spec: Record<string, unknown>, field: string, says: RegExp) => {
    const r = parseSpec({ region: 'us-east-1', ...spec });
    assert.equal(r.ok, false, `${JSON.stringify(spec)} is refused`);
    assert.ok(!r.ok && r.errors.some((e) => e.startsWith(`${field}: `) && says.test(e)), `${field} named: ${!r.ok ? r.errors.join(' | ') : ''}`);
  };
  refused({ region: 'us-east-1\nExecStartPre=id' }, 'spec.region', /AWS region such as us-east-1/);
  refused({ region: 'US-EAST-1' }, 'spec.region', /AWS region/);
  refused({ agent: { version: '3.3.1142.0', sha256: 'A'.repeat(64) } }, 'spec.agent.sha256', /64 lowercase hex/);
  refused({ proxy: { httpsProxy: 'http://user:secret@proxy.example.com:3128' } }, 'spec.proxy.httpsProxy', /must not carry credentials/);
  refused({ connectivity: { interval: '5 minutes' } }, 'spec.connectivity.interval', /duration such as/);
  const fine = parseSpec({ region: 'cn-north-1', agent: { version: '3.3.1142.0', sha256: 'a'.repeat(64) }, proxy: { httpsProxy: 'http://proxy.example.com:3128' } });
  assert.ok(fine.ok, !fine.ok ? fine.errors.join(' | ') : '');
});

test('every pattern rule in the CRD compiles as the same regular expression in the operator', () => {
  const text = renderCrdYaml();
  const rules = [...text.matchAll(/rule: "?!?self\.matches\('((?:[^'\\]|\\.)*)'\)"?$/gm)].map((m) => m[1] ?? '');
  assert.ok(rules.length >= 5, `pattern rules found: ${rules.length}`);
  for (const r of rules) assert.doesNotThrow(() => new RegExp(r.replace(/\\(.)/g, '$1')), r);
});
