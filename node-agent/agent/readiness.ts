// Readiness = the host converged to this pod's revision. Pure: from the last pass's report and the
// configuration. The DaemonSet's readinessProbe asks /readyz, so its rolling update advances only over hosts
// that converged, and a failing revision stops after maxUnavailable nodes.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { PassReport } from './pass.ts';

export type Readiness = { ready: true; detail: string } | { ready: false; step: string; reason: string; message: string };

const notReady = (step: string, reason: string, message: string): Readiness => ({ ready: false, step, reason, message });

/** Whether registration applies on this host, and so must be in place for it to count as converged. */
function registrationRequired(config: NodeAgentConfig, report: PassReport): boolean {
  if (config.registration.mode === 'Hybrid') return true;
  if (config.registration.mode === 'Auto') return report.facts.ec2 === undefined;
  return false;
}

export function convergence(report: PassReport | undefined, config: NodeAgentConfig | undefined, configError?: string): Readiness {
  if (!config) return notReady('config', 'ConfigInvalid', configError ?? 'no valid configuration read yet');
  if (!report) return notReady('pass', 'NoPassYet', 'the first pass over the host has not finished');
  const failed = report.outcomes.find((o) => o.status === 'failed' || o.status === 'unsupported');
  if (failed) return notReady(failed.step, failed.reason ?? (failed.status === 'unsupported' ? 'Unsupported' : 'StepFailed'), failed.message ?? failed.status);
  const obs = report.observation;
  if (!obs) return notReady('observe', 'ObserveFailed', 'the agent was not observed');
  if (report.facts.externallyManaged === 'nodeadm') {
    // nodeadm's agent: nothing of this revision applies to it, so nothing can hold the rollout back here.
    const id = obs.registration?.instanceId;
    return { ready: true, detail: `adopted from nodeadm (EKS Hybrid Nodes): amazon-ssm-agent ${obs.version ?? 'not installed'}${obs.serviceActive ? ' active' : ' not active'}${id ? `, ${id}` : ''}` };
  }
  if (config.action === 'Uninstall') {
    return obs.version ? notReady('uninstall', 'StillInstalled', `amazon-ssm-agent ${obs.version} is still installed`) : { ready: true, detail: 'the agent is removed from the host' };
  }
  const desired = report.facts.desiredVersion;
  if (!obs.version) return notReady('install', 'NotInstalled', 'amazon-ssm-agent is not installed');
  if (desired && obs.version !== desired) return notReady('install', 'VersionMismatch', `installed ${obs.version}, desired ${desired}`);
  if (!obs.serviceActive) return notReady('observe', 'AgentNotRunning', 'the amazon-ssm-agent service is not active');
  if (config.registration.mode === 'EC2' && !report.facts.ec2) return notReady('register', 'NotEc2', 'mode EC2, but this host is not an EC2 instance (IMDS did not answer)');
  if (registrationRequired(config, report)) {
    const reg = obs.registration;
    if (!reg) return notReady('register', 'NotRegistered', 'the host is not registered with Systems Manager');
    if (reg.region !== config.region) return notReady('register', 'WrongRegion', `registered in ${reg.region || 'an unknown region'}, not ${config.region}`);
  }
  const instance = obs.registration?.instanceId ?? report.facts.ec2?.instanceId;
  return { ready: true, detail: `converged: amazon-ssm-agent ${obs.version} active${instance ? `, ${instance}` : ''}` };
}

/** The body of /readyz: one line a person can act on. */
export function readinessText(r: Readiness, revision: string | undefined): string {
  const rev = revision ? `revision ${revision}: ` : '';
  return r.ready ? `${rev}${r.detail}` : `${rev}not converged: step ${r.step} ${r.reason}: ${r.message}`;
}
