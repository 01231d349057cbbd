// How the operator reads `latest` for a config: the mirror's credentials from its Secret (read only when a lookup
// starts, their digest part of the source), a plain-http mirror refused, and a `latest/VERSION` older than what
// the fleet runs never written into a revision (issue 10, Medium 5 and 7).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latestRequest, latestSource } from '../../operator/versions/latest-request.ts';
import { guardLatest } from '../../operator/versions/latest-guard.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const agent = (mirror: string, extra: Record<string, unknown> = {}) => ({ version: 'latest', verify: 'Signature' as const, selfUpdate: false, existingInstall: 'Adopt' as const, source: { mirror, ...extra } });
const noProxy = async () => ({});

test('the mirror Secret is part of the source (by digest) and its credentials go into the request as Basic auth', async () => {
  const config = sampleConfig('m', { agent: agent('https://mirror.corp/ssm', { mirrorSecretRef: { name: 'mirror-creds' } }) });
  const a = latestSource(config, undefined, 'digest-1');
  const b = latestSource(config, undefined, 'digest-2');
  assert.notDeepEqual(a, b, 'a changed Secret is a new source: looked up again at once');
  assert.equal(JSON.stringify(a).includes('reader'), false);
  const read: string[] = [];
  const req = await latestRequest(a, noProxy, async (name) => (read.push(name), { username: 'reader', password: 'p@ss' }));
  assert.deepEqual(read, ['mirror-creds']);
  assert.equal(req.mirror, 'https://mirror.corp/ssm');
  assert.equal(req.authorization, `Basic ${Buffer.from('reader:p@ss').toString('base64')}`);
  await assert.rejects(
    latestRequest(a, noProxy, async () => ({ username: 'reader' })),
    /mirror-creds.*no password key/,
  );
  const without = await latestRequest(latestSource(sampleConfig('n', { agent: agent('https://mirror.corp/ssm') })), noProxy, async () => {
    throw new Error('not read without a mirrorSecretRef');
  });
  assert.equal(without.authorization, undefined);
});

test('a plain-http mirror is refused before the operator reads latest/VERSION from it', async () => {
  const source = latestSource(sampleConfig('h', { agent: agent('http://mirror.corp/ssm') }));
  await assert.rejects(latestRequest(source, noProxy), /https:\/\/.*agent\.sha256/);
});

test('a latest/VERSION older than what the fleet runs is not followed: the fleet stays, and the message says how to downgrade', () => {
  assert.deepEqual(guardLatest('3.3.2.0', '3.3.1.0'), { version: '3.3.2.0' });
  assert.deepEqual(guardLatest('3.3.1.0', '3.3.1.0'), { version: '3.3.1.0' });
  assert.deepEqual(guardLatest('3.3.1.0', undefined), { version: '3.3.1.0' });
  assert.deepEqual(guardLatest(undefined, '3.3.1.0'), { version: '3.3.1.0' });
  const back = guardLatest('3.2.9.0', '3.3.10.0');
  assert.equal(back.version, '3.3.10.0');
  assert.match(back.refused ?? '', /3\.2\.9\.0.*older than 3\.3\.10\.0.*pin spec\.agent\.version to 3\.2\.9\.0/);
});

test('a proxy Secret value is checked like the node agent checks it before the operator dials through it: a hostile value is a clear error naming the Secret and key, never the value', async () => {
  const config = sampleConfig('p', { agent: agent('https://mirror.corp/ssm'), proxy: { secretRef: { name: 'corp-proxy' }, noProxy: [] } });
  const source = latestSource(config, 'digest-1');
  const hostile = 'http://proxy.corp:3128\nExecStartPre=/bin/sh -c id';
  const err = await latestRequest(source, async () => ({ httpsProxy: hostile })).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(err, 'refused');
  assert.match(err.message, /Secret corp-proxy key httpsProxy.*control character/);
  assert.equal(err.message.includes('ExecStartPre'), false, 'the value is never repeated');
  await assert.rejects(latestRequest(source, async () => ({ httpProxy: 'ftp://proxy.corp' })), /Secret corp-proxy key httpProxy.*scheme ftp/);
  const ok = await latestRequest(source, async () => ({ httpsProxy: 'http://user:pw@proxy.corp:3128' }));
  assert.equal(ok.proxy?.httpsProxy, 'http://user:pw@proxy.corp:3128', 'credentials are what the Secret is for');
});

test('the mirror CA bundle is part of the source (by digest), read from its ConfigMap when a lookup starts, and checked before it is trusted', async () => {
  const { generateCa } = await import('../../operator/fleet/certificates.ts');
  const ca = (await generateCa({ commonName: 'mirror test CA' })).cert;
  const config = sampleConfig('c', { agent: agent('https://mirror.corp/ssm', { caBundle: { configMap: 'mirror-ca', key: 'ca.crt' } }) });
  const a = latestSource(config, undefined, undefined, 'digest-1');
  assert.notDeepEqual(a, latestSource(config, undefined, undefined, 'digest-2'), 'a changed bundle is a new source');
  const read: string[] = [];
  const req = await latestRequest(a, noProxy, undefined, async (name, key) => (read.push(`${name}/${key}`), `${ca}\n${ca}`));
  assert.deepEqual(read, ['mirror-ca/ca.crt']);
  assert.deepEqual(req.ca, [ca.trim(), ca.trim()]);
  for (const [content, words] of [
    [undefined, /ConfigMap mirror-ca, key ca\.crt.*does not exist/],
    ['garbage', /no PEM certificate/],
    ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', /does not parse/],
    [`-----BEGIN CERTIFICATE-----\n${'A'.repeat(1_100_000)}\n-----END CERTIFICATE-----`, /larger than/],
  ] as const) {
    await assert.rejects(latestRequest(a, noProxy, undefined, async () => content), words);
  }
  const plain = await latestRequest(latestSource(sampleConfig('p', { agent: agent('https://mirror.corp/ssm') })), noProxy, undefined, async () => {
    throw new Error('not read without a caBundle');
  });
  assert.equal(plain.ca, undefined);
});
