// The image users would build is the one the test cluster runs: test/tools/ensure-images.sh builds the repository's
// own Dockerfile (buildah, no registry, no Docker engine) into OCI archives; a real containerd (Debian's 1.6, what the
// nodes run) imports them under exactly their references; the imported image's config is the Dockerfile's and its
// root file system runs Node 24 with every production dependency, as the image's non-root user.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, startContainerd, type Containerd } from '../harness/containerd.ts';
import { ensureImages, readTestImages, type TestImages } from '../harness/images.ts';
import { pidAlive } from '../harness/managed-process.ts';
import { NODE_AGENT_COMMAND } from '../../operator/manifests/node-agent-runtime.ts';
import { waitFor } from '../harness/wait.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 1024 * 1024;

interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly config?: {
    readonly Cmd?: string[];
    readonly Entrypoint?: string[];
    readonly User?: string;
    readonly WorkingDir?: string;
    readonly Env?: string[];
    readonly ExposedPorts?: Record<string, unknown>;
    readonly Labels?: Record<string, string>;
  };
}

/** CMD (exec form), USER, WORKDIR and EXPOSE of the Dockerfile's last stage. */
function finalStage(dockerfile: string): { cmd: unknown; user: string; workdir: string; expose: string[] } {
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim());
  const stage = lines.slice(lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true));
  const last = (instr: string): string => {
    const hit = stage.filter((l) => l.toUpperCase().startsWith(`${instr} `)).pop();
    assert.ok(hit, `the Dockerfile's last stage has no ${instr}`);
    return hit.slice(instr.length).trim();
  };
  return { cmd: JSON.parse(last('CMD')) as unknown, user: last('USER'), workdir: last('WORKDIR'), expose: last('EXPOSE').split(/\s+/) };
}

async function imageConfig(c: Containerd, ref: string): Promise<ImageConfig> {
  const ls = await c.ctr(['images', 'ls']);
  assert.equal(ls.code, 0, ls.stderr);
  const digest = ls.stdout.split('\n').map((l) => l.split(/\s+/)).find((cols) => cols[0] === ref)?.[2];
  if (digest?.startsWith('sha256:') !== true) assert.fail(`no digest for ${ref} in:\n${ls.stdout}`);
  const manifest = await c.ctr(['content', 'get', digest]);
  assert.equal(manifest.code, 0, manifest.stderr);
  const configDigest = (JSON.parse(manifest.stdout) as { config: { digest: string } }).config.digest;
  const config = await c.ctr(['content', 'get', configDigest]);
  assert.equal(config.code, 0, config.stderr);
  return JSON.parse(config.stdout) as ImageConfig;
}

/** Runs argv in the mounted root file system the way a runtime would: as `user`, with only `env`, in `cwd`. */
/**
 * The probe's own lines. Its exit handler and the entry's settings error share stdout, and pino writes that error
 * asynchronously, flushing at exit after the probe's handler when the write had not landed yet: the order varies.
 */
function probeVerdicts(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^(no stripper|stripper loaded)$/.test(line.trim())).map((line) => line.trim());
}

function inImage(root: string, user: string, env: readonly string[], cwd: string, argv: readonly string[]): ReturnType<typeof run> {
  return run('chroot', [`--userspec=${user}`, root, '/usr/bin/env', '-i', ...env, '/bin/sh', '-c', 'cd "$0" && exec "$@"', cwd, ...argv]);
}

