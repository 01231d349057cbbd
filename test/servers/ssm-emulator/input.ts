// Reads one operation's JSON input the way AWS's request framework does: a value of the wrong JSON type is a
// SerializationException; constraint violations are collected into one ValidationException worded like AWS's
// ("1 validation error detected: Value null at 'iamRole' failed to satisfy constraint: Member must not be null").
import { parseTimestamp, SsmError } from './wire.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

const memberName = (field: string) => field.charAt(0).toLowerCase() + field.slice(1);
const shown = (v: unknown) => (typeof v === 'string' ? `'${v}'` : `'${JSON.stringify(v)}'`);

export function asObject(value: Json | undefined, where: string): JsonObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new SsmError('SerializationException', `Expected an object for ${where}`);
  return value;
}

export class Input {
  readonly body: JsonObject;
  private readonly errors: string[] = [];

  constructor(body: JsonObject) {
    this.body = body;
  }

  violation(field: string, value: unknown, constraint: string): void {
    this.errors.push(`Value ${value === undefined || value === null ? 'null' : shown(value)} at '${memberName(field)}' failed to satisfy constraint: Member must ${constraint}`);
  }

  string(field: string, opts: { required?: boolean; min?: number; max?: number; values?: readonly string[] } = {}): string | undefined {
    const v = this.body[field];
    if (v === undefined || v === null) {
      if (opts.required) this.violation(field, undefined, 'not be null');
      return undefined;
    }
    if (typeof v !== 'string') throw new SsmError('SerializationException', `Expected a string for ${field}`);
    if (opts.min !== undefined && v.length < opts.min) this.violation(field, v, `have length greater than or equal to ${opts.min}`);
    if (opts.max !== undefined && v.length > opts.max) this.violation(field, v, `have length less than or equal to ${opts.max}`);
    if (opts.values && !opts.values.includes(v)) this.violation(field, v, `satisfy enum value set: [${opts.values.join(', ')}]`);
    return v;
  }

  integer(field: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const v = this.body[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new SsmError('SerializationException', `Expected an integer for ${field}`);
    if (opts.min !== undefined && v < opts.min) this.violation(field, v, `have value greater than or equal to ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.violation(field, v, `have value less than or equal to ${opts.max}`);
    return v;
  }

  timestamp(field: string): Date | undefined {
    const v = this.body[field];
    if (v === undefined || v === null) return undefined;
    const d = parseTimestamp(v);
    if (d === undefined) throw new SsmError('SerializationException', `Expected a timestamp for ${field}`);
    return d;
  }

  list(field: string, opts: { max?: number } = {}): Json[] | undefined {
    const v = this.body[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw new SsmError('SerializationException', `Expected a list for ${field}`);
    if (opts.max !== undefined && v.length > opts.max) this.violation(field, v.length, `have length less than or equal to ${opts.max}`);
    return v;
  }

  /** Throws the collected violations as one ValidationException. */
  done(): void {
    if (this.errors.length === 0) return;
    const n = this.errors.length;
    throw new SsmError('ValidationException', `${n} validation error${n === 1 ? '' : 's'} detected: ${this.errors.join('; ')}`);
  }
}

export interface Tag {
  Key: string;
  Value: string;
}

/** A Tags list ([{Key, Value}]): keys 1-128 characters, values 0-256, at most `max`. */
export function readTags(input: Input, field: string, max = 1000): Tag[] {
  const list = input.list(field, { max }) ?? [];
  return list.map((item, i) => {
    const o = asObject(item, `${field}[${i}]`);
    const key = o.Key;
    const value = o.Value;
    if (typeof key !== 'string') throw new SsmError('SerializationException', `Expected a string for ${field}[${i}].Key`);
    if (typeof value !== 'string') throw new SsmError('SerializationException', `Expected a string for ${field}[${i}].Value`);
    if (key.length < 1 || key.length > 128) input.violation(`${field}.${i + 1}.member.key`, key, 'have length between 1 and 128');
    if (value.length > 256) input.violation(`${field}.${i + 1}.member.value`, value, 'have length less than or equal to 256');
    return { Key: key, Value: value };
  });
}

/** A list of strings, or a SerializationException. */
export function stringList(value: Json | undefined, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new SsmError('SerializationException', `Expected a list of strings for ${where}`);
  return value as string[];
}
