// The effective configuration holds the pass's secrets (the activation code, the mirror's Authorization, proxy
// URLs with passwords): however it is printed — a log line, JSON, util.inspect — none of them shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseNodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { effectiveConfig } from '../../node-agent/config/effective.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const CODE = 'SECRET-activation-code-42';
const PROXY_PASSWORD = 'pr0xy-Pa55';
const MIRROR_PASSWORD = 'm1rror-Pa55';

function effective() {
  const spec = sampleConfig('c', {
    agent: { version: '3.3.1142.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt', sha256: 'a'.repeat(64), source: { mirror: 'https://mirror.corp/ssm', mirrorSecretRef: { name: 'mirror-creds' } } },
    proxy: { secretRef: { name: 'corp-proxy' }, noProxy: [] },
    registration: { mode: 'Hybrid', deregisterOnNodeDelete: true, activation: { secretRef: { name: 'act' } } },
  });
  const parsed = parseNodeAgentConfig(JSON.stringify(renderNodeAgentConfig(spec)));
  assert.ok(parsed.ok);
  return effectiveConfig(parsed.config, {
    proxy: { httpsProxy: `http://user:${PROXY_PASSWORD}@proxy.corp:3128` },
    mirror: { username: 'mirror-user', password: MIRROR_PASSWORD },
    activation: { activationId: '11111111-2222-3333-4444-555555555555', activationCode: CODE },
  });
}

function assertNoSecret(text: string, how: string): void {
  for (const s of [CODE, PROXY_PASSWORD, MIRROR_PASSWORD, Buffer.from(`mirror-user:${MIRROR_PASSWORD}`).toString('base64')]) {
    assert.ok(!text.includes(s), `${how} shows a secret: ${text.slice(0, 400)}`);
  }
}

test('the effective configuration prints without its secrets: JSON, util.inspect, a pino log line', () => {
  const e = effective();
  assert.ok(e.activation.ok && e.activation.code === CODE && e.mirror.ok && e.mirror.authorization, 'the values themselves are there for the steps');
  assert.ok(e.proxy.ok && e.proxy.proxy.httpsProxy?.includes(PROXY_PASSWORD));
  const json = JSON.stringify(e);
  assertNoSecret(json, 'JSON.stringify');
  assert.match(json, /proxy\.corp:3128/, 'what is not secret still shows');
  assert.match(json, /11111111-2222-3333-4444-555555555555/, 'the activation id still shows');
  assertNoSecret(inspect(e, { depth: 10 }), 'util.inspect');
  let logged = '';
  const log = pino({}, new Writable({ write: (chunk: Buffer, _enc, done) => { logged += chunk.toString(); done(); } }));
  log.info({ effective: e }, 'pass');
  assertNoSecret(logged, 'pino');
  assert.match(logged, /proxy\.corp/);
});
