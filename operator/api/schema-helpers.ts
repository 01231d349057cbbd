import { Type, type SchemaOptions, type TLiteral, type TString, type TUnion } from '@sinclair/typebox';

/** A CEL rule evaluated by the kube-apiserver (x-kubernetes-validations). */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/** A string enum that becomes `enum:` in the CRD and a union of literals in TypeScript. */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions & { description: string; default?: T[number] }) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as TUnion<TLiteral<T[number]>[]>;
}

/** A string that must match a regular expression; the message names the fix. */
export function MatchingString(pattern: string, message: string, options: SchemaOptions & { description: string; maxLength: number; default?: string }): TString {
  return Type.String({ ...options, ...cel({ rule: `self.matches('${pattern}')`, message }) });
}

/**
 * An http(s) URL checked by CEL's URL library, with a message that names the fix. `credentials` is the message for
 * a URL with user:password@ (refused: the CR and the node agents' ConfigMap would hold them in clear).
 */
export function HttpUrl(options: SchemaOptions & { description: string; credentials: string }): TString {
  const { credentials, ...rest } = options;
  return Type.String({
    maxLength: 2048,
    ...rest,
    ...cel(
      {
        rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
        message: 'must be an http:// or https:// URL with a host, for example http://proxy.example.com:3128',
      },
      // userinfo is everything between "//" and an "@" before the first "/", "?" or "#"
      { rule: "!self.matches('^[^:/?#]*://[^/?#]*@')", message: credentials },
    ),
  });
}

/** The name part of a qualified name (label keys, annotation keys, taint keys): at most 63 characters. */
const QUALIFIED_NAME = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
const LABEL_VALUE = '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$';
/** CEL: `k` is a qualified name whose DNS prefix (before "/") has at most 253 characters. */
export const qualifiedName = (k: string) => `(${k}.matches('${QUALIFIED_NAME}') && (${k}.indexOf('/') < 0 || ${k}.indexOf('/') <= 253))`;
export const QUALIFIED_NAME_HELP = 'an optional DNS prefix and "/", then at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';

/** A map of strings (tags and the like): `additionalProperties` in the CRD, bounded in size. */
export function StringMap(options: SchemaOptions & { description: string; maxProperties?: number }) {
  return Type.Record(Type.String(), Type.String({ maxLength: 256 }), { maxProperties: 64, ...options });
}

/** Labels (a node selector): keys and values as the API server requires them on a pod's nodeSelector. */
export function LabelMap(options: SchemaOptions & { description: string }) {
  return Type.Record(Type.String(), Type.String({ maxLength: 63 }), {
    maxProperties: 64,
    ...options,
    ...cel(
      { rule: `self.all(k, ${qualifiedName('k')})`, message: `label keys must be ${QUALIFIED_NAME_HELP}` },
      { rule: `self.all(k, self[k].matches('${LABEL_VALUE}'))`, message: 'label values must be empty or at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit' },
    ),
  });
}

/** Annotations: keys as the API server requires them; values of at most 4 KiB each (the API allows 256 KiB in all). */
export function AnnotationMap(options: SchemaOptions & { description: string }) {
  return Type.Record(Type.String(), Type.String({ maxLength: 4096 }), {
    maxProperties: 32,
    ...options,
    ...cel({ rule: `self.all(k, ${qualifiedName('k')})`, message: `annotation keys must be ${QUALIFIED_NAME_HELP}` }),
  });
}

/**
 * A Go-style duration ("60s", "1m30s") between `min` and `max` (both Go durations too). Bounded so that neither
 * the node agent (which refuses 0) nor a timer (setTimeout overflows past 2^31-1 ms, ~24.8 days) sees a bad one.
 */
export function Duration(options: SchemaOptions & { description: string; default: string; min: string; max: string; example: string }): TString {
  const { min, max, example, ...rest } = options;
  const pattern = '^([0-9]+([.][0-9]+)?(ms|s|m|h))+$';
  return Type.String({
    maxLength: 16,
    ...rest,
    ...cel(
      { rule: `self.matches('${pattern}')`, message: `must be a duration such as ${example}` },
      { rule: `!self.matches('${pattern}') || (duration(self) >= duration('${min}') && duration(self) <= duration('${max}'))`, message: `must be between ${min} and ${max}` },
    ),
  });
}

/** An integer or a string such as "25%" (x-kubernetes-int-or-string). */
export function IntOrString(options: SchemaOptions & { description: string }) {
  return Type.Union([Type.Integer(), Type.String()], { ...options, 'x-kubernetes-int-or-string': true });
}
