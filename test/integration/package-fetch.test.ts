// Downloading and verifying the agent package against real things on loopback: a Node HTTP server and an HTTPS
// server (self-signed certificate, test/servers/test-ca.ts) serving the bucket layout, signatures made by real GnuPG keys
// (throwaway keys in a temporary GNUPGHOME), and a real tinyproxy for the proxy cases.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { PublicKey } from 'openpgp';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { resolveEffectiveConfig } from '../../node-agent/config/mounted-secrets.ts';
import { createAgentPackages } from '../../node-agent/package/agent-packages.ts';
import { downloadToFile } from '../../node-agent/package/download.ts';
import { fetchVerifiedPackage, type FetchPackageRequest, type FetchPackageResult } from '../../node-agent/package/fetch.ts';
import { resolveLatestVersion } from '../../node-agent/package/latest-version.ts';
import { parsePublicKeys, SIGNING_KEY_FILE_ENV } from '../../node-agent/package/signing-keys.ts';
import { sampleConfig } from '../fixtures/configs.ts';
import { selfSignedCert } from '../servers/test-ca.ts';
import { closedPort } from '../servers/tls-servers.ts';
import { startTinyproxy, type Tinyproxy } from '../servers/tinyproxy.ts';

const run = promisify(execFile);
const VERSION = '3.3.1142.0';
const OLD_VERSION = '3.2.582.0';
const DEB = `${VERSION}/debian_amd64/amazon-ssm-agent.deb`;

let work: string;
let gnupgHome: string;
let goodKeys: PublicKey[];
let otherKeys: PublicKey[];
let goodKeyFile: string;
let goodFingerprint: string;
let pkg: Buffer;
let pkgSha: string;
const files = new Map<string, Buffer>();
const requests: { path: string; authorization?: string }[] = [];
const PRIVATE_USER = 'mirror-reader';
const PRIVATE_PASSWORD = 'p@ss: wörd';
const PRIVATE_AUTH = `Basic ${Buffer.from(`${PRIVATE_USER}:${PRIVATE_PASSWORD}`, 'utf8').toString('base64')}`;
let httpServer: Server;
let httpsServer: Server;
let httpBase: string;
let httpsHost: string;
let cert: string;
let proxy: Tinyproxy;

async function gpg(args: string[], input?: string): Promise<string> {
  const child = execFile('gpg', ['--batch', '--no-tty', '--quiet', ...args], { env: { ...process.env, GNUPGHOME: gnupgHome } });
  if (input !== undefined) child.stdin?.end(input);
  else child.stdin?.end();
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`gpg ${args.join(' ')}: exit ${code}: ${err}`);
  return out;
}

async function makeKey(uid: string, extra: string[] = []): Promise<string> {
  await gpg([...extra, '--passphrase', '', '--quick-gen-key', uid, 'rsa2048', 'sign', '2d']);
  const colons = await gpg(['--with-colons', '--fingerprint', uid]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1];
  assert.ok(fpr, `fingerprint of ${uid}`);
  return fpr;
}

async function sign(fpr: string, data: Buffer, extra: string[] = []): Promise<Buffer> {
  const dataFile = join(work, `tosign-${randomBytes(4).toString('hex')}`);
  await writeFile(dataFile, data);
  // Binary detached signature, like AWS's `.sig` files.
  await gpg([...extra, '--local-user', fpr, '--detach-sign', '--output', `${dataFile}.sig`, dataFile]);
  return readFile(`${dataFile}.sig`);
}

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  requests.push({ path, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
  if (path === '/stall/file.deb') {
    res.writeHead(200, { 'Content-Length': '1000' });
    res.write('x'.repeat(10)); // then nothing: the idle timeout must fire
    return;
  }
  if (path === '/short/file.deb') {
    res.writeHead(200, { 'Content-Length': '1000' });
    res.end('x'.repeat(10)); // fewer bytes than announced, then the connection closes
    return;
  }
  if (path.startsWith('/redirect/')) {
    res.writeHead(302, { Location: `/mirror/${path.slice('/redirect/'.length)}` }).end();
    return;
  }
  // A mirror behind HTTP basic authentication (a password with a space, a colon and non-ASCII).
  if (path.startsWith('/private/')) {
    if (req.headers.authorization !== PRIVATE_AUTH) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="mirror"' }).end('unauthorized\n');
      return;
    }
    const body = files.get(`/mirror/${path.slice('/private/'.length)}`);
    if (!body) res.writeHead(404).end();
    else res.writeHead(200, { 'Content-Length': body.length }).end(body);
    return;
  }
  if (path.startsWith('/loop/')) {
    res.writeHead(301, { Location: path }).end();
    return;
  }
  const body = files.get(path);
  if (!body) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }).end(body);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function freshWorkDir(): Promise<string> {
  return mkdtemp(join(work, 'workdir-'));
}

