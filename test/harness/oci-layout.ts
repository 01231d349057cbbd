// Reads an OCI image layout (an unpacked OCI archive) the way a runtime does, without running anything from it:
// every blob read is checked against its descriptor's digest and size, and an image's root file system is its
// layers applied in order, whiteouts included (the OCI image spec's layer format).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { run } from './containerd.ts';

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Index {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
}

export interface Manifest {
  readonly schemaVersion: number;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!isRecord(v)) throw new Error(`${where}: not a descriptor`);
  const { mediaType, digest, size, platform, annotations } = v;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new Error(`${where}: descriptor without a mediaType or a sha256 digest: ${JSON.stringify(v)}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new Error(`${where}: bad size ${String(size)}`);
  let p: Platform | undefined;
  if (platform !== undefined) {
    if (!isRecord(platform) || typeof platform.architecture !== 'string' || typeof platform.os !== 'string') {
      throw new Error(`${where}: bad platform ${JSON.stringify(platform)}`);
    }
    p = { architecture: platform.architecture, os: platform.os, ...(typeof platform.variant === 'string' ? { variant: platform.variant } : {}) };
  }
  let a: Record<string, string> | undefined;
  if (annotations !== undefined) {
    if (!isRecord(annotations) || Object.values(annotations).some((x) => typeof x !== 'string')) throw new Error(`${where}: bad annotations`);
    a = annotations as Record<string, string>;
  }
  return { mediaType, digest, size, ...(p ? { platform: p } : {}), ...(a ? { annotations: a } : {}) };
}

export function parseIndex(v: unknown, where: string): Index {
  if (!isRecord(v) || v.schemaVersion !== 2 || !Array.isArray(v.manifests)) throw new Error(`${where}: not an OCI image index`);
  const manifests = v.manifests.map((m: unknown, i) => descriptor(m, `${where}.manifests[${i}]`));
  return { schemaVersion: 2, ...(typeof v.mediaType === 'string' ? { mediaType: v.mediaType } : {}), manifests };
}

export function parseManifest(v: unknown, where: string): Manifest {
  if (!isRecord(v) || v.schemaVersion !== 2 || typeof v.mediaType !== 'string' || !Array.isArray(v.layers)) {
    throw new Error(`${where}: not an OCI image manifest`);
  }
  return {
    schemaVersion: 2,
    mediaType: v.mediaType,
    config: descriptor(v.config, `${where}.config`),
    layers: v.layers.map((l: unknown, i) => descriptor(l, `${where}.layers[${i}]`)),
  };
}

/** The path of the blob `d` in `layout`, once its bytes are checked against the descriptor. */
export function blobPath(layout: string, d: Descriptor): string {
  const path = join(layout, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
  const bytes = readFileSync(path);
  if (bytes.length !== d.size) throw new Error(`blob ${d.digest}: ${bytes.length} bytes, the descriptor says ${d.size}`);
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== d.digest) throw new Error(`blob ${d.digest} hashes to ${got}`);
  return path;
}

export function readJsonBlob(layout: string, d: Descriptor): unknown {
  return JSON.parse(readFileSync(blobPath(layout, d), 'utf8')) as unknown;
}

/** index.json of the layout. */
export function readTopIndex(layout: string): Index {
  return parseIndex(JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as unknown, 'index.json');
}

async function tar(args: readonly string[]): Promise<string> {
  const r = await run('tar', args, 600_000);
  if (r.code !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Applies the image's layers in order under `target` (an empty directory): each layer's whiteouts first remove
 * what they hide in the layers below, then its other entries are extracted. Device nodes are left out.
 */
export async function unpackImage(layout: string, manifest: Manifest, target: string): Promise<void> {
  for (const layer of manifest.layers) {
    if (!/^application\/vnd\.oci\.image\.layer\.v1\.tar(\+gzip|\+zstd)?$/.test(layer.mediaType)) throw new Error(`layer media type ${layer.mediaType}`);
    const path = blobPath(layout, layer);
    for (const entry of (await tar(['-tf', path])).split('\n')) {
      const name = posix.normalize(entry.replace(/^\.?\//, ''));
      if (name === '..' || name.startsWith('../')) throw new Error(`layer ${layer.digest}: entry outside the root: ${entry}`);
      const base = posix.basename(name);
      if (!base.startsWith('.wh.')) continue;
      const dir = join(target, dirname(name));
      if (base === '.wh..wh..opq') {
        for (const e of safeList(dir)) rmSync(join(dir, e), { recursive: true, force: true });
      } else {
        rmSync(join(dir, base.slice('.wh.'.length)), { recursive: true, force: true });
      }
    }
    await tar(['-xf', path, '-C', target, '--numeric-owner', '--exclude=.wh.*', '--exclude=./dev/*', '--exclude=dev/*']);
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
