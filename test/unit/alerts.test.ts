// The Prometheus alerts shipped with the chart: the plain rule file passes `promtool check rules`, its promtool unit
// tests (test/fixtures/alerts/alerts.test.yaml) pass and cover every alert both firing and silent, every alert
// carries what an on-call person needs, and the chart renders the same rules as a PrometheusRule (only when asked),
// with its thresholds, labels and exclusions applied, and still lints clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { CHART_DIR as chartDir, KUBE_VERSION, helmBinary, runHelm as helm } from '../harness/helm.ts';
import { isRecord, list, record } from '../harness/shapes.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const rulesFile = path.join(chartDir, 'alerts', 'ssm-agent-operator.rules.yaml');
const unitTestFile = path.join(repoRoot, 'test', 'fixtures', 'alerts', 'alerts.test.yaml');
const PROMTOOL = '/usr/bin/promtool';
const SEVERITIES = ['critical', 'warning', 'info'];
const RUNBOOK_BASE = 'https://github.com/ssm-agent-operator/ssm-agent-operator/blob/main/docs/runbooks';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface Group {
  name: string;
  rules: Rule[];
}

let workDir = '';

function stringMap(value: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(record(value))) {
    assert.equal(typeof v, 'string', `${where}.${key} is a string`);
    out[key] = String(v);
  }
  return out;
}

/** Checks the shape of a parsed `groups:` list (from the file or from a rendered PrometheusRule) and types it. */
function toGroups(value: unknown, where: string): Group[] {
  const groups = list(value);
  assert.ok(groups.length > 0, `${where} has groups`);
  return groups.map((g, i) => {
    const group = record(g);
    assert.equal(typeof group.name, 'string', `${where} group ${i} has a name`);
    const rules = list(group.rules).map((r, j) => {
      const rule = record(r);
      const at = `${where} ${String(group.name)} rule ${j}`;
      assert.equal(typeof rule.alert, 'string', `${at} is an alerting rule`);
      assert.equal(typeof rule.expr, 'string', `${at} has an expr`);
      assert.ok(rule.for === undefined || typeof rule.for === 'string', `${at}: for is a duration string`);
      return {
        alert: String(rule.alert),
        expr: String(rule.expr),
        ...(typeof rule.for === 'string' ? { for: rule.for } : {}),
        labels: stringMap(rule.labels, `${at}.labels`),
        annotations: stringMap(rule.annotations, `${at}.annotations`),
      };
    });
    return { name: String(group.name), rules };
  });
}

function allRules(groups: Group[]): Rule[] {
  return groups.flatMap((g) => g.rules);
}

function ruleNamed(groups: Group[], alert: string): Rule {
  const rule = allRules(groups).find((r) => r.alert === alert);
  assert.ok(rule !== undefined, `alert ${alert} exists`);
  return rule;
}

async function loadFileGroups(): Promise<Group[]> {
  return toGroups(record(parse(await readFile(rulesFile, 'utf8'))).groups, 'the rule file');
}

function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `helm template` and the PrometheusRule objects it renders. */
async function renderRules(extra: string[]): Promise<Record<string, unknown>[]> {
  const result = await helm(['template', 'ssm-agent-operator', chartDir, '--namespace', 'ssm-system', '--kube-version', KUBE_VERSION, ...extra]);
  assert.equal(result.code, 0, `helm template ${extra.join(' ')} failed:\n${result.stderr}`);
  const objects: Record<string, unknown>[] = [];
  for (const doc of parseAllDocuments(result.stdout)) {
    assert.equal(doc.errors.length, 0, `rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const object: unknown = doc.toJS();
    if (isRecord(object) && object.kind === 'PrometheusRule') objects.push(object);
  }
  return objects;
}

async function renderedGroups(extra: string[]): Promise<{ rule: Record<string, unknown>; groups: Group[] }> {
  const objects = await renderRules(['--set', 'prometheusRule.enabled=true', ...extra]);
  assert.equal(objects.length, 1, 'exactly one PrometheusRule is rendered');
  const [rule] = objects;
  assert.ok(rule !== undefined);
  return { rule, groups: toGroups(record(rule.spec).groups, 'the PrometheusRule') };
}

/** promtool check rules on groups (as a plain rule file). */
async function checkRules(groups: Group[], name: string): Promise<RunResult> {
  const file = path.join(workDir, `${name}.rules.yaml`);
  await writeFile(file, JSON.stringify({ groups }, null, 2));
  return run(PROMTOOL, ['check', 'rules', file]);
}

before(
  async () => {
    assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing (Debian's prometheus package; test/tools/ensure-packages.sh installs it)`);
    workDir = await mkdtemp(path.join(tmpdir(), 'ssm-alerts-test-'));
    await helmBinary(); // builds the tools on first use: may take long
  },
  { timeout: 60 * 60_000 },
);

