// The Grafana dashboards of the chart (charts/ssm-agent-operator/dashboards/*.json), checked for structure: valid
// JSON, unique ids, titles and uids, no hard-coded data source (every panel, target and variable uses the
// `datasource` variable), a PromQL expression in every target, every variable defined before it is used, and every
// metric selector filtered by the dashboard's variables. Then the chart: one ConfigMap per dashboard labelled for
// the Grafana sidecar (none when disabled), and the node agents' PodMonitor whose relabelings make the `node` and
// `config` labels the dashboards filter on. The queries themselves are run against a real Prometheus in
// test/integration/prometheus-queries.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR as CHART, KUBE_VERSION, runHelm as helm } from '../harness/helm.ts';

const DASHBOARDS = join(CHART, 'dashboards');
const NAMESPACE = 'ssm-system';
const DS_REF = { type: 'prometheus', uid: '${datasource}' };
/** Grafana's own variables (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#global-variables). */
const BUILT_IN = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__from', '__to', '__dashboard', '__name', '__org', '__user']);

interface Target {
  refId?: string;
  expr?: string;
  datasource?: unknown;
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  datasource?: unknown;
  includeAll?: boolean;
  allValue?: string;
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

const files = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .sort();
const dashboards = files.map((file) => ({ file, text: readFileSync(join(DASHBOARDS, file), 'utf8') }));

function parse(text: string): Dashboard {
  return JSON.parse(text) as Dashboard;
}

/** Every panel, the ones inside collapsed rows included. */
function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    for (const inner of p.panels ?? []) out.push(inner);
  }
  return out;
}

const queryPanels = (d: Dashboard) => allPanels(d).filter((p) => p.type !== 'row');
const variables = (d: Dashboard) => d.templating?.list ?? [];
const variableQuery = (v: Variable): string => (typeof v.query === 'string' ? v.query : typeof v.query === 'object' && v.query !== null && 'query' in v.query ? String(v.query.query) : '');

/** Names of the variables an expression uses: $name, ${name}, ${name:format}, [[name]]. */
function usedVariables(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]/g)) names.add(m[1] ?? m[2] ?? m[3] ?? '');
  return [...names];
}

/** Every value under a `datasource` key anywhere in the JSON. */
function datasourceRefs(value: unknown, path = '$'): { path: string; ref: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => datasourceRefs(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === 'datasource' ? [{ path: `${path}.${k}`, ref: v }] : datasourceRefs(v, `${path}.${k}`)));
}

test('the chart ships the fleet overview, node detail and operator dashboards', () => {
  assert.deepEqual(files, ['fleet-overview.json', 'node-detail.json', 'operator.json']);
});

