// The node-agent configuration a config's DaemonSet currently references: its revision ConfigMap.
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { ANNOTATION_REVISION, nodeAgentName, revisionConfigMapName } from '../../operator/manifests/names.ts';

interface Getter {
  getOrUndefined<T>(path: string): Promise<T | undefined>;
}

type DaemonSet = { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } };
export type RevisionConfigMap = { metadata: { name: string }; immutable?: boolean; data: Record<string, string> };

export async function currentRevision(env: Getter, namespace: string, config: string): Promise<string | undefined> {
  const ds = await env.getOrUndefined<DaemonSet>(resourcePath(RESOURCES.daemonSet, { namespace, name: nodeAgentName(config) }));
  return ds?.spec?.template?.metadata?.annotations?.[ANNOTATION_REVISION];
}

export async function currentRevisionConfigMap(env: Getter, namespace: string, config: string): Promise<RevisionConfigMap | undefined> {
  const revision = await currentRevision(env, namespace, config);
  if (!revision) return undefined;
  return env.getOrUndefined<RevisionConfigMap>(resourcePath(RESOURCES.configMap, { namespace, name: revisionConfigMapName(config, revision) }));
}
