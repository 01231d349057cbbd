// The calls a registered amazon-ssm-agent makes to SSM, made the way it makes them (read in aws/amazon-ssm-agent:
// agent/ssm/rsaauth for the RSA-signed role-token request, agent/health for the SigV4-signed ping), for the
// emulator's own tests. The stand-in agent (test/fixtures/stand-in-agent) makes the same calls from the host.
import { constants, createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { request } from 'node:http';
import { canonicalRequest, formatAmzDate, sha256Hex, signHeaders, stringToSign } from '../servers/ssm-emulator/sigv4.ts';

export interface AgentKeys {
  /** base64 PKCS#1 DER, as the agent keeps it in its vault */
  privateKey: string;
  /** base64 PKIX DER, as the agent sends it to RegisterManagedInstance */
  publicKey: string;
}

export function newAgentKeys(): AgentKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64'),
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

export interface WireAnswer {
  status: number;
  body: Record<string, unknown>;
}

function post(url: string, headers: Record<string, string>, body: string): Promise<WireAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function baseHeaders(url: string, operation: string): Record<string, string> {
  return {
    host: new URL(url).host,
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': `AmazonSSM.${operation}`,
  };
}

/** The agent's RSA signature: SigV4's string to sign, signed RSASSA-PSS/SHA-256 with a 32-byte salt, base64. */
export function rsaAuthorization(
  req: { method: string; target: string; headers: Record<string, string>; body: string },
  instanceId: string,
  key: KeyObject,
  region: string,
  now: Date,
): Record<string, string> {
  const amzDate = formatAmzDate(now);
  const headers = { ...req.headers, 'x-amz-date': amzDate };
  const signed = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const canonical = canonicalRequest({ method: req.method, target: req.target, headers, payloadHash: sha256Hex(req.body) }, signed);
  const scope = `${amzDate.slice(0, 8)}/${region}/ssm/aws4_request`;
  const signature = sign('sha256', Buffer.from(stringToSign(amzDate, scope, canonical)), {
    key,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  }).toString('base64');
  return {
    ...headers,
    'x-amz-content-sha256': createHash('sha256').update(req.body).digest('hex'),
    authorization: `AWS4-HMAC-SHA256 Credential=${instanceId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`,
  };
}

export function requestRoleToken(url: string, region: string, instanceId: string, privateKey: string, fingerprint: string, now = new Date()): Promise<WireAnswer> {
  const body = JSON.stringify({ Fingerprint: fingerprint });
  const key = createPrivateKey({ key: Buffer.from(privateKey, 'base64'), format: 'der', type: 'pkcs1' });
  const headers = rsaAuthorization({ method: 'POST', target: '/', headers: baseHeaders(url, 'RequestManagedInstanceRoleToken'), body }, instanceId, key, region, now);
  return post(url, { ...headers, 'user-agent': 'amazon-ssm-agent/3.3.1142.0' }, body);
}

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export function ping(url: string, region: string, creds: RoleCredentials, input: Record<string, string>, now = new Date()): Promise<WireAnswer> {
  const body = JSON.stringify({ AgentName: 'amazon-ssm-agent', AgentStatus: 'Active', PlatformType: 'Linux', ...input });
  const headers = signHeaders({ method: 'POST', target: '/', headers: baseHeaders(url, 'UpdateInstanceInformation'), body }, creds, region, 'ssm', now);
  return post(url, headers, body);
}

export function registerAnonymously(url: string, input: { activationId: string; activationCode: string; publicKey: string; fingerprint: string }): Promise<WireAnswer> {
  const body = JSON.stringify({
    ActivationCode: input.activationCode,
    ActivationId: input.activationId,
    PublicKey: input.publicKey,
    PublicKeyType: 'Rsa',
    Fingerprint: input.fingerprint,
  });
  return post(url, { ...baseHeaders(url, 'RegisterManagedInstance'), 'user-agent': 'amazon-ssm-agent/3.3.1142.0' }, body);
}
