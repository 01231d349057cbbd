import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readKey } from 'openpgp';
import { AWS_SSM_AGENT_SIGNING_KEYS } from '../../node-agent/package/aws-signing-keys.ts';
import { redactUrl } from '../../operator/api/redact-url.ts';
import { embeddedSigningKeys, parsePublicKeys } from '../../node-agent/package/signing-keys.ts';
import { bucketBaseUrl, packageUrls, platformDir } from '../../operator/api/package-urls.ts';
import { normalizeSha256 } from '../../node-agent/package/verify.ts';
import { compareVersions, isVersion, parseVersion } from '../../operator/api/agent-version.ts';

test('package URLs: regional bucket, latest, every platform', () => {
  assert.deepEqual(packageUrls({ region: 'us-east-1', version: 'latest', format: 'deb', arch: 'amd64' }), {
    package: 'https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb',
    signature: 'https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb.sig',
    versionFile: 'https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/VERSION',
  });
  assert.equal(platformDir('deb', 'arm64'), 'debian_arm64');
  assert.equal(platformDir('rpm', 'amd64'), 'linux_amd64');
  assert.equal(
    packageUrls({ region: 'eu-west-1', version: 'latest', format: 'rpm', arch: 'arm64' }).package,
    'https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/latest/linux_arm64/amazon-ssm-agent.rpm',
  );
});

test('package URLs: pinned versions use the version as the path segment and have no version file', () => {
  const urls = packageUrls({ region: 'ap-southeast-2', version: '3.3.1142.0', format: 'rpm', arch: 'amd64' });
  assert.equal(urls.package, 'https://s3.ap-southeast-2.amazonaws.com/amazon-ssm-ap-southeast-2/3.3.1142.0/linux_amd64/amazon-ssm-agent.rpm');
  assert.equal(urls.signature, `${urls.package}.sig`);
  assert.equal(urls.versionFile, undefined);
  assert.equal(packageUrls({ region: 'us-east-1', version: ' 3.3.1142.0\n', format: 'deb', arch: 'arm64' }).package.includes('/3.3.1142.0/debian_arm64/'), true);
});

test('package URLs: China and GovCloud partitions', () => {
  assert.deepEqual(packageUrls({ region: 'cn-north-1', version: 'latest', format: 'deb', arch: 'arm64' }), {
    package: 'https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/latest/debian_arm64/amazon-ssm-agent.deb',
    signature: 'https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/latest/debian_arm64/amazon-ssm-agent.deb.sig',
    versionFile: 'https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/latest/VERSION',
  });
  assert.equal(bucketBaseUrl('cn-northwest-1'), 'https://s3.cn-northwest-1.amazonaws.com.cn/amazon-ssm-cn-northwest-1');
  assert.equal(
    packageUrls({ region: 'us-gov-west-1', version: '3.3.1142.0', format: 'rpm', arch: 'arm64' }).package,
    'https://s3.us-gov-west-1.amazonaws.com/amazon-ssm-us-gov-west-1/3.3.1142.0/linux_arm64/amazon-ssm-agent.rpm',
  );
  assert.equal(bucketBaseUrl('us-gov-east-1'), 'https://s3.us-gov-east-1.amazonaws.com/amazon-ssm-us-gov-east-1');
});

test('package URLs: an S3 host override (endpoints.s3) keeps the bucket path', () => {
  assert.equal(
    packageUrls({ region: 'us-east-1', version: 'latest', format: 'deb', arch: 'amd64', s3Host: 's3-fips.us-east-1.amazonaws.com' }).package,
    'https://s3-fips.us-east-1.amazonaws.com/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb',
  );
  assert.throws(() => bucketBaseUrl('us-east-1', 'evil.example/x?'), /invalid S3 host/);
});

test('package URLs: a mirror keeps the bucket layout below its base URL', () => {
  for (const mirror of ['https://mirror.example.internal/ssm', 'https://mirror.example.internal/ssm/', 'https://mirror.example.internal/ssm//']) {
    assert.deepEqual(packageUrls({ region: 'us-east-1', version: 'latest', mirror, format: 'deb', arch: 'amd64' }), {
      package: 'https://mirror.example.internal/ssm/latest/debian_amd64/amazon-ssm-agent.deb',
      signature: 'https://mirror.example.internal/ssm/latest/debian_amd64/amazon-ssm-agent.deb.sig',
      versionFile: 'https://mirror.example.internal/ssm/latest/VERSION',
    });
  }
  assert.equal(
    packageUrls({ region: 'cn-north-1', version: '3.3.1142.0', mirror: 'http://10.0.0.5:8080', format: 'rpm', arch: 'arm64' }).package,
    'http://10.0.0.5:8080/3.3.1142.0/linux_arm64/amazon-ssm-agent.rpm',
  );
  // Credentials stay in the URL (the downloader sends them as Basic auth); messages redact them.
  assert.equal(
    packageUrls({ region: 'us-east-1', version: 'latest', mirror: 'https://u:p@m.example/a', format: 'deb', arch: 'amd64' }).package,
    'https://u:p@m.example/a/latest/debian_amd64/amazon-ssm-agent.deb',
  );
  assert.throws(() => packageUrls({ region: 'us-east-1', version: 'latest', mirror: 'ftp://m.example/', format: 'deb', arch: 'amd64' }), /must be http\(s\)/);
  assert.throws(() => packageUrls({ region: 'us-east-1', version: 'latest', mirror: 'https://m.example/?token=x', format: 'deb', arch: 'amd64' }), /query/);
  assert.throws(() => packageUrls({ region: 'us-east-1', version: 'latest', mirror: 'not a url', format: 'deb', arch: 'amd64' }), /not a valid URL/);
});

