import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAgentMessage, stateFromPass, stateFromProbes } from '../../node-agent/fleet/report.ts';
import {
  changedSections,
  encodeMessage,
  FLEET_MAX_MESSAGE_BYTES,
  mergeNodeState,
  parseAgentMessage,
  parseOperatorMessage,
  type AgentMessage,
  type HelloMessage,
  type NodeState,
  type OperatorMessage,
} from '../../operator/api/fleet-protocol.ts';

const state: NodeState = {
  facts: { os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12' }, arch: 'amd64', packageManager: 'dpkg', ec2: false, installedVersion: '3.3.1142.0' },
  steps: [
    { step: 'detect', status: 'ok' },
    { step: 'register', status: 'failed', reason: 'ActivationExpired', message: 'the activation expired' },
  ],
  observation: { serviceActive: true, version: '3.3.1142.0', instanceId: 'mi-0123456789abcdef0', region: 'us-east-1' },
  probes: [{ endpoint: 'ssm', host: 'ssm.us-east-1.amazonaws.com', ok: false, reason: 'tls_untrusted', via: 'proxy' }],
  timestamps: { pass: '2026-01-02T03:04:05.678Z', probes: '2026-01-02T03:04:06.000Z' },
};

const hello: HelloMessage = { v: 1, type: 'hello', node: 'node-a', config: 'default', nodeAgentVersion: '0.1.0', agentVersion: '3.3.1142.0', heartbeatSeconds: 60, state };

test('every message of both directions passes its own validator and round-trips', () => {
  const agentMessages: AgentMessage[] = [hello, { v: 1, type: 'state', state: { probes: [] } }, { v: 1, type: 'heartbeat' }];
  for (const message of agentMessages) {
    const parsed = parseAgentMessage(encodeMessage(message));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.deepEqual(parsed.message, message);
  }
  const operatorMessages: OperatorMessage[] = [{ v: 1, type: 'welcome', node: 'node-a', heartbeatSeconds: 60 }, { v: 1, type: 'probe-now' }, { v: 1, type: 'error', code: 'invalid', message: 'x' }];
  for (const message of operatorMessages) {
    const parsed = parseOperatorMessage(encodeMessage(message));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.deepEqual(parsed.message, message);
  }
});

test('the validator names what is wrong, with a code for the close', () => {
  const cases: [string, string, RegExp][] = [
    ['{not json', 'not_json', /not JSON/],
    ['[1,2]', 'invalid', /must be a JSON object/],
    [JSON.stringify({ ...hello, v: 2 }), 'unsupported_version', /unsupported protocol version 2 \(this side speaks 1\)/],
    [JSON.stringify({ v: 1, type: 'probe-now' }), 'unknown_type', /unknown message type "probe-now" from a node agent \(expected hello, state, heartbeat\)/],
    [JSON.stringify({ ...hello, node: 'Node_A' }), 'invalid', /invalid hello message: \/node: /],
    [JSON.stringify({ ...hello, heartbeatSeconds: 0 }), 'invalid', /\/heartbeatSeconds: Expected integer to be greater or equal to 1/],
    [JSON.stringify({ v: 1, type: 'state', state: { steps: [{ step: 'install', status: 'exploded' }] } }), 'invalid', /\/state\/steps\/0\/status/],
    [JSON.stringify({ v: 1, type: 'state', state: { timestamps: { pass: 'yesterday' } } }), 'invalid', /\/state\/timestamps\/pass/],
    [JSON.stringify({ v: 1, type: 'state' }), 'invalid', /\/state: Expected required property/],
  ];
  for (const [text, code, error] of cases) {
    const parsed = parseAgentMessage(text);
    assert.equal(parsed.ok, false, text);
    if (parsed.ok) continue;
    assert.equal(parsed.code, code, text);
    assert.match(parsed.error, error);
  }
  // Messages the agent must not accept from the operator either.
  const fromOperator = parseOperatorMessage(JSON.stringify({ v: 1, type: 'hello' }));
  assert.ok(!fromOperator.ok && fromOperator.code === 'unknown_type');
});

test('a message over the size limit is refused before it is parsed, and cannot be encoded', () => {
  const big = JSON.stringify({ v: 1, type: 'heartbeat', pad: 'x'.repeat(FLEET_MAX_MESSAGE_BYTES) });
  const parsed = parseAgentMessage(big);
  assert.ok(!parsed.ok && parsed.code === 'too_large', JSON.stringify(parsed).slice(0, 200));
  assert.match(parsed.ok ? '' : parsed.error, /larger than the limit of 65536/);
  assert.throws(() => encodeMessage({ v: 1, type: 'error', code: 'x', message: 'é'.repeat(40_000) }), /larger than the limit/);
});

test('unknown fields are tolerated and dropped (a newer agent within v1)', () => {
  const parsed = parseAgentMessage(JSON.stringify({ ...hello, future: true, state: { ...state, extra: 1, observation: { ...state.observation, newField: 'x' } } }));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.message, hello);
});

