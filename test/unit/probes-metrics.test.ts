import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { registerProbeMetrics } from '../../node-agent/probes/probe-metrics.ts';
import type { ProbeResult } from '../../node-agent/probes/types.ts';

const PROMTOOL = '/usr/bin/promtool';
const at = new Date('2026-01-02T03:04:05.000Z');

const ok = (endpoint: ProbeResult['endpoint'], host: string, via: ProbeResult['via']): ProbeResult => ({
  endpoint,
  host,
  via,
  ok: true,
  phases: { dns: 0.002, tcp: 0.01, tls: 0.03, http: 0.02 },
  httpStatus: 404,
  at,
});

const failed = (endpoint: ProbeResult['endpoint'], host: string, reason: ProbeResult['reason'], phases: ProbeResult['phases'] = {}): ProbeResult => ({
  endpoint,
  host,
  via: 'direct',
  ok: false,
  reason,
  message: 'x',
  phases,
  at,
});

function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('up, durations, failures and last success follow the results', async () => {
  const registry = new Registry();
  const m = registerProbeMetrics(registry);
  m.update([
    ok('ssm', 'ssm.us-east-1.amazonaws.com', 'proxy'),
    failed('ec2messages', 'ec2messages.us-east-1.amazonaws.com', 'tls_untrusted', { dns: 0.001, tcp: 0.004 }),
    failed('ssmmessages', 'ssmmessages.us-east-1.amazonaws.com', 'dns'),
    ok('s3', 's3.us-east-1.amazonaws.com', 'direct'),
  ]);
  const text = await registry.metrics();
  assert.deepEqual(lines(text, 'ssm_endpoint_up'), [
    'ssm_endpoint_up{endpoint="ssm",host="ssm.us-east-1.amazonaws.com",via="proxy"} 1',
    'ssm_endpoint_up{endpoint="ec2messages",host="ec2messages.us-east-1.amazonaws.com",via="direct"} 0',
    'ssm_endpoint_up{endpoint="ssmmessages",host="ssmmessages.us-east-1.amazonaws.com",via="direct"} 0',
    'ssm_endpoint_up{endpoint="s3",host="s3.us-east-1.amazonaws.com",via="direct"} 1',
  ]);
  assert.match(text, /ssm_endpoint_probe_failures_total\{endpoint="ec2messages",reason="tls_untrusted"\} 1\n/);
  assert.match(text, /ssm_endpoint_probe_failures_total\{endpoint="ssmmessages",reason="dns"\} 1\n/);
  // every endpoint × reason exists from the start, at 0
  assert.equal(lines(text, 'ssm_endpoint_probe_failures_total').length, 4 * 7);
  assert.match(text, /ssm_endpoint_probe_failures_total\{endpoint="ssm",reason="proxy"\} 0\n/);
  assert.match(text, /ssm_endpoint_probe_duration_seconds_count\{endpoint="ssm",phase="tls"\} 1\n/);
  assert.match(text, /ssm_endpoint_probe_duration_seconds_count\{endpoint="ec2messages",phase="tcp"\} 1\n/);
  assert.doesNotMatch(text, /ssm_endpoint_probe_duration_seconds_count\{endpoint="ec2messages",phase="tls"\}/, 'failed phases are not observed');
  assert.deepEqual(lines(text, 'ssm_endpoint_last_success_timestamp_seconds'), [
    `ssm_endpoint_last_success_timestamp_seconds{endpoint="ssm"} ${at.getTime() / 1000}`,
    `ssm_endpoint_last_success_timestamp_seconds{endpoint="s3"} ${at.getTime() / 1000}`,
  ]);
});

test('a changed host or via removes the stale ssm_endpoint_up series; last success survives failures', async () => {
  const registry = new Registry();
  const m = registerProbeMetrics(registry);
  m.update([ok('ssm', 'ssm.us-east-1.amazonaws.com', 'proxy')]);
  m.update([ok('ssm', 'ssm.us-east-1.amazonaws.com', 'direct')]);
  let up = lines(await registry.metrics(), 'ssm_endpoint_up');
  assert.deepEqual(up, ['ssm_endpoint_up{endpoint="ssm",host="ssm.us-east-1.amazonaws.com",via="direct"} 1']);
  m.update([failed('ssm', 'vpce-1.ssm.us-east-1.vpce.amazonaws.com', 'tcp_timeout')]);
  const text = await registry.metrics();
  up = lines(text, 'ssm_endpoint_up');
  assert.deepEqual(up, ['ssm_endpoint_up{endpoint="ssm",host="vpce-1.ssm.us-east-1.vpce.amazonaws.com",via="direct"} 0']);
  assert.equal(lines(text, 'ssm_endpoint_last_success_timestamp_seconds').length, 1);
});

test('promtool check metrics is clean', async () => {
  const registry = new Registry();
  const m = registerProbeMetrics(registry);
  m.update([ok('ssm', 'ssm.us-east-1.amazonaws.com', 'proxy'), failed('s3', 's3.us-east-1.amazonaws.com', 'http', { dns: 0.001, tcp: 0.002, tls: 0.01 })]);
  const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: await registry.metrics(), encoding: 'utf8', timeout: 30_000 });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.equal(`${check.stdout}${check.stderr}`.trim(), '');
});