for (const { file, text } of dashboards) {
  test(`${file}: valid JSON, schema version 39, unique panel ids and titles`, () => {
    const d = parse(text);
    assert.equal(d.schemaVersion, 39);
    assert.ok(d.uid && d.uid.length <= 40, 'a uid of at most 40 characters');
    assert.ok(d.title);
    const panels = allPanels(d);
    assert.ok(queryPanels(d).length > 0);
    const ids = panels.map((p) => p.id);
    assert.ok(ids.every((id) => typeof id === 'number'), 'every panel has a numeric id');
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
    const titles = queryPanels(d).map((p) => p.title ?? '');
    assert.ok(titles.every((t) => t !== ''), 'every panel has a title');
    assert.equal(new Set(titles).size, titles.length, `duplicate panel titles: ${titles.join(' | ')}`);
  });

  test(`${file}: no hard-coded data source; every panel, target and variable uses \${datasource}`, () => {
    const d = parse(text);
    assert.doesNotMatch(text, /__inputs|\$\{DS_/, 'no import-time data source inputs');
    const dsVar = variables(d).find((v) => v.name === 'datasource');
    assert.ok(dsVar, 'a `datasource` variable');
    assert.equal(dsVar.type, 'datasource');
    assert.equal(dsVar.query, 'prometheus');
    for (const p of queryPanels(d)) {
      assert.deepEqual(p.datasource, DS_REF, `panel "${p.title ?? ''}"`);
      for (const t of p.targets ?? []) if (t.datasource !== undefined) assert.deepEqual(t.datasource, DS_REF, `panel "${p.title ?? ''}" target ${t.refId ?? ''}`);
    }
    for (const v of variables(d)) if (v.type === 'query') assert.deepEqual(v.datasource, DS_REF, `variable ${v.name}`);
    for (const { path, ref } of datasourceRefs(d)) assert.deepEqual(ref, DS_REF, `${path} refers to a fixed data source`);
  });

  test(`${file}: every panel has targets, each with a PromQL expression and a unique refId`, () => {
    for (const p of queryPanels(parse(text))) {
      const targets = p.targets ?? [];
      assert.ok(targets.length > 0, `panel "${p.title ?? ''}" has no target`);
      for (const t of targets) assert.ok(typeof t.expr === 'string' && t.expr.trim() !== '', `panel "${p.title ?? ''}" target ${t.refId ?? ''} has no expr`);
      const refIds = targets.map((t) => t.refId);
      assert.ok(refIds.every((r) => typeof r === 'string' && r !== ''), `panel "${p.title ?? ''}": every target has a refId`);
      assert.equal(new Set(refIds).size, refIds.length, `panel "${p.title ?? ''}": duplicate refIds`);
    }
  });

  test(`${file}: cluster, config and node variables, chained, and every variable used is defined first`, () => {
    const d = parse(text);
    const vars = variables(d);
    const names = vars.map((v) => v.name);
    assert.equal(new Set(names).size, names.length, 'unique variable names');
    for (const name of ['datasource', 'cluster', 'config', 'node']) assert.ok(names.includes(name), `variable ${name}`);
    const cluster = vars.find((v) => v.name === 'cluster');
    assert.equal(cluster?.includeAll, true, 'cluster: includeAll (a Prometheus without a cluster label)');
    assert.equal(cluster?.allValue, '.*', 'cluster: All is .*, which also matches series without the label');
    for (const [name, label] of [['cluster', 'cluster'], ['config', 'config'], ['node', 'node']] as const) {
      const v = vars.find((x) => x.name === name);
      assert.equal(v?.type, 'query');
      assert.match(variableQuery(v), new RegExp(`^label_values\\(.+, ${label}\\)$`), `variable ${name}: label_values(…, ${label})`);
    }
    // Chained: config follows the cluster, node follows both.
    assert.match(variableQuery(vars.find((v) => v.name === 'config') ?? { name: '', type: '' }), /cluster=~"\$cluster"/);
    assert.match(variableQuery(vars.find((v) => v.name === 'node') ?? { name: '', type: '' }), /cluster=~"\$cluster", config=~"\$config"/);
    // A variable may only use variables defined before it (Grafana resolves them in order).
    vars.forEach((v, i) => {
      for (const used of usedVariables(variableQuery(v))) {
        assert.ok(BUILT_IN.has(used) || names.slice(0, i).includes(used), `variable ${v.name} uses $${used}, not defined before it`);
      }
    });
    for (const p of queryPanels(d)) {
      for (const t of p.targets ?? []) {
        for (const used of usedVariables(t.expr ?? '')) {
          assert.ok(BUILT_IN.has(used) || names.includes(used), `panel "${p.title ?? ''}" uses $${used}, which is not defined`);
        }
      }
    }
  });

  test(`${file}: every metric selector filters on the dashboard's variables`, () => {
    // Node-agent series carry node and config (scrape relabelling) and cluster (the user's Prometheus); operator
    // series carry cluster, and config where they are per config.
    const NODE_AGENT = /^(ssm_agent_|ssm_endpoint_|ssm_node_agent_)/;
    const PER_CONFIG = /^ssm_operator_(nodes|config_condition|activation_expiry_timestamp_seconds)$/;
    for (const p of queryPanels(parse(text))) {
      for (const t of p.targets ?? []) {
        const expr = t.expr ?? '';
        const where = `panel "${p.title ?? ''}" ${t.refId ?? ''}: ${expr}`;
        assert.doesNotMatch(expr, /\bssm_\w+\b(?!\s*\{)/, `a metric without a selector in ${where}`);
        for (const m of expr.matchAll(/\b(ssm_\w+)\s*\{([^}]*)\}/g)) {
          const [, metric = '', labels = ''] = m;
          assert.match(labels, /cluster=~"\$cluster"/, `${metric} not filtered by cluster in ${where}`);
          if (NODE_AGENT.test(metric) || PER_CONFIG.test(metric)) assert.match(labels, /config=~"\$config"/, `${metric} not filtered by config in ${where}`);
          if (NODE_AGENT.test(metric)) assert.match(labels, /node=~"\$node"/, `${metric} not filtered by node in ${where}`);
        }
      }
    }
  });
}

for (const { file, text } of dashboards) {
  test(`${file}: process_* and nodejs_* are scoped by $job, CPU is a fraction of a core, rates are per second`, () => {
    const d = parse(text);
    assert.doesNotMatch(text, /_process_process_|ssm_(operator|node_agent)_process_/, 'standard process metric names, no prefix');
    const uses = queryPanels(d).some((p) => (p.targets ?? []).some((t) => /\b(process|nodejs)_\w+\s*\{/.test(t.expr ?? '')));
    if (uses) {
      const job = variables(d).find((v) => v.name === 'job');
      assert.ok(job, 'a `job` variable');
      assert.match(variableQuery(job), /^label_values\(ssm_(operator|node_agent)_build_info\{cluster=~"\$cluster"\}, job\)$/);
    }
    for (const p of queryPanels(d)) {
      const unit = (p as { fieldConfig?: { defaults?: { unit?: string } } }).fieldConfig?.defaults?.unit;
      for (const t of p.targets ?? []) {
        const expr = t.expr ?? '';
        for (const m of expr.matchAll(/\b((?:process|nodejs)_\w+)\s*\{([^}]*)\}/g)) assert.match(m[2] ?? '', /job=~"\$job"/, `${m[1] ?? ''} not scoped by job in panel "${p.title ?? ''}"`);
        if (/rate\(process_cpu_seconds_total/.test(expr)) assert.equal(unit, 'percentunit', `panel "${p.title ?? ''}": CPU in percent of a core`);
        if (/\brate\(/.test(expr) && !/histogram_quantile|\/|cpu_seconds/.test(expr)) assert.ok(['ops', 'reqps', 'percentunit'].includes(unit ?? ''), `panel "${p.title ?? ''}": a rate is per second (unit ${unit ?? 'none'})`);
      }
    }
  });

  test(`${file}: "Online" means Systems Manager's PingStatus, never the service running`, () => {
    for (const p of queryPanels(parse(text))) {
      const title = p.title ?? '';
      const exprs = (p.targets ?? []).map((t) => t.expr ?? '').join('\n');
      assert.notEqual(title, 'Online', 'say which Online: "Online in SSM" or "Service running"');
      if (/online/i.test(title)) assert.match(exprs, /state="online"/, `panel "${title}" is SSM's PingStatus`);
      if (/\bssm_agent_up\b/.test(exprs) && !/state="online"/.test(exprs)) assert.doesNotMatch(title, /online/i, `panel "${title}" shows the service, not SSM's Online`);
      for (const t of p.targets ?? []) if (/\bssm_agent_up\b/.test(t.expr ?? '')) assert.doesNotMatch((t as { legendFormat?: string }).legendFormat ?? '', /online/i, `panel "${title}" legend`);
    }
  });
}

test('dashboard uids and titles are unique', () => {
  const parsed = dashboards.map((d) => parse(d.text));
  const uids = parsed.map((d) => d.uid);
  const titles = parsed.map((d) => d.title);
  assert.equal(new Set(uids).size, uids.length, uids.join(','));
  assert.equal(new Set(titles).size, titles.length, titles.join(','));
});

// ---------------------------------------------------------------------------------------------- the chart

interface K8sObject {
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    namespaceSelector?: { matchNames?: string[] };
    podMetricsEndpoints?: { port?: string; path?: string; interval?: string; honorLabels?: boolean; relabelings?: { action?: string; sourceLabels?: string[]; targetLabel?: string }[] }[];
  };
}

async function render(set: string[] = []): Promise<K8sObject[]> {
  const r = await helm(['template', 'ssm', CHART, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, ...set.flatMap((s) => ['--set', s])]);
  assert.equal(r.code, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((doc) => doc.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const dashboardConfigMaps = (objs: K8sObject[]) => objs.filter((o) => o.kind === 'ConfigMap' && o.metadata?.labels?.['app.kubernetes.io/component'] === 'dashboards');

test('the chart renders one ConfigMap per dashboard, labelled for the Grafana sidecar', async () => {
  const cms = dashboardConfigMaps(await render());
  assert.equal(cms.length, files.length);
  for (const { file, text } of dashboards) {
    const cm = cms.find((c) => c.data?.[file] !== undefined);
    assert.ok(cm, `a ConfigMap holds ${file}`);
    assert.equal(cm.metadata?.namespace, NAMESPACE);
    assert.equal(cm.metadata?.labels?.grafana_dashboard, '1');
    assert.equal(cm.metadata?.annotations, undefined);
    assert.deepEqual(Object.keys(cm.data ?? {}), [file], 'one dashboard per ConfigMap');
    assert.deepEqual(JSON.parse(cm.data?.[file] ?? ''), JSON.parse(text), `${file} is carried unchanged`);
    assert.ok((cm.metadata?.name ?? '').length <= 63);
  }
  assert.equal(new Set(cms.map((c) => c.metadata?.name)).size, cms.length, 'distinct ConfigMap names');
});

test('the dashboards label, its value, annotations and namespace come from the values', async () => {
  const cms = dashboardConfigMaps(
    await render(['dashboards.label=my_dashboards', 'dashboards.labelValue=yes', 'dashboards.annotations.grafana_folder=SSM', 'dashboards.namespace=monitoring']),
  );
  assert.equal(cms.length, files.length);
  for (const cm of cms) {
    assert.equal(cm.metadata?.labels?.my_dashboards, 'yes');
    assert.equal(cm.metadata?.labels?.grafana_dashboard, undefined);
    assert.deepEqual(cm.metadata?.annotations, { grafana_folder: 'SSM' });
    assert.equal(cm.metadata?.namespace, 'monitoring');
  }
  // --set turns 1 into a number: still the label value "1".
  for (const cm of dashboardConfigMaps(await render(['dashboards.labelValue=1']))) assert.equal(cm.metadata?.labels?.grafana_dashboard, '1');
});

test('no dashboard ConfigMap when dashboards.enabled is false', async () => {
  const objs = await render(['dashboards.enabled=false']);
  assert.equal(dashboardConfigMaps(objs).length, 0);
  assert.equal(objs.filter((o) => o.kind === 'ConfigMap').length, 0);
});

test('the node agents PodMonitor: off by default; when on, it sets the node and config labels the dashboards use', async () => {
  assert.equal((await render()).filter((o) => o.kind === 'PodMonitor').length, 0);
  const pms = (await render(['podMonitor.enabled=true', 'podMonitor.interval=15s', 'podMonitor.labels.release=kube-prometheus-stack'])).filter((o) => o.kind === 'PodMonitor');
  assert.equal(pms.length, 1);
  const pm = pms[0];
  assert.equal(pm?.metadata?.labels?.release, 'kube-prometheus-stack');
  assert.deepEqual(pm?.spec?.namespaceSelector?.matchNames, [NAMESPACE]);
  // The labels the operator puts on node-agent pods (operator/manifests; test/unit/golden/minimal.yaml).
  assert.equal(pm?.spec?.selector?.matchLabels?.['app.kubernetes.io/name'], 'ssm-node-agent');
  const endpoints = pm?.spec?.podMetricsEndpoints ?? [];
  assert.equal(endpoints.length, 1);
  const ep = endpoints[0];
  assert.equal(ep?.port, 'metrics');
  assert.equal(ep?.path, '/metrics');
  assert.equal(ep?.interval, '15s');
  // The probe metrics' own `endpoint` label must win over the Prometheus Operator's (the port name).
  assert.equal(ep?.honorLabels, true);
  const targets = new Map((ep?.relabelings ?? []).map((r) => [r.targetLabel, r]));
  assert.deepEqual(targets.get('node')?.sourceLabels, ['__meta_kubernetes_pod_node_name']);
  assert.deepEqual(targets.get('config')?.sourceLabels, ['__meta_kubernetes_pod_label_ssmagent_io_config']);
  for (const r of targets.values()) assert.equal(r.action ?? 'replace', 'replace');
});

test('helm lint --strict is clean with the PodMonitor on and dashboard annotations', async () => {
  const r = await helm(['lint', CHART, '--strict', '--kube-version', KUBE_VERSION, '--set', 'podMonitor.enabled=true', '--set', 'dashboards.annotations.grafana_folder=SSM', '--set', 'dashboards.namespace=monitoring']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('the values schema rejects unknown dashboards and podMonitor keys and bad label values', async () => {
  for (const [set, message] of [
    ['dashboards.folder=x', /additional properties 'folder' not allowed/],
    ['podMonitor.port=9464', /additional properties 'port' not allowed/],
    ['dashboards.labelValue=a/b', /labelValue/],
    ['podMonitor.interval=soon', /interval/],
  ] as const) {
    const r = await helm(['template', 'ssm', CHART, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, '--set', set]);
    assert.notEqual(r.code, 0, `--set ${set} must be rejected`);
    assert.match(r.stderr, message);
  }
});
