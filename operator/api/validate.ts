// Runtime validation and defaulting of SsmAgentConfig specs read from the API server, from the same schema.
// The API server enforces the CEL rules; this guards the operator against objects stored under an older schema:
// TypeBox's check, then the pattern rules on strings (string-rules.ts), the ones a host-bound value depends on.
import { Value } from '@sinclair/typebox/value';
import { SsmAgentConfigSpec } from './schema.ts';
import { patternViolations } from './string-rules.ts';

export type SpecResult = { ok: true; spec: SsmAgentConfigSpec } | { ok: false; errors: string[] };

const MAX_ERRORS = 10;

export function parseSpec(raw: unknown): SpecResult {
  const withDefaults = Value.Default(SsmAgentConfigSpec, Value.Clone(raw ?? {}));
  if (!Value.Check(SsmAgentConfigSpec, withDefaults)) {
    const errors = [...Value.Errors(SsmAgentConfigSpec, withDefaults)].slice(0, MAX_ERRORS).map((e) => `spec${e.path.replaceAll('/', '.')}: ${e.message}`);
    return { ok: false, errors };
  }
  const violations = patternViolations(SsmAgentConfigSpec, withDefaults, 'spec');
  return violations.length === 0 ? { ok: true, spec: withDefaults } : { ok: false, errors: violations.slice(0, MAX_ERRORS) };
}
