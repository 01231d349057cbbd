// EC2 detection against a loopback IMDSv2 that speaks the real protocol (token first, then metadata with it).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { detectEc2 } from '../../node-agent/steps/imds.ts';
import { ec2HardwareFromDmi } from '../../node-agent/steps/dmi.ts';
import { registrationNeed } from '../../node-agent/steps/register.ts';

let imds: Server;
let url: string;
const seen: string[] = [];

before(async () => {
  imds = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.writeHead(400).end();
      return res.end('TOKEN-123');
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== 'TOKEN-123') return res.writeHead(401).end();
    if (req.url === '/latest/meta-data/instance-id') return res.end('i-0123456789abcdef0');
    if (req.url === '/latest/meta-data/placement/region') return res.end('eu-central-1');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => imds.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
});

after(() => imds.close());

test('an EC2 instance is recognised through IMDSv2, token first', async () => {
  assert.deepEqual(await detectEc2(url), { instanceId: 'i-0123456789abcdef0', region: 'eu-central-1' });
  assert.equal(seen[0], 'PUT /latest/api/token');
});

test('no IMDS (nothing listening) means not EC2, quickly and without throwing', async () => {
  assert.equal(await detectEc2('http://127.0.0.1:9', 500), undefined);
});

test('an IMDS that never answers is given up after the timeout', async () => {
  const silent = createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    assert.equal(await detectEc2(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, 200), undefined);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});

test('a token request that fails twice (lost answer, 500) is tried again: still EC2', async () => {
  let tokens = 0;
  const flaky = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      tokens++;
      if (tokens === 1) return req.socket.destroy(); // the answer is lost
      if (tokens === 2) return res.writeHead(500).end();
      return res.end('T');
    }
    if (req.url === '/latest/meta-data/instance-id') return res.end('i-0123456789abcdef0');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  try {
    const found = await detectEc2(`http://127.0.0.1:${(flaky.address() as AddressInfo).port}`, 500, { retryDelayMs: 10 });
    assert.equal(found?.instanceId, 'i-0123456789abcdef0');
    assert.equal(tokens, 3);
    // One try only (the old behaviour) would have said "not EC2".
    tokens = 0;
    assert.equal(await detectEc2(`http://127.0.0.1:${(flaky.address() as AddressInfo).port}`, 500, { attempts: 1 }), undefined);
  } finally {
    flaky.closeAllConnections();
    flaky.close();
  }
});

test('a 403 from IMDS (an answer) is not retried', async () => {
  let tokens = 0;
  const refusing = createServer((_req, res) => {
    tokens++;
    res.writeHead(403).end();
  });
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
  try {
    assert.equal(await detectEc2(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`, 500, { retryDelayMs: 10 }), undefined);
    assert.equal(tokens, 1);
  } finally {
    refusing.close();
  }
});

test('DMI: "Amazon EC2" vendors and ec2… UUIDs are EC2 hardware; others are not', () => {
  assert.equal(ec2HardwareFromDmi({ '/sys/class/dmi/id/sys_vendor': 'Amazon EC2\n' }), true);
  assert.equal(ec2HardwareFromDmi({ '/sys/class/dmi/id/bios_vendor': 'Amazon EC2\n', '/sys/class/dmi/id/sys_vendor': 'Xen' }), true);
  assert.equal(ec2HardwareFromDmi({ '/sys/class/dmi/id/sys_vendor': 'Xen', '/sys/hypervisor/uuid': 'ec2e1916-9099-7caf-fd21-012345abcdef\n' }), true);
  assert.equal(ec2HardwareFromDmi({ '/sys/class/dmi/id/product_uuid': 'EC2E1916-9099-7CAF-FD21-012345ABCDEF' }), true);
  assert.equal(ec2HardwareFromDmi({ '/sys/class/dmi/id/sys_vendor': 'QEMU', '/sys/class/dmi/id/product_uuid': '4c4c4544-0042-3510-8052-b3c04f4e4e32' }), false);
  assert.equal(ec2HardwareFromDmi({ '/sys/class/dmi/id/sys_vendor': 'Not Amazon EC2 at all' }), false);
  assert.equal(ec2HardwareFromDmi({}), false);
});

test('Auto mode on EC2 hardware whose IMDS did not answer refuses to register as hybrid, with the fix', () => {
  const need = registrationNeed('Auto', false, undefined, 'us-east-1', true);
  assert.equal(need.register, false);
  assert.ok(!need.register && need.refuse);
  assert.equal(need.refuse.reason, 'ImdsUnreachable');
  assert.match(need.refuse.message, /mode to Hybrid/);
  assert.equal(registrationNeed('Hybrid', false, undefined, 'us-east-1', true).register, true, 'Hybrid on purpose');
  assert.equal(registrationNeed('Auto', false, undefined, 'us-east-1', false).register, true, 'not EC2 hardware: hybrid');
  const registered = registrationNeed('Auto', false, { region: 'us-east-1' }, 'us-east-1', true);
  assert.ok(!registered.register && !registered.refuse, 'already registered: nothing to refuse');
});
