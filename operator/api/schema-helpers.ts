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

/** An http(s) URL checked by CEL's URL library, with a message that names the fix. */
export function HttpUrl(options: SchemaOptions & { description: string }): TString {
  return Type.String({
    maxLength: 2048,
    ...options,
    ...cel({
      rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
      message: 'must be an http:// or https:// URL with a host, for example http://proxy.example.com:3128',
    }),
  });
}

/** A map of strings (labels, tags): `additionalProperties` in the CRD. */
export function StringMap(options: SchemaOptions & { description: string }) {
  return Type.Record(Type.String(), Type.String({ maxLength: 256 }), options);
}

/** An integer or a string such as "25%" (x-kubernetes-int-or-string). */
export function IntOrString(options: SchemaOptions & { description: string }) {
  return Type.Union([Type.Integer(), Type.String()], { ...options, 'x-kubernetes-int-or-string': true });
}