after(async () => {
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
});

test('promtool check rules: the rule file is clean', async () => {
  const groups = await loadFileGroups();
  const result = await run(PROMTOOL, ['check', 'rules', rulesFile]);
  assert.equal(result.code, 0, `promtool check rules failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, new RegExp(`SUCCESS: ${allRules(groups).length} rules found`), result.stdout);
});

test('promtool test rules: every alert fires when it should and stays silent when it should not', async () => {
  const result = await run(PROMTOOL, ['test', 'rules', path.basename(unitTestFile)], { cwd: path.dirname(unitTestFile) });
  assert.equal(result.code, 0, `promtool test rules failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /SUCCESS/);

  // Coverage: each alert of the file has at least one case where it fires and one where it must not.
  const unitTests = record(parse(await readFile(unitTestFile, 'utf8')));
  assert.deepEqual(
    list(unitTests.rule_files).map((f) => path.resolve(path.dirname(unitTestFile), String(f))),
    [rulesFile],
    'the unit tests load the chart rule file',
  );
  const fires = new Set<string>();
  const silent = new Set<string>();
  for (const group of list(unitTests.tests).map(record)) {
    for (const t of list(group.alert_rule_test).map(record)) {
      const name = String(t.alertname);
      if (list(t.exp_alerts).length > 0) fires.add(name);
      else silent.add(name);
    }
  }
  const alerts = allRules(await loadFileGroups()).map((r) => r.alert);
  assert.deepEqual(alerts.filter((a) => !fires.has(a)), [], 'alerts without a firing case');
  assert.deepEqual(alerts.filter((a) => !silent.has(a)), [], 'alerts without a silent case');
  assert.deepEqual([...fires, ...silent].filter((a) => !alerts.includes(a)), [], 'cases for alerts that do not exist');
});

test('every alert has a severity, a summary, a description naming what fails, and a short runbook', async () => {
  const groups = await loadFileGroups();
  const rules = allRules(groups);
  assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'alert names are unique');
  assert.equal(new Set(groups.map((g) => g.name)).size, groups.length, 'group names are unique');
  for (const rule of rules) {
    const at = rule.alert;
    assert.match(at, /^Ssm[A-Za-z0-9]+$/, `${at}: alert names start with Ssm`);
    assert.ok(SEVERITIES.includes(rule.labels.severity ?? ''), `${at}: severity is one of ${SEVERITIES.join(', ')}`);
    assert.match(rule.for ?? '', /^[0-9]+[smh]$/, `${at} has a for duration`);
    for (const key of ['summary', 'description', 'runbook']) {
      assert.ok((rule.annotations[key] ?? '').trim().length > 20, `${at} has a ${key}`);
    }
    assert.deepEqual(Object.keys(rule.annotations).sort(), ['description', 'runbook', 'runbook_url', 'summary'], `${at}: annotations`);
    // runbook_url: the alert's own page in docs/runbooks/, which names the alert and carries its first steps.
    assert.equal(rule.annotations.runbook_url, `${RUNBOOK_BASE}/${at}.md`, `${at}: runbook_url`);
    const page = await readFile(path.join(repoRoot, 'docs', 'runbooks', `${at}.md`), 'utf8').catch(() => '');
    assert.ok(page.startsWith(`# ${at}\n`), `${at}: docs/runbooks/${at}.md exists and is titled with the alert`);
    assert.ok(page.replace(/\s+/g, ' ').includes((rule.annotations.runbook ?? '').trim().replace(/\s+/g, ' ')), `${at}: its page has the runbook's first steps`);
    assert.ok(page.length < 4000, `${at}: its page is short`);
    const runbook = rule.annotations.runbook ?? '';
    assert.ok(runbook.length <= 500, `${at}: the runbook is short (${runbook.length} characters)`);
    assert.doesNotMatch(runbook, /\{\{/, `${at}: the runbook is the same text for every alert instance`);

    // The description names what the alert is about: the labels of the expr's first aggregation, which are the
    // alert's own labels. `cluster` exists only where Prometheus adds it, so it is shown only when present.
    const keyedBy = (rule.expr.match(/\bby \(([^)]*)\)/)?.[1] ?? '').split(',').map((l) => l.trim()).filter((l) => l !== '');
    const description = rule.annotations.description ?? '';
    for (const label of keyedBy) {
      if (label === 'cluster') {
        assert.match(description, /\{\{ with\s+\$labels\.cluster \}\}/, `${at}: the description names the cluster when known`);
      } else {
        assert.ok(description.includes(`$labels.${label}`), `${at}: the description mentions $labels.${label}`);
      }
    }
  }
});

