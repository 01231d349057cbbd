// The test cluster's images (test/tools/ensure-images.sh): the repository's own Dockerfile built without a registry
// or a Docker engine, and a pause image, as OCI archives for `ctr -n k8s.io images import`, cached per content.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSetupScriptOnce } from './setup-script.ts';

const ENSURE_IMAGES = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'tools', 'ensure-images.sh');

export interface TestImages {
  /** the cache entry: images/<key>/ */
  readonly dir: string;
  readonly appArchive: string;
  readonly pauseArchive: string;
  /** localhost/ssm-agent-operator:<key> */
  readonly appImage: string;
  /** localhost/ssm-test/pause:1 */
  readonly pauseImage: string;
  /** size of the app archive (compressed layers) */
  readonly appImageBytes: number;
  /** size of the app image's unpacked root file system; undefined when the build could not tell */
  readonly appImageUnpackedBytes: number | undefined;
}

/** KEY=VALUE lines of refs.env; anything else is an error (the file is written by our script, never edited). */
export function parseRefsEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([A-Z][A-Z0-9_]*)=([^\s'"`$\\;]*)$/.exec(line);
    if (!m) throw new Error(`refs.env: unexpected line ${JSON.stringify(line)}`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

function required(env: Map<string, string>, key: string, pattern: RegExp): string {
  const value = env.get(key);
  if (value === undefined || !pattern.test(value)) throw new Error(`refs.env: ${key}=${String(value)} does not match ${String(pattern)}`);
  return value;
}

/** The images of the cache entry `dir`, from its refs.env. */
export function readTestImages(dir: string): TestImages {
  const env = parseRefsEnv(readFileSync(join(dir, 'refs.env'), 'utf8'));
  const unpacked = env.get('APP_IMAGE_UNPACKED_BYTES');
  return {
    dir,
    appArchive: join(dir, 'ssm-agent-operator.oci.tar'),
    pauseArchive: join(dir, 'pause.oci.tar'),
    appImage: required(env, 'APP_IMAGE', /^localhost\/ssm-agent-operator:[0-9a-f]{16}$/),
    pauseImage: required(env, 'PAUSE_IMAGE', /^localhost\/ssm-test\/pause:1$/),
    appImageBytes: Number(required(env, 'APP_IMAGE_BYTES', /^[1-9][0-9]*$/)),
    appImageUnpackedBytes: unpacked === undefined || unpacked === '' ? undefined : Number(required(env, 'APP_IMAGE_UNPACKED_BYTES', /^[1-9][0-9]*$/)),
  };
}

/** Runs ensure-images.sh once per process (a first build takes minutes; later runs well under a second). */
export async function ensureImages(): Promise<TestImages> {
  return readTestImages(await runSetupScriptOnce(ENSURE_IMAGES));
}

/** The multi-arch entry of `ensure-images.sh --multiarch`: one OCI image index of $APP_IMAGE for amd64 and arm64. */
export interface MultiarchImage {
  /** the cache entry: images-multiarch/<key>/ (the host entry's key) */
  readonly dir: string;
  /** the OCI archive: index.json names one image index, $APP_IMAGE */
  readonly archive: string;
  readonly appImage: string;
  /** os/architecture of each instance, as the index lists them */
  readonly platforms: readonly string[];
  readonly indexDigest: string;
  /** architecture (amd64, arm64) -> its image manifest's digest */
  readonly manifests: ReadonlyMap<string, string>;
  /** the architecture built under qemu-user (not this machine's) */
  readonly foreignArch: string;
  /** seconds the last cold build spent on the foreign base and on the foreign `buildah bud` */
  readonly foreignBaseSeconds: number;
  readonly foreignBudSeconds: number;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function readMultiarchImage(dir: string): MultiarchImage {
  const env = parseRefsEnv(readFileSync(join(dir, 'refs.env'), 'utf8'));
  const manifests = new Map<string, string>();
  for (const arch of ['amd64', 'arm64']) manifests.set(arch, required(env, `${arch.toUpperCase()}_MANIFEST`, DIGEST));
  return {
    dir,
    archive: join(dir, 'ssm-agent-operator.multiarch.oci.tar'),
    appImage: required(env, 'APP_IMAGE', /^localhost\/ssm-agent-operator:[0-9a-f]{16}$/),
    platforms: required(env, 'PLATFORMS', /^[a-z0-9/]+(,[a-z0-9/]+)*$/).split(','),
    indexDigest: required(env, 'INDEX_DIGEST', DIGEST),
    manifests,
    foreignArch: required(env, 'FOREIGN_ARCH', /^(amd64|arm64)$/),
    foreignBaseSeconds: Number(required(env, 'FOREIGN_BASE_SECONDS', /^[0-9]+$/)),
    foreignBudSeconds: Number(required(env, 'FOREIGN_BUD_SECONDS', /^[0-9]+$/)),
  };
}

/** Runs `ensure-images.sh --multiarch` once per process (a first build takes many minutes under qemu-user). */
export async function ensureMultiarchImage(): Promise<MultiarchImage> {
  return readMultiarchImage(await runSetupScriptOnce(ENSURE_IMAGES, ['--multiarch']));
}

export const ENSURE_IMAGES_SCRIPT = ENSURE_IMAGES;
