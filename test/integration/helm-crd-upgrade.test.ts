// The CRD's life in a Helm release, with the real helm and a real kube-apiserver: a release installed from a chart
// whose CRD is OLDER (the current one minus spec.rollout, written by the test) is `helm upgrade`d to the current
// chart, and the API server then serves the new schema (a config using spec.rollout, refused before, is accepted);
// `helm uninstall` keeps the CRD and the configs (helm.sh/resource-policy: keep), and with crds.keep=false removes
// it. Also: crds.install=false renders no CRD, and the chart's CRD is exactly the generated one; and a release of
// the 0.1.0 layout (CRD in crds/, which Helm never upgrades nor owns) upgrades after the README's two commands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { CHART_DIR, KUBE_VERSION, helmBinary, runHelm } from '../harness/helm.ts';
import { isRecord, record } from '../harness/shapes.ts';
import { renderCrdYaml } from '../../operator/api/crd-yaml.ts';

const RELEASE = 'ssm';
const NAMESPACE = 'ssm-system';
const CRD_NAME = 'ssmagentconfigs.ssmagent.io';
const CHART_CRD = path.join('files', 'crds', 'ssmagent.io_ssmagentconfigs.yaml');

let controlPlane: ControlPlane | undefined;
const workDir = mkdtempSync(path.join(tmpdir(), 'ssm-crd-upgrade-'));

before(
  async () => {
    await helmBinary();
    controlPlane = await startControlPlane({ controllerManager: false });
  },
  { timeout: 60 * 60_000 },
);

after(async () => {
  await controlPlane?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

function cp(): ControlPlane {
  assert.ok(controlPlane !== undefined, 'the control plane runs');
  return controlPlane;
}

async function helm(args: string[]) {
  return runHelm([...args, '--kubeconfig', cp().kubeconfigPath]);
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const result = await cp().kubectl(args, input);
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** The spec.versions[0] openAPIV3Schema of `spec`, as a CRD document holds it. */
function specSchema(crd: unknown): Record<string, unknown> {
  const versions = record(record(crd).spec).versions;
  assert.ok(Array.isArray(versions) && versions.length === 1, 'one served version');
  const schema = record(record(record(versions[0]).schema).openAPIV3Schema);
  return record(record(schema.properties).spec);
}

/** A copy of the chart in the 0.1.0 layout: the (older) CRD in crds/, no CRD template. */
function legacyLayoutChart(): string {
  const dir = path.join(workDir, 'legacy-chart');
  cpSync(olderChart(), dir, { recursive: true });
  mkdirSync(path.join(dir, 'crds'));
  renameSync(path.join(dir, CHART_CRD), path.join(dir, 'crds', 'ssmagent.io_ssmagentconfigs.yaml'));
  rmSync(path.join(dir, 'templates', 'crds.yaml'));
  return dir;
}

/** A copy of the chart whose CRD lacks spec.rollout: what an older release installed. */
function olderChart(): string {
  const dir = mkdtempSync(path.join(workDir, 'older-chart-'));
  cpSync(CHART_DIR, dir, { recursive: true });
  const crd: unknown = parse(readFileSync(path.join(dir, CHART_CRD), 'utf8'));
  const properties = record(specSchema(crd).properties);
  assert.ok('rollout' in properties, 'the current CRD has spec.rollout (pick another field if this changes)');
  delete properties.rollout;
  writeFileSync(path.join(dir, CHART_CRD), stringify(crd));
  return dir;
}

const configWithRollout = (name: string) =>
  stringify({ apiVersion: 'ssmagent.io/v1alpha1', kind: 'SsmAgentConfig', metadata: { name }, spec: { region: 'us-east-1', rollout: { paused: true } } });
const configWithout = (name: string) => stringify({ apiVersion: 'ssmagent.io/v1alpha1', kind: 'SsmAgentConfig', metadata: { name }, spec: { region: 'us-east-1' } });

async function servedSpecProperties(): Promise<string[]> {
  const crd: unknown = JSON.parse(await kubectl(['get', 'crd', CRD_NAME, '-o', 'json']));
  return Object.keys(record(specSchema(crd).properties));
}

test('the chart renders exactly the generated CRD, kept on uninstall by default; crds.install=false renders none', async () => {
  const rendered = await runHelm(['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, '--show-only', 'templates/crds.yaml']);
  assert.equal(rendered.code, 0, rendered.stderr);
  const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as unknown).filter(isRecord);
  assert.equal(docs.length, 1);
  const [crd] = docs;
  const generated = record(parse(renderCrdYaml()));
  assert.deepEqual(record(crd).spec, generated.spec, 'the chart does not drift from operator/api/generate.ts');
  const metadata = record(record(crd).metadata);
  assert.equal(metadata.name, CRD_NAME);
  assert.equal(record(metadata.annotations)['helm.sh/resource-policy'], 'keep');
  assert.equal(record(metadata.labels)['app.kubernetes.io/managed-by'], 'Helm');

  const notKept = await runHelm(['template', RELEASE, CHART_DIR, '--kube-version', KUBE_VERSION, '--set', 'crds.keep=false', '--show-only', 'templates/crds.yaml']);
  assert.equal(notKept.code, 0, notKept.stderr);
  assert.doesNotMatch(notKept.stdout, /resource-policy/);

  const none = await runHelm(['template', RELEASE, CHART_DIR, '--kube-version', KUBE_VERSION, '--set', 'crds.install=false']);
  assert.equal(none.code, 0, none.stderr);
  assert.doesNotMatch(none.stdout, /kind: CustomResourceDefinition/);
});

test('helm upgrade from a release with an older CRD serves the new schema; uninstall keeps the CRD unless crds.keep=false', { timeout: 10 * 60_000 }, async (t) => {
  const older = olderChart();
  // No --wait: this control plane has no kubelet, so the operator's pods never start; the CRD is what is tested.
  const installed = await helm(['install', RELEASE, older, '--namespace', NAMESPACE, '--create-namespace']);
  assert.equal(installed.code, 0, installed.stderr);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`]);
  assert.ok(!(await servedSpecProperties()).includes('rollout'), 'the older CRD is served');

  // The API server refuses the new field under the old schema (server-side apply names it).
  const refused = await cp().kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], configWithRollout('new-field'));
  assert.notEqual(refused.code, 0, 'spec.rollout is unknown to the older CRD');
  assert.match(refused.stderr, /\.spec\.rollout: field not declared in schema/, refused.stderr);
  await kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], configWithout('before-upgrade'));

  const upgraded = await helm(['upgrade', RELEASE, CHART_DIR, '--namespace', NAMESPACE]);
  assert.equal(upgraded.code, 0, upgraded.stderr);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`]);
  assert.ok((await servedSpecProperties()).includes('rollout'), 'helm upgrade upgraded the CRD');
  const served: unknown = JSON.parse(await kubectl(['get', 'crd', CRD_NAME, '-o', 'json']));
  assert.deepEqual(specSchema(served), specSchema(parse(renderCrdYaml())), 'the API server serves the current schema');
  await kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], configWithRollout('new-field'));
  const after = record(JSON.parse(await kubectl(['get', 'sac', 'new-field', '-o', 'json'])));
  assert.equal(record(record(after.spec).rollout).paused, true, 'the new field is stored');
  // The config made under the old schema is still there, now with the new field's default applied on read.
  const old = record(JSON.parse(await kubectl(['get', 'sac', 'before-upgrade', '-o', 'json'])));
  assert.ok(isRecord(record(old.spec).rollout), 'spec.rollout defaulted on the config made before the upgrade');

  // helm uninstall keeps the CRD (resource-policy keep) and so the configs.
  const uninstalled = await helm(['uninstall', RELEASE, '--namespace', NAMESPACE]);
  assert.equal(uninstalled.code, 0, uninstalled.stderr);
  t.diagnostic(uninstalled.stdout.trim());
  await kubectl(['get', 'crd', CRD_NAME]);
  await kubectl(['get', 'sac', 'before-upgrade', 'new-field']);

  // A new install adopts the kept CRD; with crds.keep=false its uninstall removes the CRD.
  const reinstalled = await helm(['install', RELEASE, CHART_DIR, '--namespace', NAMESPACE, '--set', 'crds.keep=false']);
  assert.equal(reinstalled.code, 0, reinstalled.stderr);
  // The configs carry the operator's finalizer only once an operator ran; none ran here.
  const removed = await helm(['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait', '--timeout', '2m']);
  assert.equal(removed.code, 0, removed.stderr);
  const gone = await cp().kubectl(['get', 'crd', CRD_NAME]);
  assert.notEqual(gone.code, 0, 'crds.keep=false: the CRD goes with the release');
  assert.match(gone.stderr, /NotFound/);
});

