// The operator's `latest` cache: one lookup at a time, from the cache in between, looked up again when due or
// when the source changes, and a failure keeps the last answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TextFetcher } from '../../operator/api/latest-version.ts';
import { LatestVersions } from '../../operator/versions/latest-versions.ts';

function setup(answers: Array<string | Error>) {
  let now = 1_000_000;
  const calls: string[] = [];
  const changes: string[] = [];
  let release: () => void = () => undefined;
  const fetchText: TextFetcher = async (url) => {
    calls.push(url);
    await new Promise<void>((resolve) => (release = resolve));
    const a = answers.shift() ?? new Error('no more answers');
    return typeof a === 'string' ? { ok: true, text: `${a}\n`, url } : { ok: false, reason: 'Network', message: a.message, url };
  };
  const versions = new LatestVersions({ fetchText, intervalMs: 3_600_000, retryMs: 60_000, now: () => now, onChange: (c) => changes.push(c) });
  const request = async () => ({ region: 'us-east-1', mirror: 'https://mirror.example' });
  const flush = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  const settle = async () => {
    await flush();
    release();
    await flush();
  };
  return { versions, request, calls, changes, settle, flush, advance: (ms: number) => (now += ms) };
}

test('one lookup, answered from the cache until due; a new release is a change', async () => {
  const t = setup(['3.3.1.0', '3.3.2.0']);
  assert.deepEqual(t.versions.get('c', 'src', t.request).version, undefined);
  t.versions.get('c', 'src', t.request);
  await t.flush();
  assert.equal(t.calls.length, 1, 'no second lookup while one is in flight');
  assert.equal(t.calls[0], 'https://mirror.example/latest/VERSION');
  await t.settle();
  assert.deepEqual(t.changes, ['c']);
  const a = t.versions.get('c', 'src', t.request);
  assert.equal(a.version, '3.3.1.0');
  assert.ok(a.nextCheckInMs > 3_000_000, 'the next lookup is an interval away');
  t.advance(3_600_000);
  t.versions.get('c', 'src', t.request);
  await t.settle();
  assert.equal(t.versions.get('c', 'src', t.request).version, '3.3.2.0');
  assert.deepEqual(t.changes, ['c', 'c']);
});

test('a failed lookup keeps the last version, says why, and retries sooner', async () => {
  const t = setup(['3.3.1.0', new Error('proxy refused CONNECT')]);
  t.versions.get('c', 'src', t.request);
  await t.settle();
  t.advance(3_600_000);
  t.versions.get('c', 'src', t.request);
  await t.settle();
  const a = t.versions.get('c', 'src', t.request);
  assert.equal(a.version, '3.3.1.0');
  assert.match(a.error ?? '', /proxy refused CONNECT/);
  assert.ok(a.nextCheckInMs <= 60_000);
});

test('a changed source (mirror, proxy) is looked up again at once', async () => {
  const t = setup(['3.3.1.0', '3.3.9.0']);
  t.versions.get('c', 'src-a', t.request);
  await t.settle();
  t.versions.get('c', 'src-b', t.request);
  await t.flush();
  assert.equal(t.calls.length, 2);
  await t.settle();
  assert.equal(t.versions.get('c', 'src-b', t.request).version, '3.3.9.0');
});