async function assertEmpty(dir: string): Promise<void> {
  assert.deepEqual(await readdir(dir), [], `nothing may be left in ${dir}`);
}

function base(over: Partial<FetchPackageRequest>): FetchPackageRequest {
  return { region: 'us-east-1', version: VERSION, mirror: `${httpBase}/mirror`, format: 'deb', arch: 'amd64', verify: 'Signature', signingKeys: goodKeys, ...over };
}

function expectFailure(r: FetchPackageResult): Extract<FetchPackageResult, { ok: false }> {
  assert.equal(r.ok, false, r.ok ? `unexpected success: ${r.url}` : '');
  return r as Extract<FetchPackageResult, { ok: false }>;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'package-fetch-test-'));
  gnupgHome = join(work, 'gnupg');
  await mkdir(gnupgHome, { mode: 0o700 });

  goodFingerprint = await makeKey('Test Package Signer <signer@example.test>');
  const otherFingerprint = await makeKey('Someone Else <other@example.test>');
  goodKeyFile = join(work, 'good.asc');
  await writeFile(goodKeyFile, await gpg(['--armor', '--export', goodFingerprint]));
  goodKeys = await parsePublicKeys(await readFile(goodKeyFile, 'utf8'));
  otherKeys = await parsePublicKeys(await gpg(['--armor', '--export', otherFingerprint]));

  pkg = randomBytes(1024 * 1024 + 17);
  pkgSha = createHash('sha256').update(pkg).digest('hex');
  const goodSig = await sign(goodFingerprint, pkg);
  const m = '/mirror';
  files.set(`${m}/${DEB}`, pkg);
  files.set(`${m}/${DEB}.sig`, goodSig);
  files.set(`${m}/latest/VERSION`, Buffer.from(`${VERSION}\n`));
  files.set(`${m}/latest/debian_amd64/amazon-ssm-agent.deb`, pkg);
  files.set(`${m}/latest/debian_amd64/amazon-ssm-agent.deb.sig`, goodSig);
  // The same signature over different bytes (a corrupted or tampered package).
  const tampered = Buffer.from(pkg);
  tampered[4096] = (tampered[4096] as number) ^ 0xff;
  files.set(`/tampered/${DEB}`, tampered);
  files.set(`/tampered/${DEB}.sig`, goodSig);
  // Signed by a key nobody trusts.
  files.set(`/othersig/${DEB}`, pkg);
  files.set(`/othersig/${DEB}.sig`, await sign(otherFingerprint, pkg));
  // A package without its signature.
  files.set(`/nosig/${DEB}`, pkg);
  // The regional bucket layout on the HTTPS server (s3Host override).
  files.set(`/amazon-ssm-us-east-1/${DEB}`, pkg);
  files.set(`/amazon-ssm-us-east-1/${DEB}.sig`, goodSig);
  files.set('/amazon-ssm-us-east-1/latest/VERSION', Buffer.from('3.3.9999.0\n'));

  // A key that expired since: created 10 days ago, valid 2 days, signature made on day 1 (GnuPG's faked time).
  const t0 = Math.floor(Date.now() / 1000) - 10 * 86_400;
  const expiredFpr = await makeKey('Expired Signer <expired@example.test>', ['--faked-system-time', `${t0}!`]);
  const oldPkg = randomBytes(4096);
  files.set(`/expired/${OLD_VERSION}/debian_amd64/amazon-ssm-agent.deb`, oldPkg);
  files.set(`/expired/${OLD_VERSION}/debian_amd64/amazon-ssm-agent.deb.sig`, await sign(expiredFpr, oldPkg, ['--faked-system-time', `${t0 + 86_400}!`]));
  await writeFile(join(work, 'expired.asc'), await gpg(['--armor', '--export', expiredFpr]));

  // A self-signed certificate for 127.0.0.1 (the HTTPS server stands in for s3.{region}.amazonaws.com).
  const tls = selfSignedCert(join(work, 'tls'), { name: 'tls', commonName: '127.0.0.1', ips: ['127.0.0.1'] });
  cert = tls.cert;

  httpServer = createHttpServer(serve);
  httpBase = `http://127.0.0.1:${await listen(httpServer)}`;
  httpsServer = createHttpsServer({ key: tls.key, cert }, serve);
  const httpsPort = await listen(httpsServer);
  httpsHost = `127.0.0.1:${httpsPort}`;
  // CONNECT may reach the HTTPS server's port; the http mirror is reached with absolute-form GETs.
  proxy = await startTinyproxy({ dir: work, connectPorts: [httpsPort] });
});