test('docs/runbooks has one page per alert, and no page for an alert that does not exist', async () => {
  const alerts = allRules(await loadFileGroups()).map((r) => `${r.alert}.md`).sort();
  const pages = (await readdir(path.join(repoRoot, 'docs', 'runbooks'))).filter((f) => f !== 'README.md').sort();
  assert.deepEqual(pages, alerts);
  const index = await readFile(path.join(repoRoot, 'docs', 'runbooks', 'README.md'), 'utf8');
  for (const page of pages) assert.ok(index.includes(`](${page})`), `the index links ${page}`);
});

test('prometheusRule.runbookBaseUrl moves every runbook_url', async () => {
  const { groups } = await renderedGroups(['--set', 'prometheusRule.runbookBaseUrl=https://wiki.example/runbooks/']);
  const rules = allRules(groups);
  assert.ok(rules.length > 0);
  for (const rule of rules) assert.equal(rule.annotations.runbook_url, `https://wiki.example/runbooks/${rule.alert}.md`);
});

test('the values schema lists exactly the alerts of the file for prometheusRule.disabledAlerts', async () => {
  const schema = record(JSON.parse(await readFile(path.join(chartDir, 'values.schema.json'), 'utf8')));
  const disabled = record(record(record(record(schema.properties).prometheusRule).properties).disabledAlerts);
  const names = list(record(disabled.items).enum);
  assert.deepEqual(names, allRules(await loadFileGroups()).map((r) => r.alert));
});

test('the chart renders no PrometheusRule by default', async () => {
  assert.deepEqual(await renderRules([]), []);
});

test('the chart renders the rule file as a PrometheusRule, with its labels', async () => {
  const fileGroups = await loadFileGroups();
  const { rule, groups } = await renderedGroups(['--set', 'prometheusRule.labels.release=kube-prometheus-stack']);
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  const metadata = record(rule.metadata);
  assert.equal(metadata.namespace, 'ssm-system');
  assert.equal(metadata.name, 'ssm-agent-operator');
  const labels = record(metadata.labels);
  assert.equal(labels.release, 'kube-prometheus-stack');
  assert.equal(labels['app.kubernetes.io/name'], 'ssm-agent-operator');
  assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm');
  // With the default values the rendered groups are the file's, to the letter of every expr and annotation
  // (Prometheus' own {{ $labels }} templates included: Helm must not evaluate them).
  assert.deepEqual(groups, fileGroups);
});

