// EC2 detection against a loopback IMDSv2 that speaks the real protocol (token first, then metadata with it).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { detectEc2 } from '../../node-agent/steps/imds.ts';

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
