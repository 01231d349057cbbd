// The agent's own health (issue 14): its log lines, as the real amazon-ssm-agent writes them, classified into
// reasons with a fix; the log read incrementally and bounded, surviving rotation and truncation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentProblem, foldLogLines } from '../../node-agent/agent-health/classify.ts';
import { IncrementalLogReader } from '../../node-agent/agent-health/log-reader.ts';
import { AgentHealthWatcher } from '../../node-agent/agent-health/watcher.ts';
import { FakeHost } from '../harness/fake-host.ts';

const T = '2026-12-01 20:48:14.1951';
const DENIED = [
  `${T} INFO [CredentialRefresher] Starting credentials refresher loop`,
  `${T} ERROR [CredentialRefresher] Retrieve credentials produced error: AccessDeniedException: Systems Manager could not assume the IAM role`,
  '\tstatus code: 400, request id: 5b1c7f3e-1111-2222-3333-444455556666',
  `${T} INFO [CredentialRefresher] Sleeping for 20s before retrying retrieve credentials`,
];

test('a denied role token: CredentialsUnavailable with the AWS error code and the fix; recovered by "Credentials ready"', () => {
  let state = foldLogLines({}, DENIED);
  const p = currentProblem(state);
  assert.equal(p?.reason, 'CredentialsUnavailable');
  assert.equal(p?.code, 'AccessDeniedException');
  assert.match(p?.detail ?? '', /could not assume the IAM role \| status code: 400, request id: 5b1c7f3e/);
  assert.match(p?.fix ?? '', /trust policy.*AmazonSSMManagedInstanceCore/);
  state = foldLogLines(state, [`${T} INFO [CredentialRefresher] Credentials ready`, `${T} INFO [HealthCheck] HealthCheck reporting agent health.`]);
  assert.equal(currentProblem(state), undefined);
});

test('other credential errors keep their code: throttling, a network error on two lines, a changed machine', () => {
  const throttled = currentProblem(foldLogLines({}, [`${T} ERROR [CredentialRefresher] Retrieve credentials produced error: ThrottlingException: Rate exceeded`, '\tstatus code: 400, request id: x']));
  assert.equal(throttled?.code, 'ThrottlingException');
  const network = currentProblem(
    foldLogLines({}, [
      `${T} ERROR [CredentialRefresher] Retrieve credentials produced error: RequestError: send request failed`,
      'caused by: Post "https://ssm.eu-west-1.amazonaws.com/": dial tcp 10.0.0.1:443: i/o timeout',
    ]),
  );
  assert.equal(network?.code, 'RequestError');
  assert.match(network?.detail ?? '', /caused by: Post .*i\/o timeout/);
  assert.match(network?.fix ?? '', /connectivity probes/);
  assert.equal(currentProblem(foldLogLines({}, [`${T} ERROR [CredentialRefresher] Retrieve credentials produced error: MachineFingerprintDoesNotMatch: Fingerprint does not match`]))?.code, 'MachineFingerprintDoesNotMatch');
});

test('no identity: IdentityMissing (not "service down"), and it outranks everything else; taking an identity clears it', () => {
  const lines = [
    ...DENIED,
    `${T} ERROR [amazon-ssm-agent] Agent failed to assume any identity`,
    `${T} ERROR [amazon-ssm-agent] failed to get identity: failed to find agent identity`,
    `${T} ERROR Error occurred when starting amazon-ssm-agent: failed to get identity: failed to find agent identity`,
  ];
  const state = foldLogLines({}, lines);
  assert.equal(currentProblem(state)?.reason, 'IdentityMissing');
  assert.equal(currentProblem(foldLogLines(state, [`${T} INFO [amazon-ssm-agent] Agent will take identity from OnPrem`])), undefined);
});

test('a refused or unreachable health ping is PingFailed; messaging errors are MessagingUnreachable', () => {
  const expired = currentProblem(
    foldLogLines({}, [
      `${T} INFO [HealthCheck] HealthCheck reporting agent health.`,
      `${T} ERROR [HealthCheck] error when calling AWS APIs. error details - ExpiredTokenException: The security token included in the request is expired`,
      '\tstatus code: 400, request id: y',
    ]),
  );
  assert.equal(expired?.reason, 'PingFailed');
  assert.equal(expired?.code, 'ExpiredTokenException');
  const messaging = currentProblem(foldLogLines({}, [`${T} ERROR [ssm-agent-worker] [MessageService] [MGSInteractor] Error setting up control channel: failed to connect controlchannel with error: dial tcp: lookup ssmmessages.eu-west-1.amazonaws.com: no such host`]));
  assert.equal(messaging?.reason, 'MessagingUnreachable');
  assert.equal(currentProblem(foldLogLines({}, ['some unrelated line', `${T} INFO [amazon-ssm-agent] Proxy environment variables:`])), undefined);
});

