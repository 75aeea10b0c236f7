/** Command-line values of the benchmarks. */

/**
 * An integer flag's value, from `min` to `max`; otherwise an error that names the flag, what it counts
 * and an example, like `Expected --warmup to give seconds from 1 to 600, like "--warmup 20"; got "x".`
 */
export function integerArg(
  flag: string,
  value: string | undefined,
  range: { min: number; max: number; unit: string; example: number },
): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isInteger(n) || n < range.min || n > range.max) {
    throw new Error(
      `Expected ${flag} to give ${range.unit} from ${range.min} to ${range.max}, like "${flag} ${range.example}"; got "${value ?? ''}".`,
    );
  }
  return n;
}
