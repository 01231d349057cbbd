import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityFromReview, type TokenReviewStatus } from '../../operator/fleet/auth.ts';

// The shape kube-apiserver v1.35.4 returns for a pod-bound token of a node agent (see the integration test).
const review = (extra: Record<string, string[]>, over: Partial<TokenReviewStatus> = {}): TokenReviewStatus => ({
  authenticated: true,
  user: { username: 'system:serviceaccount:ssm-system:ssm-node-agent-default', uid: 'u', groups: ['system:serviceaccounts'], extra },
  audiences: ['ssmagent.io/fleet'],
  ...over,
});
const bound = { 'authentication.kubernetes.io/node-name': ['node-a'], 'authentication.kubernetes.io/pod-name': ['agent-1'], 'authentication.kubernetes.io/pod-uid': ['uid-1'] };
const noPods = async () => assert.fail('no pod lookup when the node-name claim is there');
const ctx = { namespace: 'ssm-system', podNode: noPods };

test('a node agent token bound to a pod on a node: that node, that config, from the node-name claim', async () => {
  assert.deepEqual(await identityFromReview(review(bound), ctx), {
    ok: true,
    identity: { node: 'node-a', config: 'default', serviceAccount: 'ssm-node-agent-default', pod: 'agent-1', nodeBinding: 'node-name-claim' },
  });
});

test('without the node-name claim (clusters before 1.30) the bound pod is read', async () => {
  const noClaim = { 'authentication.kubernetes.io/pod-name': ['agent-1'], 'authentication.kubernetes.io/pod-uid': ['uid-1'] };
  const asked: string[] = [];
  const ok = await identityFromReview(review(noClaim), { namespace: 'ssm-system', podNode: async (pod) => (asked.push(pod), { nodeName: 'node-b', uid: 'uid-1' }) });
  assert.deepEqual(asked, ['agent-1']);
  assert.ok(ok.ok && ok.identity.node === 'node-b' && ok.identity.nodeBinding === 'pod-lookup');
  const gone = await identityFromReview(review(noClaim), { namespace: 'ssm-system', podNode: async () => undefined });
  assert.ok(!gone.ok && gone.status === 403 && gone.reason === 'not_bound');
  const recreated = await identityFromReview(review(noClaim), { namespace: 'ssm-system', podNode: async () => ({ nodeName: 'node-b', uid: 'another' }) });
  assert.ok(!recreated.ok && recreated.reason === 'not_bound', 'a pod of the same name but another uid is not the bound pod');
});

test('rejections: 401 for who-are-you, 403 for you-may-not', async () => {
  const cases: [TokenReviewStatus, number, string][] = [
    [{ user: {}, error: 'invalid bearer token' }, 401, 'unauthenticated'],
    [{ user: {}, error: '[invalid bearer token, token audiences ["other"] is invalid for the target audiences ["ssmagent.io/fleet"]]' }, 401, 'audience'],
    [review(bound, { audiences: undefined }), 401, 'audience'], // an audience-unaware authenticator (static token)
    [review(bound, { user: { username: 'system:serviceaccount:ssm-system:default', extra: bound } }), 403, 'not_node_agent'],
    [review(bound, { user: { username: 'system:serviceaccount:kube-system:ssm-node-agent-default', extra: bound } }), 403, 'not_node_agent'],
    [review(bound, { user: { username: 'system:serviceaccount:ssm-system:ssm-node-agent-', extra: bound } }), 403, 'not_node_agent'],
    [review(bound, { user: { username: 'admin', extra: {} } }), 403, 'not_node_agent'],
    [review({}), 403, 'not_bound'], // a legacy or Secret-bound token
  ];
  for (const [status, code, reason] of cases) {
    const result = await identityFromReview(status, ctx);
    assert.ok(!result.ok, JSON.stringify(status));
    assert.equal(result.status, code, reason);
    assert.equal(result.reason, reason);
  }
});
