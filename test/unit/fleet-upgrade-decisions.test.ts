import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLEET_PATH, FLEET_PROTOCOL_VERSION, type HelloMessage } from '../../operator/api/fleet-protocol.ts';
import type { AgentIdentity } from '../../operator/fleet/auth.ts';
import { closeReason, helloViolation } from '../../operator/fleet/connection.ts';
import { precheckUpgrade, refusalResponse } from '../../operator/fleet/upgrade-auth.ts';

const open = { closing: false, busy: false };
const good = { url: FLEET_PATH, headers: { authorization: 'Bearer abc.def.ghi' } };
const reasonOf = (r: ReturnType<typeof precheckUpgrade>) => (r.ok ? 'ok' : `${r.status} ${r.reason}`);

test('an upgrade request with a path, a bearer token and a node name may be reviewed, with that token', () => {
  assert.deepEqual(precheckUpgrade(good, 'node-a', open), { ok: true, token: 'abc.def.ghi' });
  assert.deepEqual(precheckUpgrade({ ...good, url: `${FLEET_PATH}?x=1` }, 'node-a', open), { ok: true, token: 'abc.def.ghi' });
});

test('the prechecks answer in order: shutting down, path, token, node name, then the pending cap', () => {
  const everythingWrong = { url: '/other', headers: {} };
  assert.equal(reasonOf(precheckUpgrade(everythingWrong, '', { closing: true, busy: true })), '503 busy');
  assert.equal(reasonOf(precheckUpgrade(everythingWrong, '', { closing: false, busy: true })), '404 bad_path');
  assert.equal(reasonOf(precheckUpgrade({ url: FLEET_PATH, headers: { authorization: 'Basic x' } }, '', { closing: false, busy: true })), '401 no_token');
  assert.equal(reasonOf(precheckUpgrade(good, 'Not_A_Node', { closing: false, busy: true })), '400 no_node');
  assert.equal(reasonOf(precheckUpgrade(good, `a${'b'.repeat(253)}`, open)), '400 no_node');
  assert.equal(reasonOf(precheckUpgrade(good, 'node-a', { closing: false, busy: true })), '503 busy');
});

test('a refusal is a complete HTTP response; only a 401 asks for a bearer token', () => {
  const unauthorized = refusalResponse({ ok: false, status: 401, reason: 'unauthenticated', message: 'the token is not valid' });
  assert.match(unauthorized, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(unauthorized, /\r\nWWW-Authenticate: Bearer\r\n/);
  assert.ok(unauthorized.endsWith('\r\n\r\nthe token is not valid\n'));
  assert.match(unauthorized, /\r\nContent-Length: 23\r\n/);
  const forbidden = refusalResponse({ ok: false, status: 403, reason: 'node_mismatch', message: 'é' });
  assert.doesNotMatch(forbidden, /WWW-Authenticate/);
  assert.match(forbidden, /\r\nContent-Length: 3\r\n/, 'the length counts bytes, not characters');
});

const identity: AgentIdentity = { node: 'node-a', config: 'default', serviceAccount: 'ssm-node-agent-default', nodeBinding: 'node-name-claim' };
const hello = (over: Partial<HelloMessage> = {}): HelloMessage => ({ v: FLEET_PROTOCOL_VERSION, type: 'hello', node: 'node-a', config: 'default', nodeAgentVersion: '1.0.0', heartbeatSeconds: 60, state: {}, ...over });

test('a hello is accepted once, and only for the node and config the token stands for', () => {
  assert.equal(helloViolation(hello(), identity, false), undefined);
  assert.equal(helloViolation(hello(), identity, true)?.reason, 'hello_repeated');
  assert.equal(helloViolation(hello({ node: 'node-b' }), identity, false)?.reason, 'node_mismatch');
  const other = helloViolation(hello({ config: 'other' }), identity, false);
  assert.equal(other?.reason, 'config_mismatch');
  assert.match(other?.message ?? '', /ssm-node-agent-default serves default/);
});

test('a close reason is cut to the 123 bytes a close frame allows, never inside a character', () => {
  assert.equal(closeReason('short'), 'short');
  const cut = closeReason('é'.repeat(100));
  assert.ok(Buffer.byteLength(cut) <= 123);
  assert.equal(cut, 'é'.repeat(61));
});