after(async () => {
  await proxy?.stop();
  httpServer?.closeAllConnections();
  httpsServer?.closeAllConnections();
  await new Promise((r) => httpServer?.close(r));
  await new Promise((r) => httpsServer?.close(r));
  await run('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: gnupgHome } }).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('fetchVerifiedPackage', () => {
  test('good package + good signature → ok, the verified file in a private directory, cleanup removes it', async () => {
    const workDir = await freshWorkDir();
    const r = await fetchVerifiedPackage(base({ workDir }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.verifiedBy, 'Signature');
    assert.equal(r.signer?.fingerprint, goodFingerprint);
    assert.equal(r.version, VERSION);
    assert.equal(r.sha256, pkgSha);
    assert.equal(r.bytes, pkg.length);
    assert.equal(r.url, `${httpBase}/mirror/${DEB}`);
    assert.deepEqual(await readFile(r.path), pkg);
    assert.ok(r.path.startsWith(workDir));
    assert.deepEqual(r.warnings, []);
    await r.cleanup();
    await assertEmpty(workDir);
  });

  test('latest: reads latest/VERSION and downloads from latest/', async () => {
    const workDir = await freshWorkDir();
    const r = await fetchVerifiedPackage(base({ workDir, version: 'latest' }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.version, VERSION);
    assert.equal(r.url, `${httpBase}/mirror/latest/debian_amd64/amazon-ssm-agent.deb`);
    await r.cleanup();
    const latest = await resolveLatestVersion({ region: 'us-east-1', mirror: `${httpBase}/mirror` });
    assert.deepEqual(latest, { ok: true, version: VERSION, url: `${httpBase}/mirror/latest/VERSION` });
  });

  test('corrupted package → SignatureInvalid, nothing left behind', async () => {
    const workDir = await freshWorkDir();
    const f = expectFailure(await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/tampered` })));
    assert.equal(f.reason, 'SignatureInvalid');
    assert.match(f.message, /does not verify/);
    assert.match(f.message, new RegExp(`${httpBase}/tampered/${DEB.replaceAll('.', '\\.')}`));
    await assertEmpty(workDir);
  });

  test('signature by another key → SignatureInvalid (the signer is named), nothing left behind', async () => {
    const workDir = await freshWorkDir();
    const f = expectFailure(await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/othersig` })));
    assert.equal(f.reason, 'SignatureInvalid');
    assert.match(f.message, /not a trusted signing key/);
    await assertEmpty(workDir);
    // The other key's own signature is fine when that key is the trusted one: it is the key that decides.
    const r = await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/othersig`, signingKeys: otherKeys }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    await r.cleanup();
  });

  test('the default keys are AWS\'s: a package signed by a test key does not pass', async () => {
    const workDir = await freshWorkDir();
    const f = expectFailure(await fetchVerifiedPackage({ ...base({ workDir }), signingKeys: undefined, env: {} }));
    assert.equal(f.reason, 'SignatureInvalid');
    assert.match(f.message, /1C5B395CBE5E74E2F1CA21592784DBF388D19D46|2784DBF388D19D46/);
    await assertEmpty(workDir);
  });

  test('SSM_AGENT_SIGNING_KEY_FILE replaces the embedded keys; an unreadable one fails before downloading', async () => {
    const workDir = await freshWorkDir();
    const r = await fetchVerifiedPackage({ ...base({ workDir }), signingKeys: undefined, env: { [SIGNING_KEY_FILE_ENV]: goodKeyFile } });
    assert.ok(r.ok, r.ok ? '' : r.message);
    await r.cleanup();
    const before = requests.length;
    const f = expectFailure(await fetchVerifiedPackage({ ...base({ workDir }), signingKeys: undefined, env: { [SIGNING_KEY_FILE_ENV]: join(work, 'missing.asc') } }));
    assert.equal(f.reason, 'SigningKeyUnavailable');
    assert.match(f.message, /SSM_AGENT_SIGNING_KEY_FILE=.*missing\.asc/);
    assert.equal(requests.length, before, 'nothing downloaded');
    await assertEmpty(workDir);
  });

  test('a signature made while its key was valid still verifies after the key expired', async () => {
    const workDir = await freshWorkDir();
    const keys = await parsePublicKeys(await readFile(join(work, 'expired.asc'), 'utf8'));
    const r = await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/expired`, version: OLD_VERSION, signingKeys: keys }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.ok(r.signer?.signedAt && r.signer.signedAt.getTime() < Date.now() - 8 * 86_400_000);
    await r.cleanup();
  });

  test('404 → NotFound naming the URL; a missing signature → NotFound with a hint; nothing left behind', async () => {
    const workDir = await freshWorkDir();
    const f = expectFailure(await fetchVerifiedPackage(base({ workDir, version: '9.9.9.9' })));
    assert.equal(f.reason, 'NotFound');
    assert.equal(f.url, `${httpBase}/mirror/9.9.9.9/debian_amd64/amazon-ssm-agent.deb`);
    assert.match(f.message, /HTTP 404/);
    assert.match(f.message, /9\.9\.9\.9\/debian_amd64\/amazon-ssm-agent\.deb/);
    await assertEmpty(workDir);
    const g = expectFailure(await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/nosig` })));
    assert.equal(g.reason, 'NotFound');
    assert.match(g.message, /the signature/);
    assert.match(g.message, /\.sig/);
    await assertEmpty(workDir);
  });

  test('checksum: match → ok, mismatch → ChecksumMismatch and nothing left, missing → ChecksumMissing', async () => {
    const workDir = await freshWorkDir();
    const ok = await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/nosig`, verify: 'Checksum', sha256: `sha256:${pkgSha.toUpperCase()}` }));
    assert.ok(ok.ok, ok.ok ? '' : ok.message);
    assert.equal(ok.verifiedBy, 'Checksum');
    await ok.cleanup();
    const bad = expectFailure(await fetchVerifiedPackage(base({ workDir, verify: 'Checksum', sha256: '0'.repeat(64) })));
    assert.equal(bad.reason, 'ChecksumMismatch');
    assert.match(bad.message, new RegExp(`expected 0{64}, got ${pkgSha}`));
    await assertEmpty(workDir);
    const missing = expectFailure(await fetchVerifiedPackage(base({ workDir, verify: 'Checksum' })));
    assert.equal(missing.reason, 'ChecksumMissing');
    // A signature that verifies does not excuse a wrong configured checksum.
    const both = expectFailure(await fetchVerifiedPackage(base({ workDir, sha256: '1'.repeat(64) })));
    assert.equal(both.reason, 'ChecksumMismatch');
    await assertEmpty(workDir);
  });

  test('verify None → ok with a warning', async () => {
    const workDir = await freshWorkDir();
    const r = await fetchVerifiedPackage(base({ workDir, mirror: `${httpBase}/tampered`, verify: 'None' }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.verifiedBy, 'None');
    assert.match(r.warnings.join('\n'), /NOT verified/);
    await r.cleanup();
  });

  test('https regional-bucket layout through tinyproxy (CONNECT): works, and the proxy saw it', async () => {
    const workDir = await freshWorkDir();
    const r = await fetchVerifiedPackage(base({ workDir, mirror: undefined, s3Host: httpsHost, ca: cert, proxy: { httpsProxy: proxy.url, noProxy: ['169.254.169.254'] } }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.url, `https://${httpsHost}/amazon-ssm-us-east-1/${DEB}`);
    assert.match(proxy.log(), new RegExp(`CONNECT ${httpsHost.replaceAll('.', '\\.')}`));
    await r.cleanup();
    const latest = await resolveLatestVersion({ region: 'us-east-1', s3Host: httpsHost, ca: cert, proxy: { httpsProxy: proxy.url, noProxy: [] } });
    assert.deepEqual(latest, { ok: true, version: '3.3.9999.0', url: `https://${httpsHost}/amazon-ssm-us-east-1/latest/VERSION` });
  });

  test('http mirror through tinyproxy (absolute-form request): works, and the proxy logged the GET', async () => {
    const workDir = await freshWorkDir();
    const r = await fetchVerifiedPackage(base({ workDir, proxy: { httpProxy: proxy.url, noProxy: [] } }));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.ok(proxy.log().includes(`GET ${httpBase}/mirror/${DEB} HTTP/1.1`), proxy.log());
    assert.ok(proxy.log().includes(`GET ${httpBase}/mirror/${DEB}.sig HTTP/1.1`));
    await r.cleanup();
  });

  test('noProxy sends the host direct: the proxy sees nothing', async () => {
    const workDir = await freshWorkDir();
    const logBefore = proxy.log().length;
    const r = await fetchVerifiedPackage(
      base({ workDir, mirror: undefined, s3Host: httpsHost, ca: cert, proxy: { httpsProxy: proxy.url, httpProxy: proxy.url, noProxy: ['169.254.169.254', '127.0.0.0/8'] } }),
    );
    assert.ok(r.ok, r.ok ? '' : r.message);
    await r.cleanup();
    const r2 = await fetchVerifiedPackage(base({ workDir, proxy: { httpProxy: proxy.url, noProxy: ['127.0.0.1'] } }));
    assert.ok(r2.ok, r2.ok ? '' : r2.message);
    await r2.cleanup();
    assert.equal(proxy.log().slice(logBefore).includes('Request'), false, proxy.log().slice(logBefore));
  });

  test('a proxy that does not answer → DownloadFailed naming the proxy, nothing left behind', async () => {
    const workDir = await freshWorkDir();
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const f = expectFailure(await fetchVerifiedPackage(base({ workDir, mirror: undefined, s3Host: httpsHost, ca: cert, proxy: { httpsProxy: dead, noProxy: [] } })));
    assert.equal(f.reason, 'DownloadFailed');
    assert.match(f.message, new RegExp(`proxy ${dead.replaceAll('.', '\\.')}`));
    await assertEmpty(workDir);
  });

  test('an untrusted server certificate fails the download', async () => {
    const workDir = await freshWorkDir();
    const f = expectFailure(await fetchVerifiedPackage(base({ workDir, mirror: undefined, s3Host: httpsHost })));
    assert.equal(f.reason, 'DownloadFailed');
    assert.match(f.message, /certificate/i);
    await assertEmpty(workDir);
  });

  test('mirror credentials go to the mirror as Basic auth and never into messages', async () => {
    const workDir = await freshWorkDir();
    const f = expectFailure(await fetchVerifiedPackage(base({ workDir, mirror: `http://mirror-user:s3cret@127.0.0.1:${new URL(httpBase).port}/mirror`, version: '9.9.9.8' })));
    assert.equal(f.reason, 'NotFound');
    assert.doesNotMatch(`${f.message} ${f.url}`, /s3cret|mirror-user/);
    const seen = requests.find((q) => q.path === '/mirror/9.9.9.8/debian_amd64/amazon-ssm-agent.deb');
    assert.equal(seen?.authorization, `Basic ${Buffer.from('mirror-user:s3cret').toString('base64')}`);
    await assertEmpty(workDir);
  });
});

