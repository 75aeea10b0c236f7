/**
 * The rules an option value is checked against, one function per rule, each throwing `invalid_option`
 * with a message naming the option, the rule and the value: "Expected `retry.maxAttempts` to be a whole
 * number from 1 up, got 0." Options are checked once, when the engine is built; shells reuse the same
 * rules for values that arrive later (per-request headers), so one value means the same everywhere.
 */
import { sluiceError } from './errors.js';

/** A value as a message shows it: strings quoted, everything else as JavaScript writes it. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

function invalid(name: string, expected: string, value: unknown): never {
  throw sluiceError('invalid_option', `Expected \`${name}\` to be ${expected}, got ${showValue(value)}.`);
}

/**
 * Whether `value` is a duration in milliseconds: a number ≥ 0, and finite unless `infinite` allows
 * `Infinity` ("no bound"). The rule behind every `…Ms` option and the `x-sluice-max-wait-ms` header.
 */
export function isMilliseconds(value: unknown, infinite = false): value is number {
  return (
    typeof value === 'number' && value >= 0 && (infinite ? !Number.isNaN(value) : Number.isFinite(value))
  );
}

/** Throws `invalid_option` unless `value` is milliseconds ≥ 0 (see {@link isMilliseconds}). */
export function checkMilliseconds(name: string, value: unknown, infinite = false): void {
  if (!isMilliseconds(value, infinite)) {
    invalid(name, infinite ? 'milliseconds ≥ 0 (or Infinity)' : 'a finite number of milliseconds ≥ 0', value);
  }
}

/** Throws unless `value` is a number above 0, finite unless `infinite` allows `Infinity`. */
export function checkPositive(name: string, value: unknown, infinite = false): void {
  if (!(
    typeof value === 'number' &&
    value > 0 &&
    (Number.isFinite(value) || (infinite && value === Infinity))
  )) {
    invalid(name, infinite ? 'a number above 0 (or Infinity)' : 'a finite number above 0', value);
  }
}

/** Throws unless `value` is a whole number ≥ `min` (or `Infinity` when `infinite`). */
export function checkWhole(name: string, value: unknown, min: number, infinite = false): void {
  const ok =
    typeof value === 'number' &&
    value >= min &&
    (Number.isSafeInteger(value) || (infinite && value === Infinity));
  if (!ok) invalid(name, `a whole number from ${min} up${infinite ? ' (or Infinity)' : ''}`, value);
}

/** Throws unless `value` is one of `allowed`. */
export function checkOneOf(name: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    invalid(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
}

export function checkBoolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') invalid(name, 'true or false', value);
}

export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') invalid(name, 'a function', value);
}

/** Throws unless `value` is an object whose `methods` are all functions (a structural interface check). */
export function checkMethods(name: string, value: unknown, methods: readonly string[]): void {
  if (value === null || typeof value !== 'object')
    invalid(name, `an object with ${methods.join(', ')}`, value);
  const missing = methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw sluiceError(
      'invalid_option',
      `Expected \`${name}\` to have the methods ${methods.join(', ')}; ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing.`,
    );
  }
}

/** Throws unless `value` is a plain object (not an array, not null). */
export function checkObject(name: string, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(name, 'an object', value);
}
