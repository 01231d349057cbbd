// Requests signed by the AWS SDK's own SigV4 signer (@smithy/signature-v4, the signer @aws-sdk/client-ssm uses),
// for tests that send raw requests to the emulator: an independent check of the emulator's verifier (sigv4.ts).
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

type Bytes = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: Exclude<Bytes, string>): Buffer {
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}

/** node:crypto as the signer's hash: SHA-256, or HMAC-SHA-256 when constructed with a secret. */
class NodeSha256 {
  private readonly h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: Bytes) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', typeof secret === 'string' ? secret : toBuffer(secret));
  }
  update(data: Bytes): void {
    this.h.update(typeof data === 'string' ? data : toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

export interface SdkSignInput {
  /** http://host:port */
  url: string;
  path?: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region: string;
  service?: string;
  signingDate?: Date;
}

/** The headers (Authorization, X-Amz-Date, host, …) the SDK's signer produces for this request. */
export async function sdkSignedHeaders(input: SdkSignInput): Promise<Record<string, string>> {
  const url = new URL(input.url);
  const signer = new SignatureV4({ credentials: input.credentials, region: input.region, service: input.service ?? 'ssm', sha256: NodeSha256 });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: input.path ?? '/',
      query: input.query ?? {},
      headers: { host: url.host, ...input.headers },
      body: input.body,
    },
    input.signingDate ? { signingDate: input.signingDate } : {},
  );
  return signed.headers;
}
