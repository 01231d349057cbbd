// EC2 detection through IMDSv2 (session token first), with a short timeout: on a non-EC2 host 169.254.169.254
// does not answer, and the node agent must not hang on it. The node agent runs on the host network.
import { request } from 'node:http';

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

export async function detectEc2(endpoint: string, timeoutMs = 1000): Promise<{ instanceId: string; region: string } | undefined> {
  const base = new URL(endpoint);
  const token = await call(new URL('/latest/api/token', base), 'PUT', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, timeoutMs);
  if (!token || token.status !== 200 || !token.body) return undefined;
  const headers = { 'X-aws-ec2-metadata-token': token.body };
  const [id, region] = await Promise.all([
    call(new URL('/latest/meta-data/instance-id', base), 'GET', headers, timeoutMs),
    call(new URL('/latest/meta-data/placement/region', base), 'GET', headers, timeoutMs),
  ]);
  if (id?.status !== 200 || !/^i-[0-9a-f]+$/.test(id.body.trim())) return undefined;
  return { instanceId: id.body.trim(), region: region?.status === 200 ? region.body.trim() : '' };
}
