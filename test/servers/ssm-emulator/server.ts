// The SSM API emulator's HTTP server: routes awsJson 1.1 requests on X-Amz-Target, authenticates them with SigV4
// (RegisterManagedInstance may come anonymously, as the agent sends it), applies armed faults, runs the operation
// and records the call. Loopback by default. A small control API under /__emulator/ serves a standalone
// emulator's tests (control.ts).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createActivation, deleteActivation, describeActivations, registerManagedInstance, type OperationContext } from './activations.ts';
import { createClock, type EmulatorClock } from './clock.ts';
import { handleControl, CONTROL_PREFIX } from './control.ts';
import { createFaults, type EmulatorFaults } from './faults.ts';
import type { Json, JsonObject } from './input.ts';
import { addTagsToResource, deregisterManagedInstance, describeInstanceInformation, listTagsForResource } from './instances.ts';
import { verifyRsaSignature } from './rsa-auth.ts';
import { requestManagedInstanceRoleToken, updateInstanceInformation } from './role-token.ts';
import { verifySigV4, type AuthFailure, type AuthSuccess } from './sigv4.ts';
import { EmulatorState } from './state.ts';
import { CONTENT_TYPE, errorResponse, okResponse, SsmError, TARGET_PREFIX, type WireResponse } from './wire.ts';

/** AWS's documentation example key pair: the emulator's one known identity unless told otherwise. */
export const TEST_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
} as const;

export type Operation = (body: JsonObject, ctx: OperationContext) => JsonObject;

export const OPERATIONS: Readonly<Record<string, Operation>> = {
  CreateActivation: createActivation,
  DescribeActivations: describeActivations,
  DeleteActivation: deleteActivation,
  RegisterManagedInstance: registerManagedInstance,
  DescribeInstanceInformation: describeInstanceInformation,
  DeregisterManagedInstance: deregisterManagedInstance,
  AddTagsToResource: addTagsToResource,
  ListTagsForResource: listTagsForResource,
  RequestManagedInstanceRoleToken: requestManagedInstanceRoleToken,
  UpdateInstanceInformation: updateInstanceInformation,
};

/** Operations SSM serves without credentials (the agent registers with AnonymousCredentials). */
const ANONYMOUS_OPERATIONS = new Set(['RegisterManagedInstance']);
/** Operations a managed instance signs with its registration key (rsa-auth.ts) rather than with an access key. */
const INSTANCE_KEY_OPERATIONS = new Set(['RequestManagedInstanceRoleToken']);
/** Operations the agent makes with its role credentials; nothing else may use them here. */
const ROLE_CREDENTIAL_OPERATIONS = new Set(['UpdateInstanceInformation']);
const MAX_BODY_BYTES = 1024 * 1024;

export interface SsmEmulatorOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 0 (any free port) */
  port?: number;
  /** default us-east-1 */
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** how long after its last ping an instance is still Online (default 10 minutes of the emulator's clock) */
  pingTimeoutMs?: number;
  /** the wall clock SigV4 dates are checked against (default Date.now) */
  wallClock?: () => number;
}

export interface SsmEmulator {
  /** http://host:port, the endpoint to give the SDK */
  url: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  state: EmulatorState;
  faults: EmulatorFaults;
  clock: EmulatorClock;
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: WireResponse): void {
  res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
  res.end(r.body);
}

function redact(input: JsonObject): JsonObject {
  return 'ActivationCode' in input ? { ...input, ActivationCode: '(redacted)' } : input;
}

interface Handled {
  response: WireResponse;
  operation: string;
  anonymous: boolean;
  accessKeyId?: string;
  input: JsonObject;
}

function handleApi(
  req: IncomingMessage,
  body: Buffer,
  env: { state: EmulatorState; faults: EmulatorFaults; region: string; keys: ReadonlyMap<string, string>; wall: () => number },
): Handled {
  const requestId = randomUUID();
  const target = String(req.headers['x-amz-target'] ?? '');
  const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
  const base = { operation: operation || '(none)', anonymous: false, input: {} as JsonObject };
  const failWith = (err: SsmError, extra: Partial<Handled> = {}): Handled => ({ ...base, ...extra, response: errorResponse(err, requestId) });
  if (req.method !== 'POST' || !target.startsWith(TARGET_PREFIX) || !Object.hasOwn(OPERATIONS, operation)) {
    return failWith(new SsmError('UnknownOperationException', '', req.method === 'POST' ? 400 : 404));
  }
  const contentType = String(req.headers['content-type'] ?? '').split(';')[0]?.trim();
  if (contentType !== CONTENT_TYPE) {
    return failWith(new SsmError('SerializationException', `Expected Content-Type ${CONTENT_TYPE}, got ${JSON.stringify(contentType)}`));
  }
  let accessKeyId: string | undefined;
  let instanceId: string | undefined;
  const anonymous = ANONYMOUS_OPERATIONS.has(operation) && req.headers.authorization === undefined;
  const request = { method: req.method, target: req.url ?? '/', headers: req.headers, body };
  if (INSTANCE_KEY_OPERATIONS.has(operation)) {
    const auth = verifyRsaSignature(request, {
      publicKeyOf: (id) => env.state.instanceMap.get(id)?.publicKey,
      region: env.region,
      now: new Date(env.wall()),
    });
    if (!auth.ok) return failWith(new SsmError(auth.type, auth.message));
    instanceId = auth.instanceId;
    accessKeyId = auth.instanceId;
  } else if (!anonymous) {
    const auth = authenticateAccessKey(request, operation, env);
    if (auth instanceof SsmError) return failWith(auth);
    accessKeyId = auth.accessKeyId;
    instanceId = auth.instanceId;
  }
  let parsed: Json;
  try {
    parsed = body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Json);
  } catch {
    return failWith(new SsmError('SerializationException', 'Start of structure or map found where not expected.'), { anonymous, accessKeyId });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return failWith(new SsmError('SerializationException', 'Start of list found where not expected'), { anonymous, accessKeyId });
  }
  const input = parsed;
  const ctx = { anonymous, accessKeyId, input: redact(input) };
  const fault = env.faults.check(operation);
  if (fault) return failWith(fault, ctx);
  const handler = OPERATIONS[operation] as Operation;
  try {
    const userAgent = String(req.headers['user-agent'] ?? '');
    const output = handler(input, { state: env.state, userAgent, ...(instanceId !== undefined ? { instanceId } : {}) });
    const lost = env.faults.checkAfter(operation);
    if (lost) return failWith(lost, ctx);
    return { ...base, ...ctx, response: okResponse(output, requestId) };
  } catch (err) {
    if (err instanceof SsmError) return failWith(err, ctx);
    console.error(`ssm-emulator: ${operation} failed:`, err);
    return failWith(new SsmError('InternalServerError', ''), ctx);
  }
}