test('the log is read incrementally: only new complete lines, bounded, and from the start again after rotation or truncation', async () => {
  const host = new FakeHost();
  const path = '/var/log/amazon/ssm/amazon-ssm-agent.log';
  const write = (text: string, ino = 1) => host.files.set(path, { content: Buffer.from(text), mode: 0o644, ino });
  const reader = new IncrementalLogReader(path, 1024);
  assert.deepEqual((await reader.read(host)).lines, [], 'no log yet');
  write('one\ntwo\nthr');
  assert.deepEqual((await reader.read(host)).lines, ['one', 'two']);
  write('one\ntwo\nthree\nfour\n');
  assert.deepEqual((await reader.read(host)).lines, ['three', 'four'], 'the partial line completes; nothing is read twice');
  assert.deepEqual((await reader.read(host)).lines, []);
  write('rotated\n', 2);
  const rotated = await reader.read(host);
  assert.deepEqual(rotated.lines, ['rotated']);
  assert.equal(rotated.restarted, true);
  write('x\n', 2);
  const truncated = await reader.read(host);
  assert.equal(truncated.restarted, true);
  assert.deepEqual(truncated.lines, ['x']);
  // 10 KiB written at once: at most 1 KiB is read, the rest skipped, no partial first line
  write(`x\n${'a line of the agent log\n'.repeat(440)}`, 2);
  const big = await reader.read(host);
  assert.ok(big.skipped > 0);
  assert.ok(big.lines.length > 0 && big.lines.length <= 1024 / 'a line of the agent log\n'.length + 1);
  assert.ok(big.lines.every((l) => l === 'a line of the agent log'));
  const reads = host.commands.length;
  assert.equal(reads, 0, 'no command runs: the log is read as a file');
});

test('the watcher: failed step with reason, fix and the agent\'s words; skipped when the agent is not installed', async () => {
  const host = new FakeHost();
  host.files.set('/var/log/amazon/ssm/amazon-ssm-agent.log', { content: Buffer.from(`${DENIED.join('\n')}\n`), mode: 0o644, ino: 1 });
  const watcher = new AgentHealthWatcher();
  const observation = { serviceActive: true, version: '3.3.1142.0', registration: { instanceId: 'mi-0123456789abcdef0', region: 'eu-west-1' } };
  const r = await watcher.observe(host, observation, false);
  assert.equal(r.outcome.status, 'failed');
  assert.equal(r.outcome.reason, 'CredentialsUnavailable');
  assert.match(r.outcome.message ?? '', /agent said, AccessDeniedException: /);
  assert.equal(r.health?.healthy, false);
  assert.equal((await watcher.observe(host, { serviceActive: false }, false)).outcome.status, 'skipped');
});

test('a restart starts over: the pass that restarted the agent reports nothing old; a new start line resets what was known', async () => {
  const host = new FakeHost();
  const path = '/var/log/amazon/ssm/amazon-ssm-agent.log';
  host.files.set(path, { content: Buffer.from(`${T} ERROR [amazon-ssm-agent] failed to get identity: failed to find agent identity\n`), mode: 0o644, ino: 1 });
  const watcher = new AgentHealthWatcher();
  const observation = { serviceActive: true, version: '3.3.1142.0' };
  assert.equal((await watcher.observe(host, observation, true)).outcome.status, 'ok', 'just registered and restarted');
  const later = `${T} INFO Proxy environment variables:\n${T} INFO [amazon-ssm-agent] Agent will take identity from OnPrem\n${DENIED.join('\n')}\n`;
  host.files.set(path, { content: Buffer.concat([host.files.get(path)?.content ?? Buffer.alloc(0), Buffer.from(later)]), mode: 0o644, ino: 1 });
  assert.equal((await watcher.observe(host, observation, false)).outcome.reason, 'CredentialsUnavailable');
  assert.equal(currentProblem(foldLogLines(foldLogLines({}, DENIED), [`${T} INFO Proxy environment variables:`])), undefined);
});

test('a failed agent-health step makes the node failing in the config status, with the agent\'s reason', async () => {
  const { aggregateFleet } = await import('../../operator/controllers/fleet-aggregate.ts');
  const state = {
    steps: [
      { step: 'detect', status: 'ok' as const },
      { step: 'register', status: 'ok' as const },
      { step: 'observe', status: 'ok' as const },
      { step: 'agent-health', status: 'failed' as const, reason: 'CredentialsUnavailable', message: 'Systems Manager refused the role credentials (agent said, AccessDeniedException: …)' },
    ],
    observation: { serviceActive: true, version: '3.3.1142.0', instanceId: 'mi-0123456789abcdef0' },
  };
  const agg = aggregateFleet([{ node: 'n1', config: 'c', state, connected: true, failingSince: 1 }], new Set(['n1']));
  assert.equal(agg.failing, 1);
  assert.equal(agg.failingNodes[0]?.reason, 'CredentialsUnavailable');
  assert.match(agg.failingNodes[0]?.message ?? '', /^agent-health: .*AccessDeniedException/);
  assert.equal(agg.registered, 1, 'registered, and still failing');
});
