// One effective configuration per pass: the configure step (drop-in), -register's environment, the downloads and the
// probes all use the proxy resolved once from the revision and the proxy Secret read at the start of the pass —
// never the inline URLs the Secret replaces, never the node agent's own environment, and never a Secret file read
// again later. Three recording proxies on loopback tell who was used.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { readMountedSecrets, readSecretFile, resolveEffectiveConfig, type ReadSecret } from '../../node-agent/config/mounted-secrets.ts';
import type { EffectiveConfig } from '../../node-agent/config/effective.ts';
import { createAgentPackages } from '../../node-agent/package/agent-packages.ts';
import { probeAll, probeConfig } from '../../node-agent/probes/probe-all.ts';
import { configureStep } from '../../node-agent/steps/configure.ts';
import { createRegisterStep } from '../../node-agent/steps/register.ts';
import { runStep, type StepContext } from '../../node-agent/steps/step.ts';
import { FakeHost, ok } from '../harness/fake-host.ts';
import { sampleConfig } from '../fixtures/configs.ts';

interface RecordingProxy {
  url: string;
  /** "CONNECT host:port" or "GET absolute-url", in arrival order */
  seen: string[];
  server: Server;
}

/** A proxy that records what it is asked and refuses it (CONNECT 403, GET 404): nothing leaves the machine. */
async function recordingProxy(): Promise<RecordingProxy> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  server.on('connect', (req, socket: Socket) => {
    seen.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

let work: string;
let inline: RecordingProxy;
let secret: RecordingProxy;
let environment: RecordingProxy;
let later: RecordingProxy;
const ENV_KEYS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];
const savedEnv = new Map<string, string | undefined>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'effective-config-'));
  [inline, secret, environment, later] = await Promise.all([recordingProxy(), recordingProxy(), recordingProxy(), recordingProxy()]);
  // The node agent's own environment names a third proxy: no consumer may take it.
  for (const k of ENV_KEYS) savedEnv.set(k, process.env[k]);
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) process.env[k] = environment.url;
  delete process.env.NO_PROXY;
  delete process.env.no_proxy;
});

after(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const p of [inline, secret, environment, later]) {
    p?.server.closeAllConnections();
    await new Promise((r) => p?.server.close(r));
  }
  await rm(work, { recursive: true, force: true });
});

function revision(secretDir: string, activationDir: string): NodeAgentConfig {
  const rendered = renderNodeAgentConfig(
    sampleConfig('effective', {
      region: 'eu-west-1',
      registration: { mode: 'Hybrid', deregisterOnNodeDelete: true, activation: { secretRef: { name: 'act' } } },
      // A plain-http mirror pinned by its sha256 (downloads over http:// use http_proxy), then an https:// one.
      agent: { version: '3.3.1142.0', sha256: '0'.repeat(64), source: { mirror: 'http://mirror.example.test/mirror' }, verify: 'Checksum', selfUpdate: false, existingInstall: 'Adopt' },
    }),
  );
  // Inline URLs and a proxy Secret at once (the schema refuses that at apply time; the node agent must still pick
  // one way, everywhere): the Secret wins.
  return {
    ...rendered,
    registration: { ...rendered.registration, activationDir },
    proxy: { httpsProxy: inline.url, httpProxy: inline.url, noProxy: ['169.254.169.254'], secretDir, secretName: 'corp-proxy' },
  };
}

const context = (host: FakeHost, effective: EffectiveConfig): StepContext => ({
  host,
  config: effective.config,
  effective,
  facts: { installedVersion: '3.3.1142.0', packageManager: 'dpkg', arch: 'amd64' },
  now: () => 1_000_000,
});

