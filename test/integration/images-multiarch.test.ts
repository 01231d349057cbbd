// The multi-arch image (`ensure-images.sh --multiarch`): one OCI image index of the app image for linux/amd64 and
// linux/arm64, the foreign one built from the same Dockerfile under qemu-user. Read as a runtime reads it (every
// blob checked against its digest, layers applied in order) and checked without trusting the build: the index
// lists both platforms, its host instance is the very image the test cluster imports, each image's Node and
// nsenter are ELF executables of its own architecture, and both carry the same sources and dependencies.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { run, startContainerd } from '../harness/containerd.ts';
import { ENSURE_IMAGES_SCRIPT, ensureImages, ensureMultiarchImage, readMultiarchImage, type MultiarchImage, type TestImages } from '../harness/images.ts';
import {
  INDEX_MEDIA_TYPE,
  MANIFEST_MEDIA_TYPE,
  parseIndex,
  parseManifest,
  readJsonBlob,
  readTopIndex,
  unpackImage,
  type Descriptor,
  type Manifest,
} from '../harness/oci-layout.ts';

/** ELF e_machine of each architecture (the ELF spec's EM_X86_64 and EM_AARCH64). */
const E_MACHINE: Readonly<Record<string, number>> = { amd64: 0x3e, arm64: 0xb7 };
const QEMU: Readonly<Record<string, string>> = { amd64: 'qemu-x86_64-static', arm64: 'qemu-aarch64-static' };

interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly config: Readonly<Record<string, unknown>>;
}

function imageConfig(v: unknown): ImageConfig {
  if (typeof v !== 'object' || v === null) throw new Error('image config: not an object');
  const { architecture, os, config } = v as Record<string, unknown>;
  if (typeof architecture !== 'string' || typeof os !== 'string' || typeof config !== 'object' || config === null) {
    throw new Error(`image config without architecture, os or config: ${JSON.stringify(v).slice(0, 200)}`);
  }
  return { architecture, os, config: config as Record<string, unknown> };
}

