import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAY_MS, createdVerdict, createFailedVerdict, expirationDate, planActivation, rotateBeforeMs, type ActivationFacts, type PlanActivationInput } from '../../operator/activations/plan.ts';
import { pendingHybridRegistrations, withActivationStatus } from '../../operator/activations/report.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const managed = { iamRole: 'SSMServiceRole', registrationLimit: 100, expirationDays: 30 };
const facts = (over: Partial<ActivationFacts> = {}): ActivationFacts => ({
  id: 'act-1',
  expired: false,
  expiresAt: new Date(NOW.getTime() + 20 * DAY_MS),
  registrationsCount: 3,
  registrationLimit: 100,
  iamRole: 'SSMServiceRole',
  ...over,
});
const input = (over: Partial<PlanActivationInput> = {}): PlanActivationInput => ({
  managed,
  secretName: 'ssm-activation-demo',
  secret: { id: 'act-1', code: 'code-1' },
  current: facts(),
  now: NOW,
  rotateBeforeMs: rotateBeforeMs(30),
  agentsStillOnOld: 0,
  ...over,
});

test('rotateBeforeMs is 7 days or 20 % of the lifetime, whichever is smaller; expirationDate stays within 30 days', () => {
  assert.equal(rotateBeforeMs(30), 6 * DAY_MS);
  assert.equal(rotateBeforeMs(10), 2 * DAY_MS);
  assert.equal(rotateBeforeMs(1), 0.2 * DAY_MS);
  assert.equal(Math.min(rotateBeforeMs(30), 7 * DAY_MS), rotateBeforeMs(30));
  assert.equal(expirationDate(NOW, 30).getTime(), NOW.getTime() + 30 * DAY_MS);
  assert.equal(expirationDate(NOW, 45).getTime(), NOW.getTime() + 30 * DAY_MS);
});

test('managed: no Secret yet → create', () => {
  const p = planActivation(input({ secret: undefined, current: undefined }));
  assert.deepEqual(p.action, { kind: 'create', reason: 'Missing', previousIds: [] });
});

test('managed: the Secret names an activation SSM no longer knows → create (NotFound), keeping still-existing old ids', () => {
  const p = planActivation(input({ secret: { id: 'gone', code: 'c', previousIds: ['old-a', 'old-b'] }, current: undefined, previous: new Map([['old-a', facts({ id: 'old-a' })]]) }));
  assert.deepEqual(p.action, { kind: 'create', reason: 'NotFound', previousIds: ['old-a'] });
  assert.equal(p.condition.reason, 'NotFound');
});

test('managed: a valid activation far from expiry → keep, ActivationReady True Valid, status.activation reported', () => {
  const p = planActivation(input());
  assert.deepEqual(p.action, { kind: 'keep' });
  assert.equal(p.condition.status, 'True');
  assert.equal(p.condition.reason, 'Valid');
  assert.deepEqual(p.activation, { id: 'act-1', expiresAt: new Date(NOW.getTime() + 20 * DAY_MS).toISOString(), registrationsUsed: 3, registrationLimit: 100 });
});

test('managed: rotate before expiry (within rotateBeforeMs), keeping the old one listed', () => {
  const p = planActivation(input({ current: facts({ expiresAt: new Date(NOW.getTime() + 5 * DAY_MS) }) }));
  assert.deepEqual(p.action, { kind: 'rotate', reason: 'ExpiresSoon', oldId: 'act-1', previousIds: [] });
  const just = planActivation(input({ current: facts({ expiresAt: new Date(NOW.getTime() + 6 * DAY_MS + 1) }) }));
  assert.equal(just.action.kind, 'keep');
});

test('managed: rotate when exhausted, when expired, and when the spec asks for another role or limit', () => {
  assert.deepEqual(planActivation(input({ current: facts({ registrationsCount: 100 }) })).action, { kind: 'rotate', reason: 'Exhausted', oldId: 'act-1', previousIds: [] });
  assert.equal((planActivation(input({ current: facts({ expired: true }) })).action as { reason: string }).reason, 'Expired');
  assert.equal((planActivation(input({ current: facts({ expiresAt: new Date(NOW.getTime() - 1) }) })).action as { reason: string }).reason, 'Expired');
  assert.equal((planActivation(input({ current: facts({ iamRole: 'OtherRole' }) })).action as { reason: string }).reason, 'SpecChanged');
  assert.equal((planActivation(input({ current: facts({ registrationLimit: 5 }) })).action as { reason: string }).reason, 'SpecChanged');
});

test('managed: the old activation is deleted only after the agents moved', () => {
  const secret = { id: 'act-2', code: 'c2', previousIds: ['act-1'] };
  const previous = new Map([['act-1', facts({ id: 'act-1', expiresAt: new Date(NOW.getTime() + 3 * DAY_MS) })]]);
  const waiting = planActivation(input({ secret, current: facts({ id: 'act-2' }), previous, agentsStillOnOld: 2 }));
  assert.deepEqual(waiting.action, { kind: 'keep' });
  assert.equal(waiting.condition.status, 'True');
  assert.equal(waiting.condition.reason, 'Rotating');
  assert.match(waiting.condition.message, /2 hybrid nodes register/);
  const unknown = planActivation(input({ secret, current: facts({ id: 'act-2' }), previous, agentsStillOnOld: Number.POSITIVE_INFINITY }));
  assert.deepEqual(unknown.action, { kind: 'keep' });
  assert.match(unknown.condition.message, /until it expires/);
  const moved = planActivation(input({ secret, current: facts({ id: 'act-2' }), previous, agentsStillOnOld: 0 }));
  assert.deepEqual(moved.action, { kind: 'delete-old', ids: ['act-1'], keep: [] });
  assert.equal(moved.condition.reason, 'Valid');
  assert.equal(moved.activation?.id, 'act-2');
});

