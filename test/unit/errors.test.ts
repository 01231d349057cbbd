// The one error style: a ReasonedError keeps the reason and the cause wherever it travels — thrown, or returned as
// the failed arm of a Result — and the node agent's modules hand back that type, cause included.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { errorMessage, ReasonedError, reasonOf, type Result } from '../../operator/lib/errors.ts';
import { readConfigFile } from '../../node-agent/agent/config-source.ts';
import { effectiveActivation, effectiveProxy } from '../../node-agent/config/effective.ts';
import { DownloadError } from '../../node-agent/package/download-error.ts';
import { downloadToFile } from '../../node-agent/package/download.ts';
import { fetchVerifiedPackage, FetchFailure } from '../../node-agent/package/fetch.ts';
import { verifyDetachedSignature } from '../../node-agent/package/verify.ts';
import { parsePublicKeys } from '../../node-agent/package/signing-keys.ts';
import { AWS_SSM_AGENT_SIGNING_KEYS } from '../../node-agent/package/aws-signing-keys.ts';
import { ProbeError } from '../../node-agent/probes/classify.ts';
import { runStep, StepError, type Step, type StepContext } from '../../node-agent/steps/step.ts';
import { parseCaBundle } from '../../operator/api/ca-bundle.ts';
import { mirrorCredentials } from '../../operator/api/mirror-policy.ts';
import { LatestVersionFailure, resolveLatestVersionWith } from '../../operator/api/latest-version.ts';

test('ReasonedError: reason, message and the standard cause; the failed arm of a Result', () => {
  const beneath = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  const err = new ReasonedError('DownloadFailed', 'the package: download failed', { cause: beneath });
  assert.equal(err.reason, 'DownloadFailed');
  assert.equal(err.message, 'the package: download failed');
  assert.equal(err.cause, beneath);
  assert.ok(err instanceof Error);
  assert.equal(errorMessage(err), 'the package: download failed: connect ECONNREFUSED 127.0.0.1:9');
  assert.equal(reasonOf(err, 'Error'), 'DownloadFailed');
  assert.equal(reasonOf(beneath, 'Error'), 'Error');
  const r: Result<{ value: number }> = err;
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.reason, 'DownloadFailed');
});

test('the node agent\'s error types are ReasonedErrors', () => {
  assert.ok(new StepError('InstallFailed', 'x') instanceof ReasonedError);
  assert.ok(new DownloadError('Timeout', 'x') instanceof ReasonedError);
  const probe = new ProbeError('tcp', 'ECONNREFUSED', 'TCP connect failed');
  assert.ok(probe instanceof ReasonedError);
  assert.equal(probe.code, 'ECONNREFUSED');
  assert.equal(probe.reason, 'ECONNREFUSED');
});

test('runStep reports a StepError\'s reason; the cause stays on the error', async () => {
  const beneath = new Error('dpkg: error processing archive');
  const step: Step = {
    name: 'install',
    check: async () => ({ needed: true, what: 'install 3.3.0.0' }),
    apply: async () => {
      throw new StepError('InstallFailed', 'dpkg -i exited 1', { cause: beneath });
    },
  };
  const outcome = await runStep(step, {} as StepContext);
  assert.deepEqual(outcome, { step: 'install', status: 'failed', reason: 'InstallFailed', message: 'dpkg -i exited 1' });
});

test('the effective configuration\'s failures are ReasonedErrors with the same reasons and messages', () => {
  const proxy = effectiveProxy({ noProxy: [], secretDir: '/x', secretName: 'corp-proxy' }, {});
  assert.ok(proxy instanceof ReasonedError);
  assert.equal(proxy.ok, false);
  if (!proxy.ok) {
    assert.equal(proxy.reason, 'ProxySecretInvalid');
    assert.match(proxy.message, /Secret corp-proxy has neither an httpsProxy nor an httpProxy/);
  }
  const activation = effectiveActivation({ mode: 'Hybrid', activationDir: '/a' } as Parameters<typeof effectiveActivation>[0], {});
  assert.ok(activation instanceof ReasonedError);
  assert.equal(activation.ok ? undefined : activation.reason, 'ActivationMissing');
});

