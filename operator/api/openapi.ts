// Turns a TypeBox (JSON Schema) type into the structural OpenAPI v3 schema a CRD needs. Pure.
import type { TSchema } from '@sinclair/typebox';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type OpenApiSchema = { [key: string]: JsonValue };

const DROPPED_KEYS = new Set(['$id', '$schema']);

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function convert(node: JsonValue): JsonValue {
  if (Array.isArray(node)) return node.map(convert);
  if (!isObject(node)) return node;
  const out: OpenApiSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED_KEYS.has(key)) continue;
    // A union of string literals (TypeBox) is an enum in OpenAPI: look at the literals before they are converted.
    if (key === 'anyOf' && Array.isArray(value) && value.length > 0 && value.every((s) => isObject(s) && typeof s.const === 'string')) {
      out.type = 'string';
      out.enum = value.map((s) => (isObject(s) ? (s.const ?? null) : null));
      continue;
    }
    out[key] = convert(value);
  }
  // Only `{type: integer}|{type: string}` may stay an anyOf, marked int-or-string; nothing else may set a type there.
  if (out['x-kubernetes-int-or-string'] === true) delete out.type;
  // A single literal is a one-value enum.
  if (typeof out.const === 'string') {
    out.type = 'string';
    out.enum = [out.const];
    delete out.const;
  }
  // TypeBox records use patternProperties, CRDs use additionalProperties.
  const pattern = out.patternProperties;
  if (isObject(pattern)) {
    const values = Object.values(pattern);
    delete out.patternProperties;
    if (values[0] !== undefined) out.additionalProperties = values[0];
  }
  if (out.type === 'object' && out.additionalProperties === false) delete out.additionalProperties;
  // A field with a default is filled in by the API server, so it is not required of the user; listing it would
  // also make the API server reject an enclosing `default: {}`.
  const props = out.properties;
  if (Array.isArray(out.required) && isObject(props)) {
    const required = out.required.filter((name) => !(typeof name === 'string' && isObject(props[name]) && 'default' in props[name]));
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}

export function toOpenApi(schema: TSchema): OpenApiSchema {
  // JSON round-trip drops TypeBox's symbol-keyed metadata.
  const plain = JSON.parse(JSON.stringify(schema)) as JsonValue;
  const converted = convert(plain);
  if (!isObject(converted)) throw new Error('schema must be an object schema');
  return converted;
}

/** Every property path that has no description (kubectl explain must describe every field). */
export function undescribedFields(schema: JsonValue, path = ''): string[] {
  if (!isObject(schema)) return [];
  const missing: string[] = [];
  const props = schema.properties;
  if (isObject(props)) {
    for (const [name, child] of Object.entries(props)) {
      const childPath = `${path}.${name}`;
      if (isObject(child) && typeof child.description !== 'string') missing.push(childPath);
      missing.push(...undescribedFields(child, childPath));
    }
  }
  if (isObject(schema.items)) missing.push(...undescribedFields(schema.items, `${path}[]`));
  if (isObject(schema.additionalProperties)) missing.push(...undescribedFields(schema.additionalProperties, `${path}{}`));
  return missing;
}
