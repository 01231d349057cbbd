// The activation intent's value: the time and this process's mark. An intent of another process (a restart, a
// replica that lost the lease) is over once that process cannot still be creating; this process's own once its
// pass cannot still be writing the Secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANNOTATION_ACTIVATION_INTENT, intentValue, parseIntent, PROCESS_MARK } from '../../operator/activations/history.ts';
import { FOREIGN_INTENT_SETTLED_MS, INTENT_SETTLED_MS, intentAwaitsSettling, intentIsStale } from '../../operator/activations/step.ts';
import type { SsmAgentConfig } from '../../operator/api/types.ts';

const at = '2026-12-01T10:00:00.000Z';
const config = (value: string | undefined) => ({ metadata: { name: 'c', annotations: value === undefined ? {} : { [ANNOTATION_ACTIVATION_INTENT]: value } } }) as unknown as SsmAgentConfig;

test('an intent value names its time and this process', () => {
  assert.equal(intentValue(at), `${at} ${PROCESS_MARK}`);
  assert.deepEqual(parseIntent(intentValue(at)), { at: Date.parse(at), mine: true });
  assert.deepEqual(parseIntent(`${at} 00000000-dead-4000-8000-000000000000`), { at: Date.parse(at), mine: false });
  // what an older operator wrote: a bare time, another process's
  assert.deepEqual(parseIntent(at), { at: Date.parse(at), mine: false });
  for (const bad of [undefined, '', 'soon', `  ${PROCESS_MARK}`]) assert.equal(parseIntent(bad), undefined, String(bad));
});

test('another process’s intent is stale after FOREIGN_INTENT_SETTLED_MS; this process’s only after INTENT_SETTLED_MS', () => {
  const now = new Date(Date.parse(at) + 1_000);
  // A replica that just lost the lease may still finish its create: not at once.
  assert.equal(intentIsStale(config(`${at} another-process`), now), false);
  assert.equal(intentAwaitsSettling(config(`${at} another-process`), now), true, 'creating is put off meanwhile');
  const later = new Date(Date.parse(at) + FOREIGN_INTENT_SETTLED_MS);
  assert.equal(intentIsStale(config(`${at} another-process`), later), true);
  assert.equal(intentAwaitsSettling(config(`${at} another-process`), later), false);
  assert.ok(FOREIGN_INTENT_SETTLED_MS < INTENT_SETTLED_MS);
  assert.equal(intentAwaitsSettling(config(intentValue(at)), now), false, 'this process’s own earlier pass is over: it may create');
  assert.equal(intentIsStale(config(intentValue(at)), now), false);
  assert.equal(intentIsStale(config(intentValue(at)), new Date(Date.parse(at) + INTENT_SETTLED_MS)), true);
  assert.equal(intentIsStale(config(undefined), now), false);
  assert.equal(intentIsStale(config('garbage'), now), false);
});