test('configure, -register, downloads and probes all use the proxy the pass resolved, and only it', async () => {
  const secretDir = join(work, 'proxy');
  const activationDir = join(work, 'activation');
  await Promise.all([secretDir, activationDir].map((d) => mkdir(d, { recursive: true })));
  await writeFile(join(secretDir, 'httpsProxy'), `${secret.url}\n`);
  await writeFile(join(secretDir, 'httpProxy'), secret.url);
  await writeFile(join(activationDir, 'activationId'), '11111111-2222-3333-4444-555555555555');
  await writeFile(join(activationDir, 'activationCode'), 'SECRET-code');
  const config = revision(secretDir, activationDir);

  // Read once, at the start of the pass: every key of the three Secrets exactly once.
  const reads: string[] = [];
  const counting: ReadSecret = (dir, key) => {
    reads.push(key);
    return readSecretFile(dir, key);
  };
  const effective = await resolveEffectiveConfig(config, counting);
  assert.deepEqual(reads.sort(), ['activationCode', 'activationId', 'httpProxy', 'httpsProxy']);
  assert.ok(effective.proxy.ok);
  assert.equal(effective.proxy.proxy.httpsProxy, secret.url);
  // What the Secret says later is the next pass's business: no consumer below may read it again.
  await writeFile(join(secretDir, 'httpsProxy'), later.url);
  await writeFile(join(secretDir, 'httpProxy'), later.url);

  // 1. The configure step's drop-in.
  const host = new FakeHost();
  const configured = await runStep(configureStep, context(host, effective));
  assert.equal(configured.status, 'changed', JSON.stringify(configured));
  const dropIn = [...host.files.entries()].find(([path]) => path.endsWith('ssm-agent-operator-proxy.conf'))?.[1].content.toString('utf8') ?? '';
  assert.match(dropIn, new RegExp(`https_proxy=${secret.url}`));
  assert.match(dropIn, new RegExp(`http_proxy=${secret.url}`));

  // 2. -register's environment.
  host.on((argv, _opts, h) => {
    if (argv[1] !== '-register') return undefined;
    void h.writeFileAtomic('/var/lib/amazon/ssm/registration', '{"ManagedInstanceID":"mi-0123456789abcdef0","Region":"eu-west-1"}', 0o600);
    return ok();
  });
  const registered = await runStep(createRegisterStep(), context(host, effective));
  assert.equal(registered.status, 'changed', JSON.stringify(registered));
  const env = host.commands.find((c) => c.argv[1] === '-register')?.opts.env;
  assert.deepEqual(env, { https_proxy: secret.url, http_proxy: secret.url, no_proxy: '169.254.169.254' });

  // 3. Downloads: the package from the http:// mirror (absolute-form GET), "latest" from an https:// one (CONNECT).
  const packages = createAgentPackages({ workDir: join(work, 'downloads') });
  const fetched = await packages.fetch(effective, { arch: 'amd64', packageManager: 'dpkg' }, '3.3.1142.0');
  assert.equal(fetched.ok, false);
  assert.ok(secret.seen.includes('GET http://mirror.example.test/mirror/3.3.1142.0/debian_amd64/amazon-ssm-agent.deb'), secret.seen.join('\n'));
  const httpsMirror: EffectiveConfig = { ...effective, config: { ...effective.config, agent: { ...effective.config.agent, version: 'latest', mirror: 'https://mirror.example.test/mirror' } } };
  await assert.rejects(packages.latestVersion(httpsMirror, { arch: 'amd64', packageManager: 'dpkg' }));
  assert.ok(secret.seen.includes('CONNECT mirror.example.test:443'), secret.seen.join('\n'));

  // 4. The probes, through the same proxy (CONNECT to each endpoint).
  const results = await probeAll(probeConfig(effective), { totalTimeoutMs: 10_000 });
  for (const r of results) assert.equal(r.proxy, secret.url, JSON.stringify(r));
  for (const name of ['ssm', 'ec2messages', 'ssmmessages'] as const) assert.ok(secret.seen.includes(`CONNECT ${name}.eu-west-1.amazonaws.com:443`), secret.seen.join('\n'));

  assert.deepEqual(inline.seen, [], 'the inline URLs the Secret replaces are used by no one');
  assert.deepEqual(environment.seen, [], "the node agent's own environment is used by no one");
  assert.deepEqual(later.seen, [], 'no consumer read the Secret again after the pass resolved it');
});

test('a hostile proxy Secret is refused the same way by every step, named, without its value; the probes go direct', async () => {
  const secretDir = join(work, 'bad-proxy');
  await mkdir(secretDir, { recursive: true });
  await writeFile(join(secretDir, 'httpsProxy'), `${secret.url}\nExecStartPre=/bin/touch /pwned`);
  const config = revision(secretDir, join(work, 'no-activation'));
  const effective = await resolveEffectiveConfig(config);
  assert.equal((await readMountedSecrets({ ...config, proxy: { noProxy: [] } })).proxy, undefined, 'a Secret the revision does not name is not read');

  const host = new FakeHost();
  const configured = await runStep(configureStep, context(host, effective));
  assert.equal(configured.reason, 'ProxySecretInvalid');
  assert.match(configured.message ?? '', /key httpsProxy of Secret corp-proxy contains a control character/);
  assert.doesNotMatch(configured.message ?? '', /ExecStartPre/);
  assert.equal(host.files.size, 0, 'nothing written');

  const packages = createAgentPackages({ workDir: join(work, 'downloads') });
  const before = secret.seen.length;
  await assert.rejects(packages.latestVersion(effective, { arch: 'amd64', packageManager: 'dpkg' }), /key httpsProxy of Secret corp-proxy contains a control character/);
  assert.equal(secret.seen.length, before, 'no download went anywhere');

  const probes = probeConfig(effective);
  assert.equal(probes.proxy.httpsProxy, undefined);
  assert.deepEqual(probes.proxy.noProxy, ['169.254.169.254']);
});
