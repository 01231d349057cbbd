// Runtime validation and defaulting of SsmAgentConfig specs read from the API server, from the same schema.
// The API server enforces the CEL rules; this guards the operator against objects stored under an older schema.
import { Value } from '@sinclair/typebox/value';
import { SsmAgentConfigSpec } from './schema.ts';

export type SpecResult = { ok: true; spec: SsmAgentConfigSpec } | { ok: false; errors: string[] };

export function parseSpec(raw: unknown): SpecResult {
  const withDefaults = Value.Default(SsmAgentConfigSpec, Value.Clone(raw ?? {}));
  if (Value.Check(SsmAgentConfigSpec, withDefaults)) return { ok: true, spec: withDefaults };
  const errors = [...Value.Errors(SsmAgentConfigSpec, withDefaults)].slice(0, 10).map((e) => `spec${e.path.replaceAll('/', '.')}: ${e.message}`);
  return { ok: false, errors };
}
