// Narrowing helpers for parsed JSON/YAML of unknown shape: a wrong shape reads as empty, so the assertion that
// follows fails with its own message instead of a TypeError.

/** A plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value as an object, or {} when it is not one. */
export function record(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** The value as an array, or [] when it is not one. */
export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The string items of the value as an array ([] when it is not one). */
export function strings(value: unknown): string[] {
  return list(value).filter((v): v is string => typeof v === 'string');
}
