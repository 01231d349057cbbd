// EC2 detection through IMDSv2 (session token first), with a short timeout and a few tries: on a non-EC2 host
// 169.254.169.254 does not answer, and the node agent must not hang on it; on an EC2 host one lost answer must not
// make it "not EC2". The node agent runs on the host network. The DMI vendor (dmi.ts) is the second signal.
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { request } = process.getBuiltinModule('node:http');

function call(url: URL, method: 'GET' | 'PUT', headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method, headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 65_536) body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

export interface DetectEc2Options {
  /** tries of the token request (default 3): one lost packet or a busy IMDS must not make an EC2 host "hybrid" */
  attempts?: number;
  /** pause before the n-th retry: n × this (default 250 ms) */
  retryDelayMs?: number;
}

export async function detectEc2(endpoint: string, timeoutMs = 1000, opts: DetectEc2Options = {}): Promise<{ instanceId: string; region: string } | undefined> {
  const base = new URL(endpoint);
  const attempts = Math.max(1, Math.min(10, opts.attempts ?? 3));
  let token: { status: number; body: string } | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    token = await call(new URL('/latest/api/token', base), 'PUT', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, timeoutMs);
    // 4xx other than throttling is an answer (IMDSv2 disabled, say): retrying does not change it.
    if (token && (token.status === 200 || (token.status >= 400 && token.status < 500 && token.status !== 429))) break;
    if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, attempt * (opts.retryDelayMs ?? 250)));
  }
  if (!token || token.status !== 200 || !token.body) return undefined;
  const headers = { 'X-aws-ec2-metadata-token': token.body };
  const [id, region] = await Promise.all([
    call(new URL('/latest/meta-data/instance-id', base), 'GET', headers, timeoutMs),
    call(new URL('/latest/meta-data/placement/region', base), 'GET', headers, timeoutMs),
  ]);
  if (id?.status !== 200 || !/^i-[0-9a-f]+$/.test(id.body.trim())) return undefined;
  return { instanceId: id.body.trim(), region: region?.status === 200 ? region.body.trim() : '' };
}