describe('downloadToFile limits', () => {
  test('size cap, idle timeout, short body, redirect loop: failures that leave nothing; a redirect is followed', async () => {
    const dir = await freshWorkDir();
    const dest = join(dir, 'file.deb');
    const big = await downloadToFile(`${httpBase}/mirror/${DEB}`, dest, { maxBytes: 1000, timeoutMs: 10_000 });
    assert.equal(big.ok, false);
    assert.equal(big.ok ? '' : big.reason, 'TooLarge');
    const stall = await downloadToFile(`${httpBase}/stall/file.deb`, dest, { maxBytes: 10_000, timeoutMs: 10_000, idleTimeoutMs: 300 });
    assert.equal(stall.ok ? '' : stall.reason, 'Timeout');
    const overall = await downloadToFile(`${httpBase}/stall/file.deb`, dest, { maxBytes: 10_000, timeoutMs: 400, idleTimeoutMs: 5_000 });
    assert.equal(overall.ok ? '' : overall.reason, 'Timeout');
    const short = await downloadToFile(`${httpBase}/short/file.deb`, dest, { maxBytes: 10_000, timeoutMs: 10_000 });
    assert.equal(short.ok, false);
    const loop = await downloadToFile(`${httpBase}/loop/x`, dest, { maxBytes: 10_000, timeoutMs: 10_000, maxRedirects: 3 });
    assert.equal(loop.ok ? '' : loop.reason, 'Redirect');
    assert.equal(existsSync(dest), false);
    await assertEmpty(dir);
    const redirected = await downloadToFile(`${httpBase}/redirect/${DEB}`, dest, { maxBytes: 10_000_000, timeoutMs: 10_000 });
    assert.ok(redirected.ok, redirected.ok ? '' : redirected.message);
    assert.equal(redirected.url, `${httpBase}/mirror/${DEB}`);
    assert.deepEqual(await readFile(dest), pkg);
  });
});