test('package URLs: bad versions and regions are refused', () => {
  for (const version of ['3.3', 'v3.3.1142.0', '3.3.1142.0.1', '3.3.x.0', 'LATEST', '', '../3.3.1.0']) {
    assert.throws(() => packageUrls({ region: 'us-east-1', version, format: 'deb', arch: 'amd64' }), /invalid agent version/, version);
  }
  for (const region of ['', 'US-EAST-1', 'us-east', 'us-east-1/../x']) {
    assert.throws(() => packageUrls({ region, version: 'latest', format: 'deb', arch: 'amd64' }), /invalid region/, region);
  }
});

test('versions: parse and compare 4-part numbers numerically', () => {
  assert.deepEqual(parseVersion('3.3.1142.0'), [3, 3, 1142, 0]);
  assert.deepEqual(parseVersion(' 3.3.1142.0\n'), [3, 3, 1142, 0]);
  for (const bad of ['3.3.1142', '3.3.1142.0.0', 'a.b.c.d', '3.3.-1.0', '3.3.1142.0-1', '']) assert.equal(parseVersion(bad), undefined, bad);
  assert.equal(isVersion('latest'), false);
  assert.ok(compareVersions('3.3.10.0', '3.3.9.0') > 0);
  assert.ok(compareVersions('3.2.2303.0', '3.3.40.0') < 0);
  assert.ok(compareVersions('3.3.1142.1', '3.3.1142.0') > 0);
  assert.equal(compareVersions('3.3.1142.0', [3, 3, 1142, 0]), 0);
  assert.throws(() => compareVersions('latest', '3.3.1142.0'), /not a 4-part/);
});

test('URLs in messages: no credentials, no query', () => {
  assert.equal(redactUrl('https://user:secret@m.example/a/b.deb'), 'https://m.example/a/b.deb');
  assert.equal(redactUrl('https://m.example/a?X-Amz-Signature=abc'), 'https://m.example/a?<redacted>');
  assert.equal(redactUrl('::'), '<invalid URL>');
});

test('checksums: 64 hex digits, sha256: prefix and case tolerated', () => {
  const hex = 'ab'.repeat(32);
  assert.equal(normalizeSha256(hex.toUpperCase()), hex);
  assert.equal(normalizeSha256(`sha256:${hex}`), hex);
  assert.equal(normalizeSha256('abc'), undefined);
});

test('embedded AWS signing keys: parse, match their recorded fingerprints and validity', async () => {
  const embedded = await embeddedSigningKeys();
  assert.deepEqual(embedded.fingerprints, AWS_SSM_AGENT_SIGNING_KEYS.map((k) => k.fingerprint));
  assert.ok(embedded.fingerprints.includes('1C5B395CBE5E74E2F1CA21592784DBF388D19D46'));
  for (const meta of AWS_SSM_AGENT_SIGNING_KEYS) {
    const key = await readKey({ armoredKey: meta.armored });
    assert.equal(key.getCreationTime().toISOString().slice(0, 10), meta.created, meta.name);
    const expires = await key.getExpirationTime();
    assert.ok(expires instanceof Date, meta.name);
    assert.equal(expires.toISOString().slice(0, 10), meta.expires, meta.name);
    assert.equal(key.getUserIDs()[0], 'SSM Agent <ssm-agent-signer@amazon.com>');
    // Usable for signing during its lifetime.
    await key.getSigningKey(undefined, new Date(key.getCreationTime().getTime() + 86_400_000));
  }
  // Several armored blocks in one text are all read.
  const all = await parsePublicKeys(AWS_SSM_AGENT_SIGNING_KEYS.map((k) => k.armored).join('\n'));
  assert.equal(all.length, AWS_SSM_AGENT_SIGNING_KEYS.length);
  await assert.rejects(parsePublicKeys('hello'), /no OpenPGP public key/);
});
