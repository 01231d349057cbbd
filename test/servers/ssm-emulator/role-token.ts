// What a registered agent calls next (read in aws/amazon-ssm-agent): RequestManagedInstanceRoleToken, signed with
// its registration key (rsa-auth.ts), returns temporary credentials of the activation's IAM role
// (common/identity/credentialproviders/onpremprovider/role_provider.go); UpdateInstanceInformation, SigV4-signed
// with those credentials, is its health ping every 5 minutes (agent/health/healthcheck.go), and so, as in Systems
// Manager, what makes the instance Online.
import { randomBytes } from 'node:crypto';
import type { OperationContext } from './activations.ts';
import { Input, type JsonObject } from './input.ts';
import { epochSeconds, SsmError } from './wire.ts';

/** How long the role credentials last (SSM's are an hour; the agent refreshes at half their life). */
export const ROLE_TOKEN_LIFETIME_MS = 60 * 60 * 1000;

export interface RoleCredential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  instanceId: string;
  expiresAt: Date;
}

/** Temporary access keys start with ASIA, like STS's. */
function newAccessKeyId(): string {
  return `ASIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`;
}

export function requestManagedInstanceRoleToken(body: JsonObject, { state, instanceId }: OperationContext): JsonObject {
  const input = new Input(body);
  const fingerprint = input.string('Fingerprint', { required: true, max: 256 });
  input.done();
  const instance = instanceId === undefined ? undefined : state.instanceMap.get(instanceId);
  if (!instance) throw new SsmError('InvalidInstanceId', `Instance Id ${instanceId ?? ''} is not a registered managed instance.`);
  if (instance.fingerprint !== undefined && instance.fingerprint !== fingerprint) {
    throw new SsmError('MachineFingerprintDoesNotMatch', 'Fingerprint does not match the fingerprint the instance registered with.');
  }
  const credential: RoleCredential = {
    accessKeyId: newAccessKeyId(),
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(96).toString('base64'),
    instanceId: instance.instanceId,
    expiresAt: new Date(state.clock.now().getTime() + ROLE_TOKEN_LIFETIME_MS),
  };
  state.roleCredentialMap.set(credential.accessKeyId, credential);
  return {
    AccessKeyId: credential.accessKeyId,
    SecretAccessKey: credential.secretAccessKey,
    SessionToken: credential.sessionToken,
    TokenExpirationDate: epochSeconds(credential.expiresAt),
    UpdateKeyPair: false,
  };
}

export function updateInstanceInformation(body: JsonObject, { state, instanceId }: OperationContext): JsonObject {
  const input = new Input(body);
  const id = input.string('InstanceId', { required: true });
  const agentVersion = input.string('AgentVersion');
  const agentStatus = input.string('AgentStatus', { values: ['Active', 'Inactive', 'Stopped', 'Terminated'] });
  input.string('AgentName');
  const ipAddress = input.string('IPAddress');
  const platformType = input.string('PlatformType', { values: ['Windows', 'Linux', 'MacOS'] });
  const platformName = input.string('PlatformName');
  const platformVersion = input.string('PlatformVersion');
  const computerName = input.string('ComputerName');
  input.done();
  if (instanceId === undefined || id !== instanceId) {
    throw new SsmError('AccessDeniedException', `User is not authorized to perform: ssm:UpdateInstanceInformation on resource: ${id ?? ''}`);
  }
  if (!state.instanceMap.has(instanceId)) throw new SsmError('InvalidInstanceId', `Instance Id ${instanceId} is not a registered managed instance.`);
  if (agentStatus === undefined || agentStatus === 'Active') {
    state.ping(instanceId, {
      ...(agentVersion !== undefined ? { agentVersion } : {}),
      ...(platformType !== undefined ? { platformType: platformType as 'Linux' | 'Windows' | 'MacOS' } : {}),
      ...(platformName !== undefined ? { platformName } : {}),
      ...(platformVersion !== undefined ? { platformVersion } : {}),
      ...(ipAddress !== undefined ? { ipAddress } : {}),
      ...(computerName !== undefined ? { computerName } : {}),
    });
  }
  return {};
}
