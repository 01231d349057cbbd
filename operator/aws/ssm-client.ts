// The operator's SSM client: @aws-sdk/client-ssm configured for a region, an optional endpoint override (a VPC
// endpoint, another partition's host, or the test emulator), FIPS, the SDK's retry (standard by default; adaptive
// adds client-side rate limiting) and credentials from the standard chain unless given.
//
// The standard chain (the SDK's default provider) tries, in order: environment variables, SSO/ini profiles,
// web identity (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), container credentials (EKS Pod Identity:
// AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) and IMDS. Credentials read from a
// Kubernetes Secret are passed as `credentials: {kind: 'static', …}`.
import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { awsAgents, type AwsProxy } from './proxy-agent.ts';
import { instrumentSsmClient, type SsmApiRequestsCounter } from './ssm-metrics.ts';

export type SsmCredentials =
  | { kind: 'chain' }
  | { kind: 'static'; accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export type SsmRetryMode = 'standard' | 'adaptive';

export interface SsmClientOptions {
  region: string;
  /** full URL of the SSM endpoint; default: the SDK's regional endpoint (FIPS/dual-stack when asked) */
  endpoint?: string;
  useFipsEndpoint?: boolean;
  useDualstackEndpoint?: boolean;
  /** default: the standard chain */
  credentials?: SsmCredentials;
  /** attempts per call, first one included (default 5) */
  maxAttempts?: number;
  /** default standard */
  retryMode?: SsmRetryMode;
  /** per-attempt socket timeout (default 10 s) and connection timeout (default 5 s) */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /** HTTPS_PROXY/HTTP_PROXY/NO_PROXY of the operator (the SDK ignores them by itself), see proxy-agent.ts */
  proxy?: AwsProxy;
  /** PEM CA certificates to trust instead of Node's bundle (AWS_CA_BUNDLE: an intercepting proxy's CA) */
  caBundle?: string;
  /** counts every attempt, see ssm-metrics.ts */
  requestsCounter?: SsmApiRequestsCounter;
}

export const DEFAULT_MAX_ATTEMPTS = 5;

/** Checks the options and turns them into the SDK's config (with new agents when a proxy or CA is set). */
export function ssmClientConfig(opts: SsmClientOptions): SSMClientConfig {
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(opts.region)) throw new Error(`SSM region ${JSON.stringify(opts.region)} is not a region name such as us-east-1`);
  const config: SSMClientConfig = {
    region: opts.region,
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: opts.retryMode ?? 'standard',
    requestHandler: {
      requestTimeout: opts.requestTimeoutMs ?? 10_000,
      connectionTimeout: opts.connectionTimeoutMs ?? 5_000,
      ...awsAgents(opts.proxy ?? {}, opts.caBundle),
    },
  };
  if (!Number.isInteger(config.maxAttempts) || (config.maxAttempts as number) < 1) throw new Error(`maxAttempts ${String(opts.maxAttempts)} must be an integer ≥ 1`);
  if (opts.endpoint !== undefined && opts.endpoint !== '') {
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw new Error(`SSM endpoint ${JSON.stringify(opts.endpoint)} is not a URL (e.g. https://vpce-0123-abcd.ssm.us-east-1.vpce.amazonaws.com)`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`SSM endpoint ${opts.endpoint} must be http(s)`);
    config.endpoint = opts.endpoint;
  }
  if (opts.useFipsEndpoint) config.useFipsEndpoint = true;
  if (opts.useDualstackEndpoint) config.useDualstackEndpoint = true;
  const creds = opts.credentials ?? { kind: 'chain' };
  if (creds.kind === 'static') {
    if (!creds.accessKeyId || !creds.secretAccessKey) throw new Error('static AWS credentials need an accessKeyId and a secretAccessKey');
    config.credentials = {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
    };
  }
  return config;
}

/** A configured client, instrumented when a counter is given. Call destroy() when done (it holds sockets). */
export function createSsmClient(opts: SsmClientOptions): SSMClient {
  const client = new SSMClient(ssmClientConfig(opts));
  if (opts.requestsCounter) instrumentSsmClient(client, opts.requestsCounter);
  return client;
}