test('readConfigFile: ConfigInvalid, the read error kept as the cause', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'errors-test-'));
  try {
    const missing = await readConfigFile(join(dir, 'config.json'));
    assert.equal(missing.ok, false);
    if (missing.ok) return;
    assert.equal(missing.reason, 'ConfigInvalid');
    assert.match(missing.message, /^cannot read .*config\.json: ENOENT/);
    assert.equal((missing.cause as NodeJS.ErrnoException).code, 'ENOENT');
    await writeFile(join(dir, 'bad.json'), '{');
    const bad = await readConfigFile(join(dir, 'bad.json'));
    assert.equal(bad.ok ? undefined : bad.reason, 'ConfigInvalid');
    assert.match(bad.ok ? '' : bad.message, /bad\.json is invalid: not JSON: /);
    const parsed = bad.ok ? undefined : bad.cause;
    assert.ok(parsed instanceof ReasonedError && parsed.reason === 'ConfigInvalid', 'the parser\'s answer is the cause');
    assert.ok(parsed.cause instanceof SyntaxError, 'and JSON.parse\'s error beneath it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('downloads, fetches and signature checks return ReasonedErrors with their causes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'errors-test-'));
  try {
    const invalid = await downloadToFile('not a url', join(dir, 'f'), { maxBytes: 10, timeoutMs: 1000 });
    assert.ok(invalid instanceof DownloadError);
    assert.equal(invalid.ok, false);
    if (!invalid.ok) {
      assert.equal(invalid.reason, 'InvalidUrl');
      assert.equal(invalid.url, '<invalid URL>');
      assert.equal(invalid.cause, undefined, 'the URL parser\'s error holds the URL as given: it is not kept');
    }

    const fetched = await fetchVerifiedPackage({ region: 'us-east-1', version: '3.3.0.0', format: 'deb', arch: 'amd64', verify: 'Checksum', sha256: 'nope', workDir: dir });
    assert.ok(fetched instanceof FetchFailure);
    assert.equal(fetched.ok ? undefined : fetched.reason, 'InvalidRequest');

    await writeFile(join(dir, 'pkg'), 'bytes');
    await writeFile(join(dir, 'pkg.sig'), 'not a signature');
    const keys = await parsePublicKeys(AWS_SSM_AGENT_SIGNING_KEYS[0]?.armored ?? '');
    const check = await verifyDetachedSignature(join(dir, 'pkg'), join(dir, 'pkg.sig'), keys);
    assert.equal(check.ok, false);
    if (!check.ok) {
      assert.ok(check instanceof ReasonedError);
      assert.equal(check.reason, 'SignatureInvalid');
      assert.match(check.message, /^unreadable signature: /);
      assert.ok(check.cause instanceof Error, 'openpgp\'s error is the cause');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the contracts floor answers with ReasonedErrors: CA bundle, mirror credentials, latest/VERSION', async () => {
  const bundle = parseCaBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'ConfigMap mirror-ca, key ca.crt');
  assert.ok(bundle instanceof ReasonedError);
  assert.equal(bundle.ok ? undefined : bundle.reason, 'MirrorCaInvalid');
  assert.ok(!bundle.ok && bundle.cause instanceof Error, 'the X.509 parser\'s error is the cause');

  const creds = mirrorCredentials('reader', '', 'mirror-creds');
  assert.equal(creds.ok ? undefined : creds.reason, 'MirrorSecretInvalid');

  const fetchFailure = new DownloadError('Timeout', 'GET https://mirror.example/latest/VERSION: not finished within 30000 ms', { url: 'https://mirror.example/latest/VERSION' });
  const latest = await resolveLatestVersionWith(async () => fetchFailure as DownloadError & { url: string }, { region: 'us-east-1', mirror: 'https://mirror.example' });
  assert.ok(latest instanceof LatestVersionFailure);
  if (!latest.ok) {
    assert.equal(latest.reason, 'Timeout');
    assert.equal(latest.message, 'cannot read the latest agent version: GET https://mirror.example/latest/VERSION: not finished within 30000 ms');
    assert.equal(latest.url, 'https://mirror.example/latest/VERSION');
    assert.equal(latest.cause, fetchFailure);
  }
});
