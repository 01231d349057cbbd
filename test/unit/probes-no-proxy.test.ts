import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bypassesProxy, matchNoProxy, parseIp, parseNoProxy } from '../../node-agent/probes/no-proxy.ts';

// [host, port, noProxy list, direct?]
type Case = [string, number, string[], boolean];

const cases: Case[] = [
  // empty list, nothing matches
  ['ssm.us-east-1.amazonaws.com', 443, [], false],
  ['ssm.us-east-1.amazonaws.com', 443, [''], false],
  ['ssm.us-east-1.amazonaws.com', 443, ['  ', ','], false],
  // * matches everything
  ['ssm.us-east-1.amazonaws.com', 443, ['*'], true],
  ['10.1.2.3', 443, ['*'], true],
  ['::1', 443, ['*'], true],
  ['example.com', 443, ['other.com', '*'], true],
  // exact host
  ['example.com', 443, ['example.com'], true],
  ['example.com', 443, ['example.org'], false],
  // domain suffix, with or without a leading dot, and *.
  ['a.example.com', 443, ['example.com'], true],
  ['a.b.example.com', 443, ['example.com'], true],
  ['a.example.com', 443, ['.example.com'], true],
  ['example.com', 443, ['.example.com'], true],
  ['a.example.com', 443, ['*.example.com'], true],
  ['example.com', 443, ['*.example.com'], true],
  ['badexample.com', 443, ['example.com'], false],
  ['badexample.com', 443, ['.example.com'], false],
  ['example.com.evil.net', 443, ['example.com'], false],
  ['com', 443, ['example.com'], false],
  ['ssm.us-east-1.amazonaws.com', 443, ['.amazonaws.com'], true],
  ['ssm.cn-north-1.amazonaws.com.cn', 443, ['.amazonaws.com'], false],
  ['ssm.cn-north-1.amazonaws.com.cn', 443, ['amazonaws.com.cn'], true],
  ['vpce-0abc.ssm.us-east-1.vpce.amazonaws.com', 443, ['.vpce.amazonaws.com'], true],
  // case-insensitive, both sides; trailing dots ignored
  ['SSM.US-EAST-1.AMAZONAWS.COM', 443, ['.amazonaws.com'], true],
  ['ssm.us-east-1.amazonaws.com', 443, ['.AmazonAWS.Com'], true],
  ['a.example.com.', 443, ['example.com'], true],
  ['a.example.com', 443, ['example.com.'], true],
  // whitespace- and comma-separated lists inside one entry
  ['a.example.com', 443, ['foo.org, .example.com'], true],
  ['a.example.com', 443, [' foo.org   example.com '], true],
  // ports
  ['example.com', 443, ['example.com:443'], true],
  ['example.com', 8443, ['example.com:443'], false],
  ['a.example.com', 443, ['.example.com:443'], true],
  ['a.example.com', 80, ['.example.com:443'], false],
  ['10.0.0.1', 443, ['10.0.0.1:443'], true],
  ['10.0.0.1', 8443, ['10.0.0.1:443'], false],
  ['::1', 443, ['[::1]:443'], true],
  ['::1', 80, ['[::1]:443'], false],
  ['[::1]', 443, ['[::1]'], true],
  // IPv4 addresses
  ['169.254.169.254', 80, ['169.254.169.254'], true],
  ['169.254.169.253', 80, ['169.254.169.254'], false],
  ['10.0.0.1', 443, ['10.0.0.10'], false],
  // IPv4 CIDR
  ['10.1.2.3', 443, ['10.0.0.0/8'], true],
  ['11.1.2.3', 443, ['10.0.0.0/8'], false],
  ['172.16.0.1', 443, ['172.16.0.0/12'], true],
  ['172.31.255.255', 443, ['172.16.0.0/12'], true],
  ['172.32.0.0', 443, ['172.16.0.0/12'], false],
  ['192.168.1.77', 443, ['192.168.1.64/27'], true],
  ['192.168.1.96', 443, ['192.168.1.64/27'], false],
  ['1.2.3.4', 443, ['0.0.0.0/0'], true],
  ['1.2.3.4', 443, ['1.2.3.4/32'], true],
  ['1.2.3.5', 443, ['1.2.3.4/32'], false],
  ['10.1.2.3', 443, ['10.1.2.99/24'], true], // host bits in the entry are ignored
  // IPv6 addresses and CIDR
  ['::1', 443, ['::1'], true],
  ['0:0:0:0:0:0:0:1', 443, ['::1'], true],
  ['::2', 443, ['::1'], false],
  ['2001:db8::1', 443, ['2001:db8::/32'], true],
  ['2001:db9::1', 443, ['2001:db8::/32'], false],
  ['fd00:ec2::254', 443, ['fd00:ec2::254'], true],
  ['fd12:3456::1', 443, ['fc00::/7'], true],
  ['fe80::1', 443, ['fc00::/7'], false],
  ['FE80::1%eth0', 443, ['fe80::/10'], true],
  ['::ffff:10.1.2.3', 443, ['10.0.0.0/8'], true], // IPv4-mapped counts as IPv4
  ['10.1.2.3', 443, ['::ffff:10.0.0.0/104'], true],
  ['2001:db8::1', 443, ['::/0'], true],
  ['10.1.2.3', 443, ['::/0'], false], // families never mix
  ['2001:db8::1', 443, ['0.0.0.0/0'], false],
  // names and addresses never match each other (no DNS here)
  ['127.0.0.1', 443, ['localhost'], false],
  ['localhost', 443, ['127.0.0.1'], false],
  ['localhost', 443, ['127.0.0.0/8'], false],
  ['10.0.0.1', 443, ['0.0.1'], false],
  ['localhost', 443, ['localhost'], true],
  // malformed entries match nothing (and do not break the others)
  ['example.com', 443, ['example.com:notaport'], false],
  ['example.com', 443, ['example.com:99999'], false],
  ['10.1.2.3', 443, ['10.0.0.0/33'], false],
  ['10.1.2.3', 443, ['10.0.0.0/abc'], false],
  ['10.1.2.3', 443, ['nonsense/8'], false],
  ['a.example.com', 443, ['[::1', '.example.com'], true],
  ['a.example.com', 443, ['*example.com'], false],
  ['a.example.com', 443, ['.'], false],
  // the operator always adds IMDS: it changes nothing for AWS endpoints
  ['ssm.us-east-1.amazonaws.com', 443, ['169.254.169.254'], false],
];