test('the chart sets the thresholds, adds rule labels and leaves disabled alerts out', async () => {
  const fileGroups = await loadFileGroups();
  const { groups } = await renderedGroups([
    '--set',
    'prometheusRule.ec2messagesUnreachableFor=25m',
    '--set',
    'prometheusRule.activationExpiryDays=7',
    '--set-json',
    'prometheusRule.endpointFailingNodesPercent=12.5',
    '--set',
    'prometheusRule.endpointFailingMinNodes=5',
    '--set',
    'prometheusRule.additionalRuleLabels.team=platform',
    '--set',
    'prometheusRule.additionalRuleLabels.severity=page',
    '--set',
    'prometheusRule.disabledAlerts={SsmAgentVersionDrift,SsmNodeUnsupported}',
  ]);

  assert.equal(ruleNamed(groups, 'SsmEc2MessagesUnreachable').for, '25m');
  const expiring = ruleNamed(groups, 'SsmActivationExpiringSoon').expr;
  assert.match(expiring, /< 7 \* 86400 > 0$/);
  const many = ruleNamed(groups, 'SsmEndpointFailingOnManyNodes').expr;
  assert.match(many, /\) > 0\.125\n/);
  assert.match(many, /== 0\) >= 5$/);
  assert.doesNotMatch(many, /> 0\.2\b|>= 3\b/);

  const alerts = allRules(groups).map((r) => r.alert);
  assert.ok(!alerts.includes('SsmAgentVersionDrift') && !alerts.includes('SsmNodeUnsupported'), 'disabled alerts are left out');
  assert.equal(alerts.length, allRules(fileGroups).length - 2);
  for (const rule of allRules(groups)) {
    assert.equal(rule.labels.team, 'platform', `${rule.alert} has the additional label`);
    assert.equal(rule.labels.severity, ruleNamed(fileGroups, rule.alert).labels.severity, `${rule.alert} keeps its own severity`);
  }
  // Nothing else changed: the other rules are the file's, but for the added label.
  for (const rule of allRules(groups)) {
    if (['SsmEc2MessagesUnreachable', 'SsmActivationExpiringSoon', 'SsmEndpointFailingOnManyNodes'].includes(rule.alert)) continue;
    const original = ruleNamed(fileGroups, rule.alert);
    assert.deepEqual(rule, { ...original, labels: { ...original.labels, team: 'platform' } }, `${rule.alert} is unchanged`);
  }

  const check = await checkRules(groups, 'overridden');
  assert.equal(check.code, 0, `promtool check rules on the rendered, overridden rules failed:\n${check.stdout}${check.stderr}`);
});

test('the values schema rejects bad prometheusRule values', async () => {
  const cases: { args: string[]; mentions: RegExp }[] = [
    { args: ['--set', 'prometheusRule.enabled=maybe'], mentions: /prometheusRule/ },
    { args: ['--set', 'prometheusRule.noSuchKey=1'], mentions: /noSuchKey/ },
    { args: ['--set', 'prometheusRule.ec2messagesUnreachableFor=ten minutes'], mentions: /ec2messagesUnreachableFor/ },
    { args: ['--set', 'prometheusRule.activationExpiryDays=0'], mentions: /activationExpiryDays/ },
    { args: ['--set', 'prometheusRule.endpointFailingNodesPercent=100'], mentions: /endpointFailingNodesPercent/ },
    { args: ['--set', 'prometheusRule.endpointFailingMinNodes=0'], mentions: /endpointFailingMinNodes/ },
    { args: ['--set', 'prometheusRule.disabledAlerts={SsmNoSuchAlert}'], mentions: /disabledAlerts/ },
    { args: ['--set', 'prometheusRule.labels.release=1'], mentions: /release/ },
  ];
  for (const { args, mentions } of cases) {
    const result = await helm(['template', 'ssm-agent-operator', chartDir, '--kube-version', KUBE_VERSION, '--set', 'prometheusRule.enabled=true', ...args]);
    assert.notEqual(result.code, 0, `helm template ${args.join(' ')} should fail`);
    assert.match(result.stderr, /values don't meet the specifications of the schema/, result.stderr);
    assert.match(result.stderr, mentions, result.stderr);
  }
});

test('helm lint --strict is clean with the PrometheusRule on and off', async () => {
  for (const extra of [[], ['--set', 'prometheusRule.enabled=true'], ['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.labels.release=kube-prometheus-stack']]) {
    const result = await helm(['lint', chartDir, '--strict', '--kube-version', KUBE_VERSION, ...extra]);
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 0, `helm lint --strict ${extra.join(' ')} failed:\n${output}`);
    assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(output, /\[(WARNING|ERROR)\]/, output);
  }
});