test('managed: an old activation that expired or is gone is dropped even while nodes are pending', () => {
  const secret = { id: 'act-3', code: 'c3', previousIds: ['expired', 'gone', 'live'] };
  const previous = new Map([
    ['expired', facts({ id: 'expired', expired: true })],
    ['live', facts({ id: 'live' })],
  ]);
  const p = planActivation(input({ secret, current: facts({ id: 'act-3' }), previous, agentsStillOnOld: 1 }));
  assert.deepEqual(p.action, { kind: 'delete-old', ids: ['expired', 'gone'], keep: ['live'] });
  assert.equal(p.condition.reason, 'Rotating');
});

test('managed: rotating again while an older one is pending keeps both listed', () => {
  const p = planActivation(input({ secret: { id: 'act-2', code: 'c', previousIds: ['act-1'] }, current: facts({ id: 'act-2', registrationsCount: 100 }), previous: new Map([['act-1', facts()]]), agentsStillOnOld: 4 }));
  assert.deepEqual(p.action, { kind: 'rotate', reason: 'Exhausted', oldId: 'act-2', previousIds: ['act-1'] });
});

test('user-made (secretRef): never changes anything; expired, exhausted and missing are ActivationReady False with what to do', () => {
  const user = (over: Partial<PlanActivationInput>) => planActivation(input({ managed: undefined, secretName: 'my-activation', ...over }));
  const ok = user({});
  assert.deepEqual(ok.action, { kind: 'keep' });
  assert.equal(ok.condition.reason, 'Valid');
  assert.equal(ok.activation?.id, 'act-1');

  const expired = user({ current: facts({ expired: true }) });
  assert.deepEqual(expired.action, { kind: 'keep' });
  assert.equal(expired.condition.status, 'False');
  assert.equal(expired.condition.reason, 'Expired');
  assert.match(expired.condition.message, /my-activation/);
  assert.match(expired.condition.message, /create a new activation/);

  const exhausted = user({ current: facts({ registrationsCount: 100 }) });
  assert.equal(exhausted.condition.reason, 'Exhausted');
  assert.equal(exhausted.condition.status, 'False');

  const notFound = user({ current: undefined });
  assert.equal(notFound.condition.reason, 'NotFound');
  assert.equal(notFound.condition.status, 'False');
  assert.equal(notFound.activation, undefined);

  const noSecret = user({ secret: undefined, current: undefined });
  assert.equal(noSecret.condition.reason, 'NotFound');
  assert.match(noSecret.condition.message, /Secret my-activation/);

  const soon = user({ current: facts({ expiresAt: new Date(NOW.getTime() + DAY_MS) }) });
  assert.equal(soon.condition.status, 'True');
  assert.match(soon.condition.message, /expires soon/);
});

test('verdicts after the I/O: created, rotated, create failed', () => {
  const at = new Date(NOW.getTime() + 30 * DAY_MS);
  assert.equal(createdVerdict({ kind: 'create', reason: 'Missing', previousIds: [] }, 'new', at).reason, 'Valid');
  const r = createdVerdict({ kind: 'rotate', reason: 'Exhausted', oldId: 'old', previousIds: [] }, 'new', at);
  assert.equal(r.reason, 'Rotating');
  assert.match(r.message, /replace old because its registration limit is used up/);
  const f = createFailedVerdict('AccessDeniedException: not allowed');
  assert.equal(f.status, 'False');
  assert.equal(f.reason, 'CreateFailed');
  assert.match(f.message, /iam:PassRole/);
});

test('pendingHybridRegistrations counts hybrid nodes without an instance id', () => {
  const n = pendingHybridRegistrations([
    { state: { observation: { serviceActive: true, instanceId: 'mi-0123456789abcdef0' } } },
    { state: { observation: { serviceActive: true } } },
    { state: { facts: { ec2: true }, observation: { serviceActive: true } } },
    { state: {} },
  ]);
  assert.equal(n, 2);
});

test('withActivationStatus sets the condition and status.activation, keeping lastTransitionTime while the status holds', () => {
  const base = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' as const, lastTransitionTime: 'T0', reason: 'AllNodesReady', message: 'ok' }] };
  const one = withActivationStatus(base, { condition: { status: 'True', reason: 'Valid', message: 'm' }, activation: { id: 'a' } }, 'T1', 1);
  assert.equal(one.conditions?.length, 2);
  assert.equal(one.conditions?.[1]?.lastTransitionTime, 'T1');
  assert.deepEqual(one.activation, { id: 'a' });
  const two = withActivationStatus(one, { condition: { status: 'True', reason: 'Rotating', message: 'm2' }, activation: { id: 'b' } }, 'T2', 2);
  assert.equal(two.conditions?.[1]?.lastTransitionTime, 'T1');
  assert.equal(two.conditions?.[1]?.reason, 'Rotating');
  const three = withActivationStatus(two, { condition: { status: 'False', reason: 'Expired', message: 'm3' } }, 'T3', 2);
  assert.equal(three.conditions?.[1]?.lastTransitionTime, 'T3');
  assert.equal(three.activation, undefined);
  const none = withActivationStatus(three, undefined, 'T4', 2);
  assert.deepEqual(none.conditions?.map((c) => c.type), ['Ready']);
});
