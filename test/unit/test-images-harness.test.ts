// The pure parts of the image harness: refs.env parsing (the nodes' image references come from it) and the
// mountinfo reader that containerd's clean-up relies on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mountsUnder } from '../harness/containerd.ts';
import { parseRefsEnv, readTestImages } from '../harness/images.ts';

const GOOD = [
  'APP_IMAGE=localhost/ssm-agent-operator:0123456789abcdef',
  'PAUSE_IMAGE=localhost/ssm-test/pause:1',
  'APP_IMAGE_BYTES=109465600',
  'APP_IMAGE_UNPACKED_BYTES=396756984',
  'APP_BUILD_SECONDS=150',
  '',
].join('\n');

function withRefs(text: string, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-refs-'));
  try {
    writeFileSync(join(dir, 'refs.env'), text);
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('refs.env: the references and sizes the cluster uses', () => {
  withRefs(GOOD, (dir) => {
    const images = readTestImages(dir);
    assert.equal(images.appImage, 'localhost/ssm-agent-operator:0123456789abcdef');
    assert.equal(images.pauseImage, 'localhost/ssm-test/pause:1');
    assert.equal(images.appImageBytes, 109465600);
    assert.equal(images.appImageUnpackedBytes, 396756984);
    assert.equal(images.appArchive, join(dir, 'ssm-agent-operator.oci.tar'));
  });
  withRefs(GOOD.replace('APP_IMAGE_UNPACKED_BYTES=396756984', 'APP_IMAGE_UNPACKED_BYTES='), (dir) => {
    assert.equal(readTestImages(dir).appImageUnpackedBytes, undefined);
  });
});

test('refs.env: anything but plain KEY=VALUE lines, or a reference of another shape, is refused', () => {
  assert.throws(() => parseRefsEnv('APP_IMAGE=$(reboot)\n'), /unexpected line/);
  assert.throws(() => parseRefsEnv('APP_IMAGE="x"; rm -rf /\n'), /unexpected line/);
  assert.throws(() => parseRefsEnv('export APP_IMAGE=x\n'), /unexpected line/);
  withRefs(GOOD.replace('localhost/ssm-agent-operator:0123456789abcdef', 'docker.io/evil/operator:latest'), (dir) => {
    assert.throws(() => readTestImages(dir), /APP_IMAGE=docker\.io\/evil\/operator:latest does not match/);
  });
  withRefs(GOOD.replace('APP_IMAGE_BYTES=109465600\n', ''), (dir) => {
    assert.throws(() => readTestImages(dir), /APP_IMAGE_BYTES=undefined/);
  });
});

test('mountsUnder: only mounts at or below the directory, deepest first, with escaped spaces decoded', () => {
  const mountinfo = [
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '90 22 0:50 / /tmp/ssm-containerd-ab/mnt-1 ro,relatime - overlay overlay ro,lowerdir=/x',
    '91 90 0:51 / /tmp/ssm-containerd-ab/mnt-1/proc rw - proc proc rw',
    '92 22 0:52 / /tmp/ssm-containerd-ab\\040x/mnt rw - tmpfs tmpfs rw',
    '93 22 0:53 / /tmp/ssm-containerd-abc rw - tmpfs tmpfs rw',
    '',
  ].join('\n');
  assert.deepEqual(mountsUnder('/tmp/ssm-containerd-ab', mountinfo), ['/tmp/ssm-containerd-ab/mnt-1/proc', '/tmp/ssm-containerd-ab/mnt-1']);
  assert.deepEqual(mountsUnder('/tmp/ssm-containerd-ab x', mountinfo), ['/tmp/ssm-containerd-ab x/mnt']);
  assert.deepEqual(mountsUnder('/nowhere', mountinfo), []);
});
