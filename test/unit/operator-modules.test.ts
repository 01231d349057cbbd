// What the operator loads at start, beside test/unit/node-agent-modules.test.ts: the package modules its static
// imports bring in (node-forge only when a certificate is made; undici's transport and fetch without the rest of the
// package), and operator/lib/undici-lean.ts against the installed undici.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as undici from 'undici';
import { Agent, EnvHttpProxyAgent, fetch } from '../../operator/lib/undici-lean.ts';
import { undiciTextFetcher } from '../../operator/versions/text-fetcher.ts';
import { loadedAtSettingsCheck } from '../harness/entry-modules.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const UNDICI = join(REPO, 'node_modules', 'undici');

/** The CommonJS files (every package the operator uses at start is CommonJS) loaded when the settings check refuses
 * (no POD_NAMESPACE: after every static import has loaded). */
const packageFilesAtSettingsCheck = (): string[] => loadedAtSettingsCheck('operator/main.ts', {}).packageFiles;

test('the operator loads undici’s transport and fetch but not the rest of undici, and no node-forge, at start', (t) => {
  const files = packageFilesAtSettingsCheck();
  const ofUndici = files.filter((f) => f.startsWith(`${UNDICI}/`)).map((f) => f.slice(UNDICI.length + 1));
  t.diagnostic(`${files.length} CommonJS files, ${ofUndici.length} of undici`);
  assert.ok(ofUndici.includes('lib/dispatcher/agent.js') && ofUndici.includes('lib/web/fetch/index.js'), `the list is the operator’s: ${ofUndici.join(', ')}`);
  const unwanted = ofUndici.filter((f) => f === 'index.js' || /^lib\/(mock|cache|interceptor|web\/(websocket|eventsource|cache|cookies))\//.test(f));
  assert.deepEqual(unwanted, [], 'undici’s index loads all of the package: import from operator/lib/undici-lean.ts');
  assert.deepEqual(
    files.filter((f) => f.includes('/node_modules/node-forge/')),
    [],
    'node-forge is for making certificates (operator/fleet/certificates.ts loads it then)',
  );
});

test('undici-lean exports the classes undici’s index exports, with the request API mixed in, and its fetch works', async () => {
  assert.equal(Agent, undici.Agent);
  assert.equal(EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
  // This process has loaded undici's index, which mixes the request API in too: ask a process that has not.
  const alone = spawnSync(process.execPath, ['--input-type=module', '-e', "const { Agent } = await import('./operator/lib/undici-lean.ts'); process.exit(typeof new Agent().request === 'function' ? 0 : 3);"], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.equal(alone.status, 0, `without undici's index, Agent has no request(): ${alone.stderr}`);
  const server = createServer((req, res) => res.end(`hello ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dispatcher = new Agent();
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const res = await fetch(`${url}/fetched`, { dispatcher });
    assert.equal(await res.text(), 'hello /fetched');
    const direct = await dispatcher.request({ origin: url, path: '/requested', method: 'GET' });
    assert.equal(await direct.body.text(), 'hello /requested');
  } finally {
    await dispatcher.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('the latest-version fetcher (undici-lean) reads a text directly and through its proxy', async () => {
  // One server plays both parts: a proxy gets the absolute URL in its request line.
  const server = createServer((req, res) => res.end(req.url?.startsWith('http://') ? `proxied ${req.url}` : `direct ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const opts = { maxBytes: 256, timeoutMs: 10_000, maxRedirects: 5 };
    assert.deepEqual(await undiciTextFetcher(`${origin}/latest/VERSION`, opts), { ok: true, text: 'direct /latest/VERSION', url: `${origin}/latest/VERSION` });
    const viaProxy = await undiciTextFetcher('http://mirror.invalid/latest/VERSION', { ...opts, proxy: { httpProxy: origin, noProxy: [] } });
    assert.deepEqual(viaProxy, { ok: true, text: 'proxied http://mirror.invalid/latest/VERSION', url: 'http://mirror.invalid/latest/VERSION' });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