test('arrays and strings are bounded', () => {
  const tooManySteps = { v: 1, type: 'state', state: { steps: Array.from({ length: 33 }, () => ({ step: 'x', status: 'ok' })) } };
  assert.equal(parseAgentMessage(JSON.stringify(tooManySteps)).ok, false);
  const longMessage = { v: 1, type: 'state', state: { steps: [{ step: 'x', status: 'failed', message: 'm'.repeat(1025) }] } };
  assert.equal(parseAgentMessage(JSON.stringify(longMessage)).ok, false);
});

test('merge replaces the sections a delta carries and keeps the others', () => {
  const merged = mergeNodeState(state, { probes: [], timestamps: { probes: '2026-01-02T03:05:00.000Z' } });
  assert.deepEqual(merged.probes, []);
  assert.deepEqual(merged.steps, state.steps);
  assert.deepEqual(merged.timestamps, { pass: state.timestamps?.pass, probes: '2026-01-02T03:05:00.000Z' });
});

test('changedSections sees value changes, not timestamps', () => {
  assert.deepEqual(changedSections(undefined, state), ['facts', 'steps', 'observation', 'probes']);
  assert.deepEqual(changedSections(state, structuredClone(state)), []);
  assert.deepEqual(changedSections(state, { ...state, timestamps: { pass: '2027-01-01T00:00:00Z' } }), []);
  const next = structuredClone(state);
  next.observation = { serviceActive: false };
  assert.deepEqual(changedSections(state, next), ['observation']);
});

test('state from a pass and from probes validates, with long texts clipped', () => {
  const fromPass = stateFromPass({
    at: new Date('2026-01-02T03:04:05Z'),
    facts: { os: { id: 'debian', versionId: '12', prettyName: 'Debian 12', idLike: [] }, arch: 'amd64', packageManager: 'dpkg', ec2: { instanceId: 'i-0abc', region: 'eu-west-1' } },
    outcomes: [
      { step: 'detect', status: 'ok' },
      { step: 'install', status: 'failed', reason: 'Signature Invalid!', message: 'x'.repeat(5000) },
    ],
    observation: { serviceActive: true, version: '3.3.1142.0' },
  });
  assert.equal(fromPass.observation?.instanceId, 'i-0abc', 'an EC2 node reports its instance id');
  assert.equal(fromPass.steps?.[1]?.reason, 'Signature_Invalid_');
  assert.equal(fromPass.steps?.[1]?.message?.length, 1024);
  const fromProbes = stateFromProbes([{ endpoint: 'ssm', host: 'ssm.eu-west-1.amazonaws.com', via: 'direct', ok: false, reason: 'dns', phases: {}, at: new Date() }], new Date('2026-01-02T03:04:06Z'));
  for (const s of [fromPass, fromProbes]) {
    const parsed = parseAgentMessage(JSON.stringify({ v: 1, type: 'state', state: s }));
    assert.ok(parsed.ok, JSON.stringify(parsed));
  }
});

test('a state too large for one message is shrunk by cutting step messages, not refused', () => {
  const steps = Array.from({ length: 32 }, (_, i) => ({ step: `s${i}`, status: 'failed' as const, reason: 'R', message: '€'.repeat(1024) }));
  const message = { v: 1 as const, type: 'state' as const, state: { steps } };
  assert.ok(Buffer.byteLength(JSON.stringify(message)) > FLEET_MAX_MESSAGE_BYTES);
  const text = encodeAgentMessage(message);
  assert.ok(Buffer.byteLength(text) <= FLEET_MAX_MESSAGE_BYTES);
  const parsed = parseAgentMessage(text);
  assert.ok(parsed.ok && parsed.message.type === 'state');
  assert.equal(parsed.message.state.steps?.length, 32);
});