describe('test images (ensure-images.sh): the repository Dockerfile, built without a registry, imported into containerd', { timeout: 1_800_000 }, () => {
  let images: TestImages;
  let c: Containerd | undefined;

  before(async () => {
    images = await ensureImages(); // a first build takes minutes (the base, then the app); later runs are instant
    c = await startContainerd();
  });

  after(async () => {
    await c?.stop();
  });

  it('names the app image by its content key and records the archive and unpacked sizes', () => {
    assert.equal(images.appImage, `localhost/ssm-agent-operator:${basename(images.dir)}`);
    assert.equal(images.appImageBytes, statSync(images.appArchive).size);
    assert.ok(statSync(images.pauseArchive).size > 0);
    assert.ok(images.appImageUnpackedBytes !== undefined && images.appImageUnpackedBytes > images.appImageBytes, 'the unpacked size is recorded');
    console.error(
      `# app image ${images.appImage}: ${(images.appImageBytes / MiB).toFixed(1)} MiB archive, ` +
        `${((images.appImageUnpackedBytes ?? 0) / MiB).toFixed(1)} MiB unpacked`,
    );
  });

  it('a second run builds nothing: same entry, same files', async () => {
    const before = statSync(images.appArchive).mtimeMs;
    const again = await run('bash', [join(REPO, 'test', 'tools', 'ensure-images.sh')]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.stdout.trim().split('\n'), [images.dir], 'exactly one line on stdout: the directory');
    assert.deepEqual(readTestImages(images.dir), images);
    assert.equal(statSync(images.appArchive).mtimeMs, before);
    assert.doesNotMatch(again.stderr, /buildah|debootstrap/);
  });

  it('ctr images import names both images by exactly their references', async () => {
    assert.ok(c);
    await c.importArchive(images.appArchive);
    await c.importArchive(images.pauseArchive);
    const ls = await c.ctr(['images', 'ls', '--quiet']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), [images.appImage, images.pauseImage].sort());
  });

  it("the imported app image's config is the Dockerfile's (over the node image's entrypoint)", async () => {
    assert.ok(c);
    const want = finalStage(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
    const got = await imageConfig(c, images.appImage);
    assert.equal(got.os, 'linux');
    assert.deepEqual(got.config?.Cmd, want.cmd);
    assert.deepEqual(got.config?.Cmd, ['node', 'operator/main.ts']);
    assert.equal(got.config?.User, want.user);
    assert.equal(got.config?.User, '65532:65532');
    assert.equal(got.config?.WorkingDir, want.workdir);
    assert.equal(got.config?.WorkingDir, '/app');
    assert.deepEqual(Object.keys(got.config?.ExposedPorts ?? {}).sort(), want.expose.map((p) => `${p}/tcp`).sort());
    assert.deepEqual(got.config?.Entrypoint, ['docker-entrypoint.sh'], "node:24-bookworm-slim's entrypoint");
    assert.ok(got.config?.Env?.includes('NODE_ENV=production'), `Env: ${String(got.config?.Env)}`);
    assert.equal(got.config?.Labels?.['org.opencontainers.image.title'], 'ssm-agent-operator');
    assert.equal(got.config?.Labels?.['org.opencontainers.image.base.name'], 'localhost/ssm-test/node:24-bookworm-slim');
  });

  it('runs Node 24 and loads every production dependency as the non-root user; no dev dependencies, no tests', async () => {
    assert.ok(c);
    const cfg = (await imageConfig(c, images.appImage)).config ?? {};
    const root = await c.mountImage(images.appImage);
    try {
      const argv = (args: string[]): string[] => [...(cfg.Entrypoint ?? []), ...args];
      const version = await inImage(root, cfg.User ?? '', cfg.Env ?? [], cfg.WorkingDir ?? '/', argv(['node', '--version']));
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout.trim(), /^v24\.\d+\.\d+$/);

      const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
      const deps = Object.keys(pkg.dependencies);
      const script = `for (const d of ${JSON.stringify(deps)}) await import(d); console.log('loaded ' + ${deps.length});`;
      const loaded = await inImage(root, cfg.User ?? '', cfg.Env ?? [], cfg.WorkingDir ?? '/', argv(['node', '--input-type=module', '-e', script]));
      assert.equal(loaded.code, 0, loaded.stderr);
      assert.equal(loaded.stdout.trim(), `loaded ${deps.length}`);

      // The compile cache is warm for both processes' users: neither loads Node's TypeScript stripper (amaro) at
      // start. Each entry stops at its settings check (exit 2) after loading its static imports.
      const stripperProbe = (entry: string) =>
        `process.on('exit', () => console.log(process.moduleLoadList.some((m) => m.includes('amaro')) ? 'stripper loaded' : 'no stripper')); import(${JSON.stringify(entry)});`;
      const [, ...agentFlags] = NODE_AGENT_COMMAND;
      const agentMain = agentFlags.pop() ?? '';
      const agentProbe = await inImage(root, '0:0', [...(cfg.Env ?? []), 'HOST_PID=0'], '/app', argv(['node', ...agentFlags, '-e', stripperProbe(agentMain)]));
      assert.deepEqual(probeVerdicts(agentProbe.stdout), ['no stripper'], `node agent as root: ${agentProbe.stdout} ${agentProbe.stderr}`);
      const operatorProbe = await inImage(root, cfg.User ?? '', cfg.Env ?? [], '/app', argv(['node', '-e', stripperProbe('/app/operator/main.ts')]));
      assert.deepEqual(probeVerdicts(operatorProbe.stdout), ['no stripper'], `operator as ${cfg.User ?? ''}: ${operatorProbe.stdout} ${operatorProbe.stderr}`);

      const nsenter = await inImage(root, '0:0', cfg.Env ?? [], '/', ['nsenter', '--version']);
      assert.equal(nsenter.code, 0, `the node agent's nsenter: ${nsenter.stderr}`);

      const app = join(root, 'app');
      for (const dev of ['typescript', 'eslint', 'node']) {
        if (dev in pkg.dependencies) continue;
        assert.throws(() => statSync(join(app, 'node_modules', dev)), /ENOENT/, `dev dependency ${dev} in the image`);
      }
      const files = readdirSync(app, { recursive: true, encoding: 'utf8' }).filter((f) => !f.startsWith('node_modules'));
      assert.ok(files.includes(join('operator', 'main.ts')) && files.includes(join('node-agent', 'main.ts')), files.slice(0, 20).join(' '));
      assert.deepEqual(files.filter((f) => f.endsWith('.test.ts')), []);
      // Nothing of the build machine or of the build's own runs is left in the image (the build's RUN steps see
      // the host's npm CA through bind mounts; the base's sanity checks ran node).
      assert.deepEqual(readdirSync(join(root, 'usr', 'local', 'etc')), [], '/usr/local/etc is empty, as in node:24-bookworm-slim');
      assert.deepEqual(readdirSync(join(root, 'tmp')), [], '/tmp is empty');
      assert.throws(() => statSync(join(root, 'root', '.npm')), /ENOENT/, 'no npm cache or logs of the build');
      const main = statSync(join(app, 'operator', 'main.ts'));
      assert.equal(main.uid, 0, 'sources owned by root');
      assert.equal(main.mode & 0o022, 0, 'sources not writable by the non-root user');
    } finally {
      await c.unmountImage(root);
    }
  });

  it('the pause image runs as PID 1 of its own PID namespace and exits on SIGTERM', async () => {
    assert.ok(c);
    const cfg = (await imageConfig(c, images.pauseImage)).config ?? {};
    assert.deepEqual(cfg.Entrypoint, ['/pause']);
    assert.equal(cfg.User, '65535:65535');
    const root = await c.mountImage(images.pauseImage);
    // As root, not as the image's user: a credential change clears the parent-death signal, and these
    // parent-death signals make sure the pause process dies with this test, however it ends.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--pid', '--fork', '--kill-child', 'chroot', root, ...(cfg.Entrypoint ?? [])], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let pausePid: number | undefined;
    try {
      const launcher = child.pid;
      assert.ok(launcher !== undefined);
      // Ready once its SIGTERM handler is installed: until then a namespace's PID 1 ignores SIGTERM from outside.
      pausePid = await waitFor(
        'the pause process with its SIGTERM handler',
        () => {
          const kids = readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
          const pid = kids[0];
          if (pid === undefined || readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'pause') return undefined;
          const caught = /^SigCgt:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
          return caught !== undefined && (BigInt(`0x${caught}`) & (1n << 14n)) !== 0n ? pid : undefined;
        },
        10_000,
        20,
      );
      assert.match(readFileSync(`/proc/${pausePid}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m, 'PID 1 in its namespace');
      process.kill(pausePid, 'SIGTERM');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref())]);
      assert.equal(code, 128 + 15, 'exit status of a SIGTERM handled by exiting');
    } finally {
      if (pausePid !== undefined && pidAlive(pausePid)) process.kill(pausePid, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await c.unmountImage(root);
    }
  });
});