/** e_machine of an ELF executable (64-bit, little-endian); fails on anything else. */
function elfMachine(path: string): number {
  const head = readFileSync(path).subarray(0, 20);
  assert.deepEqual([...head.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${path} is not an ELF file`);
  assert.equal(head[4], 2, `${path}: ELFCLASS64`);
  assert.equal(head[5], 1, `${path}: little-endian`);
  assert.ok([2, 3].includes(head.readUInt16LE(16)), `${path}: an executable (ET_EXEC or ET_DYN)`);
  return head.readUInt16LE(18);
}

/** Every file and symlink under `dir` (relative path -> sha256 of the content, or `-> target`), `skip` left out. */
function tree(dir: string, skip: ReadonlySet<string> = new Set()): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    if ([...skip].some((s) => rel === s || rel.startsWith(`${s}/`))) continue;
    const path = join(dir, rel);
    const st = statSync(path, { throwIfNoEntry: false });
    const link = (() => {
      try {
        return readlinkSync(path);
      } catch {
        return undefined;
      }
    })();
    if (link !== undefined) out.set(rel, `-> ${link}`);
    else if (st?.isFile() === true) out.set(rel, createHash('sha256').update(readFileSync(path)).digest('hex'));
  }
  return out;
}

function filesUnder(t: ReadonlyMap<string, string>, prefix: string): string[] {
  return [...t.keys()].filter((k) => k.startsWith(`${prefix}/`));
}

describe('multi-arch image (ensure-images.sh --multiarch): one OCI index for linux/amd64 and linux/arm64', { timeout: 7_200_000 }, () => {
  let host: TestImages;
  let multi: MultiarchImage;
  let work: string;
  let layout: string;
  const manifests = new Map<string, Manifest>();
  const configs = new Map<string, ImageConfig>();
  const roots = new Map<string, string>();
  let listed: readonly Descriptor[] = [];

  before(async () => {
    host = await ensureImages();
    multi = await ensureMultiarchImage(); // cold: the foreign base and build run under qemu-user (many minutes)
    work = mkdtempSync(join(tmpdir(), 'ssm-multiarch-'));
    layout = join(work, 'layout');
    mkdirSync(layout);
    const untar = await run('tar', ['-xf', multi.archive, '-C', layout], 600_000);
    assert.equal(untar.code, 0, untar.stderr);
    const top = readTopIndex(layout);
    assert.equal(top.manifests.length, 1, 'index.json names one thing: the image index');
    const entry = top.manifests[0]!;
    assert.equal(entry.mediaType, INDEX_MEDIA_TYPE);
    assert.equal(entry.digest, multi.indexDigest);
    assert.equal(entry.annotations?.['io.containerd.image.name'], multi.appImage, 'the name ctr images import gives it');
    const index = parseIndex(readJsonBlob(layout, entry), 'image index');
    assert.equal(index.mediaType, INDEX_MEDIA_TYPE);
    listed = index.manifests;
    for (const d of listed) {
      const arch = d.platform?.architecture ?? '';
      assert.equal(d.mediaType, MANIFEST_MEDIA_TYPE);
      const manifest = parseManifest(readJsonBlob(layout, d), `${arch} manifest`);
      manifests.set(arch, manifest);
      configs.set(arch, imageConfig(readJsonBlob(layout, manifest.config)));
      const root = join(work, `root-${arch}`);
      mkdirSync(root);
      await unpackImage(layout, manifest, root);
      roots.set(arch, root);
    }
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is the host entry\'s image under the same tag, and records what the foreign build cost', (t) => {
    assert.equal(multi.appImage, host.appImage, 'one reference for every architecture');
    assert.equal(join(multi.dir, '..', '..', 'images', multi.appImage.split(':')[1]!), host.dir, 'keyed like the host entry');
    t.diagnostic(
      `foreign (${multi.foreignArch}) build under qemu-user, when last cold: base ${multi.foreignBaseSeconds} s, ` +
        `buildah bud ${multi.foreignBudSeconds} s; archive ${(statSync(multi.archive).size / 1024 / 1024).toFixed(1)} MiB`,
    );
  });

  it('lists exactly linux/amd64 and linux/arm64, each an image whose config says the same platform', () => {
    assert.deepEqual(listed.map((d) => `${d.platform?.os}/${d.platform?.architecture}`), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(multi.platforms, ['linux/amd64', 'linux/arm64']);
    for (const d of listed) {
      const arch = d.platform?.architecture ?? '';
      assert.equal(d.digest, multi.manifests.get(arch), `refs.env names the ${arch} manifest`);
      assert.equal(configs.get(arch)?.architecture, arch);
      assert.equal(configs.get(arch)?.os, 'linux');
      assert.ok((manifests.get(arch)?.layers.length ?? 0) > 0);
    }
  });

  it('its host instance is the very image the test cluster imports (the same manifest digest)', async () => {
    const hostLayout = join(work, 'host');
    mkdirSync(hostLayout);
    const untar = await run('tar', ['-xf', host.appArchive, '-C', hostLayout, 'index.json']);
    assert.equal(untar.code, 0, untar.stderr);
    const hostIndex = readTopIndex(hostLayout);
    assert.equal(hostIndex.manifests.length, 1);
    const hostArch = multi.foreignArch === 'arm64' ? 'amd64' : 'arm64';
    assert.equal(listed.find((d) => d.platform?.architecture === hostArch)?.digest, hostIndex.manifests[0]!.digest);
  });

  it('both images have the same config (command, user, entrypoint, environment, labels), only the platform differs', () => {
    // Except the test base's own key, which names each architecture's base.
    const withoutBaseKey = (arch: string): Record<string, unknown> => {
      const config = configs.get(arch)?.config ?? {};
      const labels = { ...(config.Labels as Record<string, string> | undefined) };
      assert.match(labels['ssm-test.base-key'] ?? '', /^[0-9a-f]{16}$/, `${arch}: the base's key label`);
      delete labels['ssm-test.base-key'];
      return { ...config, Labels: labels };
    };
    assert.deepEqual(withoutBaseKey('arm64'), withoutBaseKey('amd64'));
  });

  it("each image's Node is an ELF executable of its own architecture (e_machine 0x3E amd64, 0xB7 arm64)", () => {
    for (const [arch, root] of roots) {
      assert.equal(elfMachine(join(root, 'usr', 'local', 'bin', 'node')), E_MACHINE[arch], `${arch}: /usr/local/bin/node`);
    }
  });

  it("each image has the node agent's nsenter, an ELF executable of its own architecture", () => {
    for (const [arch, root] of roots) {
      assert.equal(elfMachine(join(root, 'usr', 'bin', 'nsenter')), E_MACHINE[arch], `${arch}: /usr/bin/nsenter`);
    }
  });

  it('both carry the same /app: sources, package files and node_modules, file for file and byte for byte', () => {
    // Each image's node_modules is its own `npm ci` (the foreign one under qemu-user); no production dependency is
    // platform-specific, so they must agree. The compile cache is each architecture's own warm-up: present in
    // both, not compared.
    const skip = new Set(['.node-compile-cache']);
    const amd = tree(join(roots.get('amd64')!, 'app'), skip);
    const arm = tree(join(roots.get('arm64')!, 'app'), skip);
    for (const dir of ['operator', 'node-agent', 'node_modules']) {
      assert.ok(filesUnder(amd, dir).length > 0, `/app/${dir} is in the amd64 image`);
      assert.deepEqual(filesUnder(arm, dir), filesUnder(amd, dir), `/app/${dir}: the same files`);
    }
    assert.ok(amd.has('package-lock.json') && amd.has(join('operator', 'main.ts')) && amd.has(join('node-agent', 'main.ts')));
    assert.deepEqual(arm, amd, 'the same content, file for file');
    for (const [arch, root] of roots) {
      assert.ok(readdirSync(join(root, 'app', '.node-compile-cache')).length > 0, `${arch}: the compile cache was warmed`);
    }
  });

  it("the foreign image's Node runs under qemu-user and is the pinned release", async (t) => {
    const foreign = roots.get(multi.foreignArch)!;
    const qemu = await run('sh', ['-c', `command -v ${QEMU[multi.foreignArch] ?? ''}`]);
    if (qemu.code !== 0) {
      t.skip(`${QEMU[multi.foreignArch] ?? ''} is not installed`);
      return;
    }
    // qemu-user's -L: the foreign root is the dynamic loader's and libraries' root; no binfmt_misc needed.
    const version = await run(qemu.stdout.trim(), ['-L', foreign, join(foreign, 'usr', 'local', 'bin', 'node'), '--version']);
    assert.equal(version.code, 0, version.stderr);
    const env = configs.get(multi.foreignArch)?.config.Env;
    assert.ok(Array.isArray(env) && env.includes(`NODE_VERSION=${version.stdout.trim().slice(1)}`), `${version.stdout} vs ${String(env)}`);
  });

  it('containerd imports it under the app image reference, as the index of both platforms', async () => {
    const c = await startContainerd();
    try {
      await c.importArchive(multi.archive); // as a node imports the host archive: unpacks this machine's instance
      const ls = await c.ctr(['images', 'ls']);
      assert.equal(ls.code, 0, ls.stderr);
      const row = ls.stdout.split('\n').map((l) => l.split(/\s+/)).find((cols) => cols[0] === multi.appImage);
      assert.ok(row, `${multi.appImage} in:\n${ls.stdout}`);
      assert.equal(row[2], multi.indexDigest, 'the image is the index');
      assert.match(ls.stdout, /linux\/amd64,linux\/arm64/);
      const all = await c.ctr(['images', 'import', '--all-platforms', '--no-unpack', multi.archive]);
      assert.equal(all.code, 0, all.stderr);
      for (const [arch, digest] of multi.manifests) {
        const manifest = await c.ctr(['content', 'get', digest]);
        assert.equal(manifest.code, 0, `${arch} manifest in the content store: ${manifest.stderr}`);
        assert.equal(parseManifest(JSON.parse(manifest.stdout) as unknown, arch).layers.length, manifests.get(arch)?.layers.length);
      }
    } finally {
      await c.stop();
    }
  });

  it('a second run builds nothing and needs no network: same entry, same archive', async () => {
    const mtime = statSync(multi.archive).mtimeMs;
    // In a network namespace of its own: only loopback, and that is down.
    const again = await run('unshare', ['--net', '--', 'bash', ENSURE_IMAGES_SCRIPT, '--multiarch']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.stdout.trim().split('\n'), [multi.dir], 'exactly one line on stdout: the directory');
    assert.deepEqual(readMultiarchImage(multi.dir), multi);
    assert.equal(statSync(multi.archive).mtimeMs, mtime);
    assert.doesNotMatch(again.stderr, /buildah|debootstrap|binfmt/);
  });
});
