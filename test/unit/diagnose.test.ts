// The pure parts of `ssm-agent-operator diagnose`: the report built from a node's fleet state, the text it prints
// (with and without colour), the command line, the SubjectAccessReview asked, and the wait for a probe's answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeState } from '../../operator/api/fleet-protocol.ts';
import { parseAgentMessage } from '../../operator/api/fleet-protocol.ts';
import { accessReview, deniedMessage } from '../../operator/diagnose/access.ts';
import { FreshProbes } from '../../operator/diagnose/fresh-probes.ts';
import { buildDiagnosis, summarizeNode } from '../../operator/diagnose/report.ts';
import { parseArgs } from '../../operator/cli/args.ts';
import { formatDiagnosis, formatSummaries, phaseCells } from '../../operator/cli/format.ts';
import { stateFromProbes } from '../../node-agent/fleet/report.ts';

const ESC = String.fromCharCode(27);

const state: NodeState = {
  facts: { os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' }, arch: 'amd64', packageManager: 'dpkg', ec2: false, installedVersion: '3.3.1142.0', desiredVersion: '3.3.1142.0' },
  steps: [
    { step: 'detect', status: 'ok' },
    { step: 'install', status: 'ok' },
    { step: 'register', status: 'skipped' },
    { step: 'agent-health', status: 'failed', reason: 'CredentialsUnavailable', message: 'AccessDeniedException from UpdateInstanceInformation' },
  ],
  observation: { serviceActive: true, version: '3.3.1142.0', instanceId: 'mi-0123456789abcdef0', region: 'eu-west-1' },
  probes: [
    { endpoint: 'ssm', host: 'ssm.eu-west-1.amazonaws.com', ok: true, via: 'proxy' },
    { endpoint: 'ec2messages', host: 'ec2messages.eu-west-1.amazonaws.com', ok: false, reason: 'tls_untrusted', via: 'proxy' },
    { endpoint: 's3', host: 's3.eu-west-1.amazonaws.com', ok: false, reason: 'dns', via: 'direct' },
  ],
  probeDetails: [
    { endpoint: 'ssm', phases: { dns: 0.0012, tcp: 0.0104, tls: 0.0301, http: 0.0502 }, httpStatus: 404, proxy: 'http://proxy.corp:3128' },
    { endpoint: 'ec2messages', phases: { dns: 0.001, tcp: 0.02 }, message: 'self-signed certificate in certificate chain', proxy: 'http://proxy.corp:3128' },
    { endpoint: 's3', phases: {}, message: 'getaddrinfo ENOTFOUND s3.eu-west-1.amazonaws.com', noProxyMatch: '.amazonaws.com' },
  ],
  timestamps: { pass: '2026-12-01T10:00:00.000Z', probes: '2026-12-01T10:00:30.000Z' },
};

const diagnosis = () =>
  buildDiagnosis({
    node: 'node-a',
    config: 'fleet',
    connected: true,
    probe: 'fresh',
    nodeAgentVersion: '0.1.0',
    state,
    nodeObject: { annotations: { 'ssmagent.io/managed-instance-id': 'mi-0123456789abcdef0' }, labels: { 'ssmagent.io/registered': 'true' } },
  });

test('the diagnosis joins probes with their phase detail and puts a fix on each failure, none on what works', () => {
  const d = diagnosis();
  assert.equal(d.registration.kind, 'hybrid');
  assert.equal(d.registration.annotation, 'mi-0123456789abcdef0');
  assert.deepEqual(d.probes[0]?.phases, { dns: 0.0012, tcp: 0.0104, tls: 0.0301, http: 0.0502 });
  assert.equal(d.probes[0]?.fix, undefined);
  assert.match(d.probes[1]?.fix ?? '', /intercepting proxy/);
  assert.match(d.steps[3]?.fix ?? '', /trust policy must allow ssm\.amazonaws\.com/);
  assert.equal(d.steps[0]?.fix, undefined);
  assert.equal(d.externallyManaged, undefined);
  assert.equal(buildDiagnosis({ node: 'h', connected: true, probe: 'not-asked', state, nodeObject: { labels: { 'eks.amazonaws.com/compute-type': 'hybrid' } } }).externallyManaged, 'nodeadm');
});

test('the phase cells show each time, FAIL where a failed probe stopped, - for what never ran, ? without detail', () => {
  const d = diagnosis();
  assert.deepEqual(phaseCells(d.probes[0]!), ['1.2 ms', '10 ms', '30 ms', '50 ms']);
  assert.deepEqual(phaseCells(d.probes[1]!), ['1.0 ms', '20 ms', 'FAIL', '-']);
  assert.deepEqual(phaseCells(d.probes[2]!), ['FAIL', '-', '-', '-']);
  assert.deepEqual(phaseCells({ endpoint: 'ssm', host: 'h', ok: true, via: 'direct' }), ['?', '?', '?', '?']);
});

test('the one-screen text: host, agent, registration, steps with fixes, endpoints by phase; no colour unless asked', () => {
  const text = formatDiagnosis(diagnosis(), { color: false, now: new Date('2026-12-01T10:00:40.000Z') });
  const lines = text.split('\n');
  assert.equal(lines[0], 'Node          node-a  config fleet, node agent 0.1.0, connected; probed just now');
  assert.equal(lines[1], 'Host          Debian GNU/Linux 12 (bookworm), amd64, dpkg, not EC2');
  assert.equal(lines[2], 'Agent         amazon-ssm-agent 3.3.1142.0 (desired 3.3.1142.0), service active');
  assert.equal(lines[3], 'Registration  mi-0123456789abcdef0 in eu-west-1 (hybrid); the Node annotation agrees');
  assert.equal(lines[4], 'Last pass     2026-12-01T10:00:00.000Z (40 s ago); last probes 2026-12-01T10:00:30.000Z (10 s ago)');
  assert.match(text, /^ {2}agent-health {2}FAILED {5}CredentialsUnavailable: AccessDeniedException from UpdateInstanceInformation$/m);
  assert.match(text, /^ {27}fix: Systems Manager refuses the role credentials/m);
  assert.match(text, /^ {2}ssm {10}ssm\.eu-west-1\.amazonaws\.com {10}proxy {3}1\.2 ms {3}10 ms {4}30 ms {4}50 ms {4}ok \(HTTP 404\)$/m);
  assert.match(text, /^ {2}ec2messages .* proxy {3}1\.0 ms {3}20 ms {4}FAIL {5}- {8}FAIL tls_untrusted$/m);
  assert.match(text, /^ {15}through http:\/\/proxy\.corp:3128$/m);
  assert.match(text, /^ {15}direct: no_proxy entry \.amazonaws\.com$/m);
  assert.match(text, /^ {15}getaddrinfo ENOTFOUND s3\.eu-west-1\.amazonaws\.com$/m);
  assert.ok(!text.includes(ESC), 'no escape codes');
  assert.ok(lines.length <= 40, `one screen: ${lines.length} lines`);
  assert.ok(lines.every((l) => l.length <= 160), 'no runaway lines');
  const colored = formatDiagnosis(diagnosis(), { color: true });
  assert.ok(colored.includes(`${ESC}[31mFAILED${ESC}[0m`), 'failures in red on a TTY');
  // Colour does not shift the columns.
  const strip = (s: string) => s.split(ESC).map((part, i) => (i === 0 ? part : part.replace(/^\[[0-9;]*m/, ''))).join('');
  assert.equal(strip(colored).split('\n').slice(6).join('\n'), text.split('\n').slice(6).join('\n'));
});

test('stale or missing reports say so rather than pass for fresh', () => {
  const stale = formatDiagnosis(buildDiagnosis({ node: 'n', connected: false, probe: 'stale' }), { color: false });
  assert.match(stale, /NOT CONNECTED; asked for a probe, no answer in time/);
  assert.match(stale, /^Host {10}no report yet$/m);
  assert.match(stale, /^Agent {9}not installed, service state unknown$/m);
  assert.match(stale, /^Registration {2}not registered$/m);
  assert.match(stale, /^ {2}no probe reported yet$/m);
  const old = formatDiagnosis(buildDiagnosis({ node: 'n', connected: true, probe: 'not-asked', state: { probes: [{ endpoint: 'ssm', host: 'h', ok: true, via: 'direct' }] } }), { color: false });
  assert.match(old, /\(\? : this node agent does not report phase times; upgrade it\)/);
});

test('--all: one line per node, failing ones first, with what fails, then the counts', () => {
  const nodes = [
    summarizeNode({ node: 'b-ok', config: 'fleet', connected: true, state: { observation: { serviceActive: true, version: '3.3.1142.0', instanceId: 'mi-1' }, probes: [{ endpoint: 'ssm', host: 'h', ok: true, via: 'direct' }] }, selected: true }),
    summarizeNode({ node: 'a-bad', config: 'fleet', connected: true, state, selected: true }),
    summarizeNode({ node: 'c-gone', config: 'fleet', connected: false, state: { observation: { serviceActive: true } }, selected: true }),
    summarizeNode({ node: 'd-none', connected: false, selected: false }),
  ];
  const text = formatSummaries(nodes, { color: false });
  assert.deepEqual(text.trimEnd().split('\n'), [
    'NODE    CONFIG  AGENT       INSTANCE              STATE',
    'a-bad   fleet   3.3.1142.0  mi-0123456789abcdef0  FAILING: CredentialsUnavailable (agent-health: AccessDeniedException from UpdateInstanceInformation); ec2messages: tls_untrusted; s3: dns',
    'c-gone  fleet   -           -                     FAILING: node agent disconnected',
    'b-ok    fleet   3.3.1142.0  mi-1                  ok',
    'd-none  -       -           -                     no node agent',
    '4 nodes: 2 failing, 1 ok, 1 without a node agent',
  ]);
});

test('the command line: NODE or --all, flags with values checked', () => {
  assert.deepEqual(parseArgs(['diagnose', 'node-a']), { ok: true, args: { command: 'diagnose', node: 'node-a', all: false, namespace: 'ssm-system', probe: true, waitSeconds: 30, json: false, lease: 'ssm-agent-operator-leader', port: 8444 } });
  const r = parseArgs(['diagnose', '--all', '-n', 'ops', '--wait=10', '-o', 'json', '--kubeconfig', '/k', '--context', 'c'], {});
  assert.ok(r.ok === true && r.args.all && r.args.namespace === 'ops' && r.args.waitSeconds === 10 && r.args.json && r.args.kubeconfig === '/k' && r.args.context === 'c');
  const env = parseArgs(['diagnose', 'n', '--no-probe'], { SSM_AGENT_OPERATOR_NAMESPACE: 'x' });
  assert.ok(env.ok === true && env.args.namespace === 'x' && !env.args.probe);
  assert.deepEqual(parseArgs([]), { ok: 'help' });
  for (const [argv, error] of [
    [['diagnose'], /name a NODE, or --all/],
    [['diagnose', 'a', 'b'], /one node at a time/],
    [['diagnose', 'a', '--all'], /not both/],
    [['diagnose', 'Bad_Name'], /is not a node name/],
    [['diagnose', 'a', '--wait', '0'], /--wait must be an integer from 1 to 60/],
    [['diagnose', 'a', '--wait'], /--wait needs a value/],
    [['diagnose', 'a', '-o', 'yaml'], /--output must be json or text/],
    [['diagnose', 'a', '--frobnicate'], /unknown flag --frobnicate/],
    [['status'], /unknown command "status"/],
  ] as const) {
    const p = parseArgs(argv);
    assert.ok(p.ok === false && error.test(p.error), `${argv.join(' ')}: ${JSON.stringify(p)}`);
  }
});

test('the SubjectAccessReview asks for the verb diagnose on the node’s config, as the caller with their groups', () => {
  const caller = { username: 'alice', uid: 'u1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['x'] } };
  assert.deepEqual(accessReview(caller, 'fleet'), {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user: 'alice', uid: 'u1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['x'] }, resourceAttributes: { group: 'ssmagent.io', resource: 'ssmagentconfigs', verb: 'diagnose', name: 'fleet' } },
  });
  assert.equal((accessReview({ username: 'bob' }, undefined) as { spec: { resourceAttributes: { name?: string } } }).spec.resourceAttributes.name, undefined, '--all: every config');
  assert.match(deniedMessage({ username: 'bob' }, undefined), /^bob may not diagnose every SsmAgentConfig \(--all\): grant the verb "diagnose"/);
});

test('a probe answer wakes the waiters of that node only; a report without probes does not; timeouts resolve empty', async () => {
  const fresh = new FreshProbes();
  const a = fresh.wait('a', 5_000);
  const b = fresh.wait('b', 20);
  fresh.observe('a', { steps: [] }, ['steps'], '0.1.0');
  assert.equal(fresh.pending, 2, 'steps alone are not the answer');
  fresh.observe('a', { probes: [] }, ['probes', 'probeDetails', 'timestamps']);
  assert.deepEqual(await a, { probes: [] });
  assert.equal(await b, undefined);
  assert.equal(fresh.pending, 0);
  assert.equal(fresh.nodeAgentVersion('a'), '0.1.0');
  const aborted = new AbortController();
  const c = fresh.wait('c', 5_000, aborted.signal);
  aborted.abort();
  assert.equal(await c, undefined);
  assert.equal(fresh.pending, 0);
});

test('a probe round becomes a state message with phase detail that the operator accepts (and an old one drops)', () => {
  const at = new Date('2026-12-01T10:00:00.000Z');
  const s = stateFromProbes(
    [
      { endpoint: 'ssm', host: 'ssm.x', via: 'proxy', ok: false, reason: 'tls_untrusted', message: 'bad cert', phases: { dns: 0.001, tcp: 0.002 }, proxy: 'http://p:3128', at, connectedAddress: '10.0.0.1' },
      { endpoint: 's3', host: 's3.x', via: 'direct', ok: true, phases: { dns: 0.001, tcp: 0.002, tls: 0.003, http: 0.004 }, httpStatus: 403, at },
    ],
    at,
  );
  const parsed = parseAgentMessage(JSON.stringify({ v: 1, type: 'state', state: s }));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  assert.deepEqual(parsed.message.type === 'state' && parsed.message.state.probeDetails, [
    { endpoint: 'ssm', phases: { dns: 0.001, tcp: 0.002 }, message: 'bad cert', proxy: 'http://p:3128', connectedAddress: '10.0.0.1' },
    { endpoint: 's3', phases: { dns: 0.001, tcp: 0.002, tls: 0.003, http: 0.004 }, httpStatus: 403 },
  ]);
  const hostile = parseAgentMessage(JSON.stringify({ v: 1, type: 'state', state: { probeDetails: [{ endpoint: 'ssm', phases: { dns: -1 } }] } }));
  assert.ok(!hostile.ok, 'negative durations are refused');
});
