import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyFingerprint } from '../../operator/controllers/ssmagentconfig-controller.ts';

const obj = (kind: string, name: string, rv: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind, metadata: { name, namespace: 'ns', resourceVersion: rv }, ...extra });

test('the apply fingerprint changes with the desired objects or any live resourceVersion, not with order', () => {
  const desired = [obj('ConfigMap', 'a', ''), obj('DaemonSet', 'a', '', { spec: { x: 1 } })];
  const live = [obj('ConfigMap', 'a', '10'), obj('DaemonSet', 'a', '11')];
  const base = applyFingerprint(desired, live);
  assert.equal(applyFingerprint(desired, [...live].reverse()), base, 'order of the live objects does not matter');
  assert.notEqual(applyFingerprint(desired, [obj('ConfigMap', 'a', '10'), obj('DaemonSet', 'a', '12')]), base, 'an edit by hand (new resourceVersion) is drift');
  assert.notEqual(applyFingerprint(desired, [obj('ConfigMap', 'a', '10')]), base, 'a deleted object is drift');
  assert.notEqual(applyFingerprint([obj('ConfigMap', 'a', ''), obj('DaemonSet', 'a', '', { spec: { x: 2 } })], live), base, 'a new desired state is applied');
});
