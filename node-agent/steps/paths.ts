// Where amazon-ssm-agent keeps things on a Linux host (as its deb/rpm packages install it).

export const AGENT_BINARY = '/usr/bin/amazon-ssm-agent';
/** Where the snap (Ubuntu's default install) keeps the binary; /usr/bin has none. */
export const SNAP_AGENT_BINARY = '/snap/amazon-ssm-agent/current/amazon-ssm-agent';

export function agentBinary(snap: boolean | undefined): string {
  return snap ? SNAP_AGENT_BINARY : AGENT_BINARY;
}
export const AGENT_CONFIG = '/etc/amazon/ssm/amazon-ssm-agent.json';
export const REGISTRATION_FILE = '/var/lib/amazon/ssm/registration';
export const AGENT_STATE_DIRS = ['/var/lib/amazon/ssm'];
export const SUDOERS_FILE = '/etc/sudoers.d/ssm-agent-users';
export const SSM_USER = 'ssm-user';
/** The node agent's own scratch space on the host (downloads, markers). */
export const NODE_AGENT_HOST_DIR = '/var/lib/ssm-node-agent';
/**
 * Where packages are downloaded: on the host's disk, not in the pod. The pod's /tmp is a small memory-backed
 * emptyDir charged to the container's memory limit, and the real package is about 30 MB.
 */
export const NODE_AGENT_DOWNLOAD_DIR = `${NODE_AGENT_HOST_DIR}/downloads`;

export function agentUnit(snap: boolean | undefined): string {
  return snap ? 'snap.amazon-ssm-agent.amazon-ssm-agent.service' : 'amazon-ssm-agent.service';
}

export function proxyDropIn(unit: string): string {
  return `/etc/systemd/system/${unit}.d/ssm-agent-operator-proxy.conf`;
}