test('a release whose CRD came from crds/ (0.1.0) upgrades once the CRD is handed to the release (README commands)', { timeout: 10 * 60_000 }, async () => {
  const release = 'legacy';
  const namespace = 'legacy-system';
  const installed = await helm(['install', release, legacyLayoutChart(), '--namespace', namespace, '--create-namespace']);
  assert.equal(installed.code, 0, installed.stderr);
  assert.ok(!(await servedSpecProperties()).includes('rollout'), 'the older CRD, from crds/');

  // Helm does not own a CRD it installed from crds/: the upgrade refuses to adopt it, and says why.
  const refused = await helm(['upgrade', release, CHART_DIR, '--namespace', namespace]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /invalid ownership metadata/, refused.stderr);

  // The README's two commands give it to the release.
  await kubectl(['label', 'crd', CRD_NAME, 'app.kubernetes.io/managed-by=Helm', '--overwrite']);
  await kubectl(['annotate', 'crd', CRD_NAME, `meta.helm.sh/release-name=${release}`, `meta.helm.sh/release-namespace=${namespace}`, '--overwrite']);
  const upgraded = await helm(['upgrade', release, CHART_DIR, '--namespace', namespace]);
  assert.equal(upgraded.code, 0, upgraded.stderr);
  assert.ok((await servedSpecProperties()).includes('rollout'), 'the CRD is upgraded');
  const uninstalled = await helm(['uninstall', release, '--namespace', namespace]);
  assert.equal(uninstalled.code, 0, uninstalled.stderr);
  await kubectl(['get', 'crd', CRD_NAME]);
});
