// The schema's pattern rules on strings, checked by the operator too. The API server evaluates every CEL rule at
// `kubectl apply`; an object stored before a rule existed (an older CRD) never met it, and TypeBox's check knows
// nothing of CEL. The rules that are a regular expression over the string itself — `self.matches('…')` and its
// negation, the form MatchingString, the durations, the region and the URL credential check take — are the ones a
// host-bound value depends on, and they translate one to one (RE2 and JavaScript agree on anchors, classes and
// counted repetition, all these patterns use). Rules of any other form stay the API server's. Pure.
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { CelRule } from './schema-helpers.ts';

interface PatternRule {
  pattern: RegExp;
  /** `!self.matches(…)`: the string must not match. */
  negated: boolean;
  message: string;
}

const MATCHES = /^(!?)self\.matches\('((?:[^'\\]|\\.)*)'\)$/;
const compiled = new WeakMap<object, PatternRule[]>();

/** A CEL string literal's escapes (`\\` → `\`, `\'` → `'`), which is what the CRD's rule text carries. */
function unescapeCel(literal: string): string {
  return literal.replace(/\\(.)/g, '$1');
}

function patternRules(schema: TSchema): PatternRule[] {
  const cached = compiled.get(schema);
  if (cached) return cached;
  const rules = ((schema as { 'x-kubernetes-validations'?: CelRule[] })['x-kubernetes-validations'] ?? []).flatMap((r): PatternRule[] => {
    const m = MATCHES.exec(r.rule);
    return m ? [{ pattern: new RegExp(unescapeCel(m[2] ?? '')), negated: m[1] === '!', message: r.message }] : [];
  });
  compiled.set(schema, rules);
  return rules;
}

function child(schemas: Record<string, TSchema> | undefined, key: string): TSchema | undefined {
  return schemas && Object.hasOwn(schemas, key) ? schemas[key] : undefined;
}

/**
 * Every string in `value` that breaks a pattern rule of its schema, as `path: message`. `value` has passed
 * TypeBox's check against `schema` (so its shape is the schema's); `path` names the field as a user writes it.
 */
export function patternViolations(schema: TSchema, value: unknown, path: string): string[] {
  if (typeof value === 'string') {
    return patternRules(schema)
      .filter((r) => r.pattern.test(value) === r.negated)
      .map((r) => `${path}: ${r.message}`);
  }
  const s = schema as { anyOf?: TSchema[]; properties?: Record<string, TSchema>; patternProperties?: Record<string, TSchema>; items?: TSchema };
  if (s.anyOf) {
    const branch = s.anyOf.find((b) => Value.Check(b, value));
    return branch ? patternViolations(branch, value, path) : [];
  }
  if (Array.isArray(value)) return s.items ? value.flatMap((v, i) => patternViolations(s.items as TSchema, v, `${path}[${i}]`)) : [];
  if (value === null || typeof value !== 'object') return [];
  const values = Object.entries(value as Record<string, unknown>);
  const mapValue = s.patternProperties ? Object.values(s.patternProperties)[0] : undefined;
  return values.flatMap(([key, v]) => {
    const sub = child(s.properties, key) ?? mapValue;
    return sub ? patternViolations(sub, v, mapValue && !s.properties ? `${path}[${JSON.stringify(key)}]` : `${path}.${key}`) : [];
  });
}
