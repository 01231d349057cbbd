import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findConflict, describeConflict } from '../../operator/controllers/conflicts.ts';
import { nodeIsCovered, type NodeObject } from '../../operator/controllers/node-selection.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const node = (name: string, labels: Record<string, string> = {}, taints: { key: string; value?: string; effect: string }[] = []): NodeObject => ({
  metadata: { name, labels },
  spec: { taints },
});

test('nodeSelector must match every label', () => {
  const spec = { nodeSelector: { pool: 'a', os: 'linux' } };
  assert.equal(nodeIsCovered(spec, node('n', { pool: 'a', os: 'linux', x: 'y' })), true);
  assert.equal(nodeIsCovered(spec, node('n', { pool: 'a' })), false);
});

test('required node affinity: terms are ORed, expressions ANDed, all operators', () => {
  const affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'zone', operator: 'In' as const, values: ['a', 'b'] }, { key: 'gpu', operator: 'DoesNotExist' as const }] },
          { matchFields: [{ key: 'metadata.name', operator: 'In' as const, values: ['special'] }] },
          { matchExpressions: [{ key: 'cores', operator: 'Gt' as const, values: ['64'] }] },
        ],
      },
    },
  };
  assert.equal(nodeIsCovered({ affinity }, node('n1', { zone: 'a' })), true);
  assert.equal(nodeIsCovered({ affinity }, node('n2', { zone: 'a', gpu: 'yes' })), false);
  assert.equal(nodeIsCovered({ affinity }, node('special')), true);
  assert.equal(nodeIsCovered({ affinity }, node('n3', { cores: '96' })), true);
  assert.equal(nodeIsCovered({ affinity }, node('n4', { cores: '8' })), false);
  assert.equal(nodeIsCovered({ affinity }, node('n5', { zone: 'c' })), false);
});

test('taints exclude a node unless tolerated; PreferNoSchedule and DaemonSet defaults never exclude', () => {
  const tainted = node('t', {}, [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]);
  assert.equal(nodeIsCovered({}, tainted), false);
  assert.equal(nodeIsCovered({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }, tainted), true);
  assert.equal(nodeIsCovered({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web' }] }, tainted), false);
  assert.equal(nodeIsCovered({ tolerations: [{ operator: 'Exists' }] }, tainted), true);
  assert.equal(nodeIsCovered({}, node('p', {}, [{ key: 'x', effect: 'PreferNoSchedule' }])), true);
  assert.equal(nodeIsCovered({}, node('nr', {}, [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }])), true);
});

test('the newer of two overlapping configs is conflicted, naming the other and the nodes', () => {
  const nodes = [node('a1', { pool: 'a' }), node('a2', { pool: 'a' }), node('b1', { pool: 'b' })];
  const older = sampleConfig('all', {}, { creationTimestamp: '2026-01-01T00:00:00Z' });
  const newer = sampleConfig('pool-a', { nodeSelector: { pool: 'a' } }, { creationTimestamp: '2026-01-02T00:00:00Z' });
  const configs = [older, newer];
  assert.equal(findConflict(older, configs, nodes), undefined);
  const conflict = findConflict(newer, configs, nodes);
  assert.deepEqual(conflict, { with: ['all'], nodes: ['a1', 'a2'] });
  assert.match(describeConflict(conflict!), /"all"/);
  assert.match(describeConflict(conflict!), /a1, a2/);
});

test('disjoint configs do not conflict; equal timestamps are broken by name; deleting configs are ignored', () => {
  const nodes = [node('a1', { pool: 'a' }), node('b1', { pool: 'b' })];
  const a = sampleConfig('a', { nodeSelector: { pool: 'a' } });
  const b = sampleConfig('b', { nodeSelector: { pool: 'b' } });
  assert.equal(findConflict(b, [a, b], nodes), undefined);
  const x = sampleConfig('x');
  const y = sampleConfig('y');
  assert.equal(findConflict(x, [x, y], nodes), undefined);
  assert.ok(findConflict(y, [x, y], nodes));
  const xDeleting = { ...x, metadata: { ...x.metadata, deletionTimestamp: '2026-02-01T00:00:00Z' } };
  assert.equal(findConflict(y, [xDeleting, y], nodes), undefined);
});

test('overlap through tolerations only counts tolerated tainted nodes', () => {
  const nodes = [node('gpu1', {}, [{ key: 'gpu', effect: 'NoSchedule' }])];
  const plain = sampleConfig('plain', {}, { creationTimestamp: '2026-01-01T00:00:00Z' });
  const gpu = sampleConfig('gpu', { tolerations: [{ key: 'gpu', operator: 'Exists' }] }, { creationTimestamp: '2026-01-02T00:00:00Z' });
  assert.equal(findConflict(gpu, [plain, gpu], nodes), undefined, 'plain does not tolerate the taint, so no overlap');
});
