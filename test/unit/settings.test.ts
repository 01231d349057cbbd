import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keysForConfigEvent, nodeEventMatters } from '../../operator/manager/event-routing.ts';
import { readSettings } from '../../operator/settings.ts';
import { readNodeAgentSettings } from '../../node-agent/settings.ts';
import { sampleConfig } from '../fixtures/configs.ts';

test('settings: defaults, and errors that name the variable and the fix', () => {
  const ok = readSettings({ POD_NAMESPACE: 'ns', NODE_AGENT_IMAGE: 'img' });
  assert.ok(ok.ok);
  assert.equal(ok.settings.httpPort, 8080);
  assert.equal(ok.settings.leaderElection, true);
  const bad = readSettings({ HTTP_PORT: 'x', LEADER_ELECTION: 'maybe', LEASE_DURATION_SECONDS: '5', RENEW_DEADLINE_SECONDS: '10' });
  assert.equal(bad.ok, false);
  const text = bad.ok ? '' : bad.errors.join('\n');
  for (const name of ['POD_NAMESPACE', 'NODE_AGENT_IMAGE', 'HTTP_PORT', 'LEADER_ELECTION', 'RENEW_DEADLINE_SECONDS']) assert.match(text, new RegExp(name));
});

test('event routing: status-only updates enqueue nothing; spec changes recheck every config', () => {
  const c = sampleConfig('a');
  const statusOnly = { ...c, metadata: { ...c.metadata, resourceVersion: '2' }, status: { observedGeneration: 1 } };
  assert.deepEqual(keysForConfigEvent({ type: 'update', object: statusOnly, old: c }), []);
  const specChange = { ...c, metadata: { ...c.metadata, generation: 2 } };
  assert.equal(keysForConfigEvent({ type: 'update', object: specChange, old: c }), 'all');
  const deleting = { ...c, metadata: { ...c.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
  assert.deepEqual(keysForConfigEvent({ type: 'update', object: deleting, old: c }), ['a']);
  assert.equal(keysForConfigEvent({ type: 'add', object: c }), 'all');
});

test('event routing: node heartbeats do not matter, label and taint changes do', () => {
  const n = { metadata: { name: 'n', labels: { a: '1' }, resourceVersion: '1' }, spec: {} };
  assert.equal(nodeEventMatters({ type: 'update', object: { ...n, metadata: { ...n.metadata, resourceVersion: '2' } }, old: n }), false);
  assert.equal(nodeEventMatters({ type: 'update', object: { ...n, metadata: { ...n.metadata, labels: { a: '2' } } }, old: n }), true);
  assert.equal(nodeEventMatters({ type: 'update', object: { ...n, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }, old: n }), true);
});

test('durations past what a timer can hold (2^31-1 ms) are refused, not turned into a tight loop', () => {
  const base = { POD_NAMESPACE: 'ns', NODE_AGENT_IMAGE: 'img' };
  for (const name of ['RESYNC_SECONDS', 'SSM_SYNC_INTERVAL_SECONDS', 'LEASE_DURATION_SECONDS']) {
    const r = readSettings({ ...base, [name]: String(600 * 3600 * 24) });
    assert.equal(r.ok, false, name);
    assert.ok(!r.ok && r.errors.some((e) => e.startsWith(`${name}=`) && /at most 2147483/.test(e)), name);
  }
  assert.equal(readSettings({ ...base, RESYNC_SECONDS: String(24 * 3600) }).ok, true);
  const n = readNodeAgentSettings({ PASS_INTERVAL_SECONDS: String(600 * 3600) });
  assert.ok(!n.ok && /PASS_INTERVAL_SECONDS.*2147483/.test(n.errors.join(' ')));
  assert.ok(readNodeAgentSettings({ PASS_INTERVAL_SECONDS: '3600' }).ok);
});
