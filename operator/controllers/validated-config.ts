// A config's spec parsed and validated once, where the object enters the cache (manager/caches.ts), instead of in
// every reconcile of every loop: the schema's defaults and the cluster admin's node-agent defaults applied, or the
// errors that make it invalid (the reconciler reports those as Degraded InvalidSpec). Pure.
import type { SsmAgentConfig } from '../api/types.ts';
import { parseSpec } from '../api/validate.ts';
import { withNodeAgentDefaults, type NodeAgentDefaults } from '../manifests/node-agent-defaults.ts';

/** What a stored spec parsed to: the config with the spec every loop reads, or why there is none. */
export type SpecVerdict = { ok: true; config: SsmAgentConfig } | { ok: false; errors: string[] };

/** A config as the caches hold it: the object as stored (metadata, status, raw spec) and its verdict. */
export type ValidatedConfig = SsmAgentConfig & { readonly verdict: SpecVerdict };

export function validateConfig<T extends SsmAgentConfig>(config: T, defaults?: NodeAgentDefaults): T & { readonly verdict: SpecVerdict } {
  const parsed = parseSpec(config.spec);
  const verdict: SpecVerdict = parsed.ok ? { ok: true, config: { ...config, spec: withNodeAgentDefaults(parsed.spec, defaults) } } : { ok: false, errors: parsed.errors };
  return { ...config, verdict };
}