describe('downloads through proxies that want credentials or do not answer', () => {
  test('right proxy credentials pass (CONNECT and absolute-form), wrong ones fail as Proxy naming the proxy, never the password', async () => {
    const dir = await freshWorkDir();
    const authProxy = await startTinyproxy({ dir: await freshWorkDir(), connectPorts: [Number(httpsHost.split(':')[1])], basicAuth: { user: 'pxuser', password: 'px-s3cret' } });
    const accepted: Socket[] = [];
    // Accepts and reads, then says nothing.
    const silent = createNetServer((socket) => {
      accepted.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const withCreds = (password: string) => `http://pxuser:${password}@127.0.0.1:${authProxy.port}`;
      const https = `https://${httpsHost}/mirror/latest/VERSION`;
      const http = `${httpBase}/mirror/latest/VERSION`;
      for (const [url, proxy] of [
        [https, { httpsProxy: withCreds('px-s3cret'), noProxy: [] }],
        [http, { httpProxy: withCreds('px-s3cret'), noProxy: [] }],
      ] as const) {
        const r = await downloadToFile(url, join(dir, 'VERSION'), { maxBytes: 1000, timeoutMs: 10_000, ca: cert, proxy });
        assert.ok(r.ok, r.ok ? '' : r.message);
        assert.equal(r.via, 'proxy');
        assert.equal(r.proxy, authProxy.url);
        await rm(join(dir, 'VERSION'));
      }
      // tinyproxy answers wrong credentials with 401, not 407: to CONNECT that is the proxy's refusal; to an
      // absolute-form GET it looks like the origin's own answer.
      for (const [url, proxy, reason] of [
        [https, { httpsProxy: withCreds('wrong-pw'), noProxy: [] }, 'Proxy'],
        [http, { httpProxy: withCreds('wrong-pw'), noProxy: [] }, 'HttpError'],
      ] as const) {
        const r = await downloadToFile(url, join(dir, 'VERSION'), { maxBytes: 1000, timeoutMs: 10_000, ca: cert, proxy });
        assert.equal(r.ok ? '' : r.reason, reason, JSON.stringify(r));
        assert.match(r.ok ? '' : r.message, /HTTP 401/);
        assert.match(r.ok ? '' : r.message, new RegExp(`proxy ${authProxy.url.replaceAll('.', '\\.')}`));
        assert.doesNotMatch(JSON.stringify(r), /wrong-pw|pxuser|Basic/);
      }
      const stalled = await downloadToFile(https, join(dir, 'VERSION'), { maxBytes: 1000, timeoutMs: 10_000, idleTimeoutMs: 300, ca: cert, proxy: { httpsProxy: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, noProxy: [] } });
      assert.equal(stalled.ok ? '' : stalled.reason, 'Proxy', JSON.stringify(stalled));
      assert.match(stalled.ok ? '' : stalled.message, /did not answer CONNECT/);
      await assertEmpty(dir);
    } finally {
      await authProxy.stop();
      for (const socket of accepted) socket.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('createAgentPackages (the port of the install step)', () => {
  test('config + facts → latest version and a verified package, proxy URL from the mounted Secret', async () => {
    const workDir = await freshWorkDir();
    const secretDir = join(work, 'proxy-secret');
    await mkdir(secretDir, { recursive: true });
    await writeFile(join(secretDir, 'httpsProxy'), `${proxy.url}\n`);
    const rendered = renderNodeAgentConfig(sampleConfig('pkg', { region: 'eu-west-1', agent: { version: 'latest', source: { mirror: `https://${httpsHost}/mirror` }, verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' } }));
    const config = { ...rendered, proxy: { ...rendered.proxy, secretDir } };
    const warnings: string[] = [];
    const packages = createAgentPackages({ workDir, ca: cert, env: { [SIGNING_KEY_FILE_ENV]: goodKeyFile }, onWarning: (w) => warnings.push(w) });
    assert.equal(await packages.latestVersion(await resolveEffectiveConfig(config), { arch: 'amd64', packageManager: 'dpkg' }), VERSION);
    const logBefore = proxy.log().length;
    const r = await packages.fetch(await resolveEffectiveConfig(config), { arch: 'amd64', packageManager: 'dpkg' }, VERSION);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(await readFile(r.path), pkg);
    assert.match(proxy.log().slice(logBefore), new RegExp(`CONNECT ${httpsHost.replaceAll('.', '\\.')}`));
    await r.cleanup();
    await assertEmpty(workDir);
    const noArch = await packages.fetch(await resolveEffectiveConfig(config), { packageManager: 'dpkg' }, VERSION);
    assert.equal(noArch.ok ? '' : noArch.reason, 'UnsupportedArchitecture');
    assert.deepEqual(warnings, []);
  });

  const agentSpec = (mirror: string, extra: Record<string, unknown> = {}) => ({ version: VERSION, source: { mirror }, verify: 'Signature' as const, selfUpdate: false, existingInstall: 'Adopt' as const, ...extra });
  const facts = { arch: 'amd64' as const, packageManager: 'dpkg' as const };

  test('a plain-http mirror is refused before any request unless the package is pinned by its sha256 (InsecureMirror)', async () => {
    const workDir = await freshWorkDir();
    const packages = createAgentPackages({ workDir, env: { [SIGNING_KEY_FILE_ENV]: goodKeyFile } });
    const before = requests.length;
    for (const agent of [agentSpec(`${httpBase}/mirror`), agentSpec(`${httpBase}/mirror`, { version: 'latest', sha256: pkgSha })]) {
      const config = renderNodeAgentConfig(sampleConfig('insecure', { agent }));
      const r = await packages.fetch(await resolveEffectiveConfig(config), facts, VERSION);
      assert.equal(r.ok ? '' : r.reason, 'InsecureMirror');
      assert.match(r.ok ? '' : r.message, /spec\.agent\.source\.mirror: .*https:\/\/.*agent\.sha256/);
      await assert.rejects(packages.latestVersion(await resolveEffectiveConfig(config), facts), /https:\/\//);
    }
    assert.equal(requests.length, before, 'nothing was requested');
    await assertEmpty(workDir);
    // Pinned with its sha256, the same http mirror is fine.
    const pinned = await packages.fetch(await resolveEffectiveConfig(renderNodeAgentConfig(sampleConfig('pinned', { agent: agentSpec(`${httpBase}/mirror`, { sha256: pkgSha }) }))), facts, VERSION);
    assert.ok(pinned.ok, pinned.ok ? '' : pinned.message);
    await pinned.cleanup();
  });

  test('a mirror behind a private CA: trusted through spec.agent.source.caBundle (the mounted file), refused without it; a bad bundle fails before any request (MirrorCaInvalid)', async () => {
    const workDir = await freshWorkDir();
    const caFile = join(work, 'mirror-ca.crt');
    await writeFile(caFile, cert);
    const rendered = renderNodeAgentConfig(sampleConfig('private-ca', { agent: agentSpec(`https://${httpsHost}/mirror`, { version: 'latest', source: { mirror: `https://${httpsHost}/mirror`, caBundle: { configMap: 'mirror-ca', key: 'ca.crt' } } }) }));
    assert.equal(rendered.agent.mirrorCaName, 'ConfigMap mirror-ca, key ca.crt');
    assert.match(rendered.agent.mirrorCaFile ?? '', /^\/etc\/ssm-node-agent-mirror-ca\//);
    // No opts.ca: only the bundle named by the config makes the mirror's certificate trusted.
    const packages = createAgentPackages({ workDir, env: { [SIGNING_KEY_FILE_ENV]: goodKeyFile } });
    const trusted = { ...rendered, agent: { ...rendered.agent, mirrorCaFile: caFile } };
    assert.equal(await packages.latestVersion(await resolveEffectiveConfig(trusted), facts), VERSION);
    const r = await packages.fetch(await resolveEffectiveConfig(trusted), facts, VERSION);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(await readFile(r.path), pkg);
    await r.cleanup();

    const { mirrorCaFile: _f, mirrorCaName: _n, ...withoutCa } = rendered.agent;
    const untrusted = await packages.fetch(await resolveEffectiveConfig({ ...rendered, agent: withoutCa }), facts, VERSION);
    assert.equal(untrusted.ok ? '' : untrusted.reason, 'DownloadFailed');
    assert.match(untrusted.ok ? '' : untrusted.message, /certificate/i);

    const before = requests.length;
    for (const [content, words] of [
      [undefined, /does not exist/],
      ['not a certificate', /no PEM certificate/],
      ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /certificate 1 .* does not parse/],
    ] as const) {
      const file = join(work, `bad-ca-${requests.length}-${String(words)}`.replace(/[^a-z0-9-]/gi, '_'));
      if (content !== undefined) await writeFile(file, content);
      const bad = { ...rendered, agent: { ...rendered.agent, mirrorCaFile: file } };
      const f = await packages.fetch(await resolveEffectiveConfig(bad), facts, VERSION);
      assert.equal(f.ok ? '' : f.reason, 'MirrorCaInvalid');
      assert.match(f.ok ? '' : f.message, /spec\.agent\.source\.caBundle: .*ConfigMap mirror-ca, key ca\.crt/);
      assert.match(f.ok ? '' : f.message, words);
      await assert.rejects(packages.latestVersion(await resolveEffectiveConfig(bad), facts), words);
    }
    assert.equal(requests.length, before, 'a bad bundle: nothing was requested');
    await assertEmpty(workDir);
  });

  test('mirror credentials from the mounted Secret: Basic auth on the mirror for latest/VERSION, the package and its signature; never in a message', async () => {
    const workDir = await freshWorkDir();
    const mirrorSecretDir = join(work, 'mirror-secret');
    await mkdir(mirrorSecretDir, { recursive: true });
    await writeFile(join(mirrorSecretDir, 'username'), `${PRIVATE_USER}\n`);
    await writeFile(join(mirrorSecretDir, 'password'), PRIVATE_PASSWORD);
    const rendered = renderNodeAgentConfig(sampleConfig('private', { agent: agentSpec(`https://${httpsHost}/private`, { version: 'latest', source: { mirror: `https://${httpsHost}/private`, mirrorSecretRef: { name: 'mirror-creds' } } }) }));
    assert.equal(rendered.agent.mirrorSecretName, 'mirror-creds');
    const config = { ...rendered, agent: { ...rendered.agent, mirrorSecretDir } };
    const packages = createAgentPackages({ workDir, ca: cert, env: { [SIGNING_KEY_FILE_ENV]: goodKeyFile } });
    const before = requests.length;
    assert.equal(await packages.latestVersion(await resolveEffectiveConfig(config), facts), VERSION);
    const r = await packages.fetch(await resolveEffectiveConfig(config), facts, VERSION);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(await readFile(r.path), pkg);
    await r.cleanup();
    const seen = requests.slice(before);
    assert.deepEqual(
      seen.map((q) => [q.path, q.authorization === PRIVATE_AUTH]),
      [
        ['/private/latest/VERSION', true],
        [`/private/${DEB}`, true],
        [`/private/${DEB}.sig`, true],
      ],
    );

    // A wrong password: the mirror's 401, named, without the password.
    await writeFile(join(mirrorSecretDir, 'password'), 'wrong-password');
    const denied = await packages.fetch(await resolveEffectiveConfig(config), facts, VERSION);
    assert.equal(denied.ok ? '' : denied.reason, 'DownloadFailed');
    assert.match(denied.ok ? '' : denied.message, /HTTP 401/);
    assert.doesNotMatch(denied.ok ? '' : denied.message, /wrong-password|mirror-reader|Basic/);

    // A Secret value that would be a header injection, or a missing key: refused before any request.
    const beforeBad = requests.length;
    for (const [user, pass, words] of [
      [PRIVATE_USER, 'pw\r\nX-Injected: 1', /password.*control character/],
      [PRIVATE_USER, undefined, /no password key/],
    ] as const) {
      await writeFile(join(mirrorSecretDir, 'username'), user);
      await rm(join(mirrorSecretDir, 'password'), { force: true });
      if (pass !== undefined) await writeFile(join(mirrorSecretDir, 'password'), pass);
      const bad = await packages.fetch(await resolveEffectiveConfig(config), facts, VERSION);
      assert.equal(bad.ok ? '' : bad.reason, 'MirrorSecretInvalid');
      assert.match(bad.ok ? '' : bad.message, words);
      assert.match(bad.ok ? '' : bad.message, /mirror-creds/);
      assert.doesNotMatch(bad.ok ? '' : bad.message, /X-Injected/);
    }
    assert.equal(requests.length, beforeBad, 'nothing was requested with a bad Secret');
    await assertEmpty(workDir);
  });
});