/**
 * SigV4 with the emulator's IAM key, or with a managed instance's role credentials (then the session token must
 * match, the credentials must not have expired, and only the agent's own operations are allowed).
 */
function authenticateAccessKey(
  request: { method: string; target: string; headers: IncomingMessage['headers']; body: Buffer },
  operation: string,
  env: { state: EmulatorState; faults: EmulatorFaults; region: string; keys: ReadonlyMap<string, string>; wall: () => number },
): { accessKeyId: string; instanceId?: string } | SsmError {
  const secrets = new Map(env.keys);
  for (const [id, c] of env.state.roleCredentialMap) secrets.set(id, c.secretAccessKey);
  const auth: AuthSuccess | AuthFailure = verifySigV4(request, { credentials: secrets, region: env.region, service: 'ssm', now: new Date(env.wall()) });
  if (!auth.ok) return new SsmError(auth.type, auth.message);
  const role = env.state.roleCredentialMap.get(auth.accessKeyId);
  if (!role) return { accessKeyId: auth.accessKeyId };
  if (request.headers['x-amz-security-token'] !== role.sessionToken) {
    return new SsmError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (env.faults.roleTokenFault() === 'Expired' || role.expiresAt.getTime() <= env.state.clock.now().getTime()) {
    return new SsmError('ExpiredTokenException', 'The security token included in the request is expired');
  }
  if (!ROLE_CREDENTIAL_OPERATIONS.has(operation)) {
    return new SsmError('AccessDeniedException', `User: arn:aws:sts::123456789012:assumed-role/${env.state.instanceMap.get(role.instanceId)?.iamRole ?? 'role'}/${role.instanceId} is not authorized to perform: ssm:${operation}`);
  }
  return { accessKeyId: auth.accessKeyId, instanceId: role.instanceId };
}

export async function startSsmEmulator(opts: SsmEmulatorOptions = {}): Promise<SsmEmulator> {
  const region = opts.region ?? 'us-east-1';
  const credentials = { ...(opts.credentials ?? TEST_CREDENTIALS) };
  const wall = opts.wallClock ?? Date.now;
  const clock = createClock(wall);
  const faults = createFaults(wall);
  const state = new EmulatorState(clock, opts.pingTimeoutMs);
  const keys = new Map([[credentials.accessKeyId, credentials.secretAccessKey]]);

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if ((req.url ?? '').startsWith(CONTROL_PREFIX)) {
        send(res, handleControl(req.method ?? 'GET', req.url ?? '', body ?? Buffer.alloc(0), { state, faults, clock }));
        return;
      }
      if (body === undefined) {
        send(res, errorResponse(new SsmError('SerializationException', 'Request entity too large', 413), randomUUID()));
        return;
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
      let gone = false;
      res.once('close', () => {
        if (!res.writableFinished) gone = true;
      });
      const before = faults.holdPoint(operation, 'before');
      if (before) {
        await before;
        // never forwarded: the service did not see it
        if (gone) return;
      }
      const handled = handleApi(req, body, { state, faults, region, keys, wall });
      const code = JSON.parse(handled.response.body) as { __type?: string };
      state.record({
        at: clock.now(),
        operation: handled.operation,
        status: handled.response.status,
        code: handled.response.status === 200 ? 'OK' : (code.__type ?? 'Unknown').replace(/^.*#/, ''),
        anonymous: handled.anonymous,
        ...(handled.accessKeyId !== undefined ? { accessKeyId: handled.accessKeyId } : {}),
        ...(req.headers['user-agent'] !== undefined ? { userAgent: req.headers['user-agent'] } : {}),
        input: handled.input,
      });
      const after = faults.holdPoint(operation, 'after');
      if (after) await after;
      if (!gone) send(res, handled.response);
    })().catch((err: unknown) => {
      console.error('ssm-emulator: request failed:', err);
      if (!res.headersSent) send(res, errorResponse(new SsmError('InternalServerError', ''), randomUUID()));
      else res.destroy();
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  const host = opts.host ?? '127.0.0.1';
  server.listen(opts.port ?? 0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('ssm-emulator: no TCP address');
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${address.port}`,
    region,
    credentials,
    state,
    faults,
    clock,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
