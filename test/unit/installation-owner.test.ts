// Objects the operator makes at run time carry its Service as owner (helm uninstall then removes them): the owner
// is added once, and whatever owners an object already has stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withOwner } from '../../operator/kube/installation-owner.ts';

const svc = { apiVersion: 'v1', kind: 'Service', name: 'ssm-agent-operator', uid: 'u-1' };

test('the operator Service is added as owner when missing, next to other owners, and never twice', () => {
  assert.deepEqual(withOwner(undefined, svc), [svc]);
  const other = { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u-2' };
  assert.deepEqual(withOwner([other], svc), [other, svc]);
  assert.equal(withOwner([other, svc], svc), undefined, 'already owned: nothing to write');
});
