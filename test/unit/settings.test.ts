import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keysForConfigEvent, nodeEventMatters } from '../../operator/manager/event-routing.ts';
import { readSettings } from '../../operator/settings.ts';
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
