// Which agent version a config's revision carries: the pin, or what `latest` resolved to, never going backwards
// from what the fleet runs. Kept apart from the reconcile because `latest` is a moving target with its own failure
// modes (an unreachable latest/VERSION, a proxy or mirror Secret, an older answer), each of which must leave the
// fleet where it is and say why in status.agent.
import { isVersion } from '../api/agent-version.ts';
import { NODE_AGENT_CONFIG_FILE, parseNodeAgentConfig } from '../api/node-agent-config.ts';
import type { SsmAgentConfig, SsmAgentConfigStatus } from '../api/types.ts';
import type { KubeObject } from '../kube/client.ts';
import { LABEL_REVISION } from '../manifests/names.ts';
import type { InputRef } from '../manifests/revision.ts';
import type { LatestVersions } from '../versions/latest-versions.ts';
import { latestRequest, latestSource, type ReadConfigMapKey, type ReadMirrorSecret } from '../versions/latest-request.ts';
import { guardLatest } from '../versions/latest-guard.ts';

/** What resolving `latest` needs; absent: the node agents resolve it themselves. */
export interface LatestResolution {
  versions: Pick<LatestVersions, 'get' | 'forget'>;
  readProxySecret(name: string): Promise<{ httpsProxy?: string; httpProxy?: string }>;
  readMirrorSecret?: ReadMirrorSecret;
  readConfigMapKey?: ReadConfigMapKey;
}

export interface DesiredAgentVersion {
  resolved?: string;
  status: NonNullable<SsmAgentConfigStatus['agent']>;
  requeueAfterMs?: number;
}

/**
 * The version the revision carries: the pin, or what `latest` resolved to. While `latest` cannot be resolved
 * the fleet stays on what it runs (`running`); with nothing running yet, the revision says `latest` and the
 * node agents look it up themselves until the operator can.
 */
export function desiredAgentVersion(
  config: SsmAgentConfig,
  running: string | undefined,
  latest: LatestResolution | undefined,
  inputDigest: ((ref: InputRef) => string) | undefined,
): DesiredAgentVersion {
  const pin = config.spec.agent.version;
  if (pin !== 'latest') return { status: { resolvedVersion: pin } };
  if (!latest) return { status: {} };
  const { versions, readProxySecret, readMirrorSecret, readConfigMapKey } = latest;
  const secret = config.spec.proxy?.secretRef?.name;
  const mirrorSecret = config.spec.agent.source?.mirrorSecretRef?.name;
  const caConfigMap = config.spec.agent.source?.caBundle?.configMap;
  const digest = (name: string | undefined, kind: 'Secret' | 'ConfigMap' = 'Secret') => (name ? inputDigest?.({ kind, name }) : undefined);
  const source = latestSource(config, digest(secret), digest(mirrorSecret), digest(caConfigMap, 'ConfigMap'));
  const answer = versions.get(config.metadata.name, source, () => latestRequest(source, readProxySecret, readMirrorSecret, readConfigMapKey));
  // Never backwards: a latest/VERSION older than what the fleet runs leaves the fleet where it is.
  const guarded = guardLatest(answer.version, running);
  const resolved = guarded.version;
  const problem = [answer.error?.slice(0, 800), guarded.refused].filter((m): m is string => m !== undefined).join('; ');
  const message = problem ? `${problem}; ${resolved ? `the fleet stays on ${resolved}` : 'the node agents look "latest" up themselves meanwhile'}` : undefined;
  return {
    ...(resolved ? { resolved } : {}),
    status: { ...(resolved ? { resolvedVersion: resolved } : {}), ...(answer.resolvedAt ? { resolvedAt: answer.resolvedAt } : {}), ...(message ? { message } : {}) },
    requeueAfterMs: answer.nextCheckInMs,
  };
}

/** The agent version the live revision carries (what the fleet runs or rolls out), when it is a pinned one. */
export function runningVersion(owned: KubeObject[], liveRevision: string | undefined): string | undefined {
  if (!liveRevision) return undefined;
  const cm = owned.find((o) => o.kind === 'ConfigMap' && o.metadata?.labels?.[LABEL_REVISION] === liveRevision) as (KubeObject & { data?: Record<string, string> }) | undefined;
  const parsed = parseNodeAgentConfig(cm?.data?.[NODE_AGENT_CONFIG_FILE] ?? '');
  return parsed.ok && isVersion(parsed.config.agent.version) ? parsed.config.agent.version : undefined;
}