for (const [host, port, list, direct] of cases) {
  test(`no_proxy ${JSON.stringify(list)}: ${host}:${port} goes ${direct ? 'direct' : 'through the proxy'}`, () => {
    assert.equal(bypassesProxy(host, port, list), direct);
  });
}

test('matchNoProxy names the entry that matched', () => {
  assert.equal(matchNoProxy('a.example.com', 443, ['169.254.169.254', 'foo.org,.example.com']), '.example.com');
  assert.equal(matchNoProxy('10.9.9.9', 443, ['10.0.0.0/8']), '10.0.0.0/8');
  assert.equal(matchNoProxy('ssm.us-east-1.amazonaws.com', 443, ['169.254.169.254']), undefined);
});

test('parseNoProxy drops malformed entries and keeps the rest in order', () => {
  const rules = parseNoProxy(['example.com:xx', '10.0.0.0/8', '.a.b', '*', '[::1]:443', 'fe80::1']);
  assert.deepEqual(
    rules.map((r) => [r.kind, r.entry]),
    [
      ['cidr', '10.0.0.0/8'],
      ['domain', '.a.b'],
      ['all', '*'],
      ['address', '[::1]:443'],
      ['address', 'fe80::1'],
    ],
  );
});

test('parseIp: IPv4 and IPv6 forms, and what is not an address', () => {
  assert.deepEqual([...(parseIp('10.1.2.3') ?? [])], [10, 1, 2, 3]);
  assert.deepEqual([...(parseIp('::ffff:1.2.3.4') ?? [])], [1, 2, 3, 4]);
  assert.equal(parseIp('::')?.length, 16);
  assert.deepEqual([...(parseIp('2001:db8::ff00:42:8329') ?? [])], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0, 0x42, 0x83, 0x29]);
  assert.deepEqual(parseIp('[::1]'), parseIp('0:0:0:0:0:0:0:1'));
  assert.deepEqual([...(parseIp('64:ff9b::192.0.2.33') ?? [])].slice(12), [192, 0, 2, 33]);
  for (const bad of ['', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '1.2.3.4::', ':::', '1:2:3:4:5:6:7::8:9']) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});
