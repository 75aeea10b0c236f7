import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, QuotaExhaustedError, SluiceError, sluiceError } from './errors.js';

describe('error catalogue', () => {
  it('docs/errors.md lists every code, and only those', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^### `([a-z_]+)`$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('serialises to OpenAI error shape with the upstream error inside', () => {
    const err = new SluiceError('quota_exhausted', 'spent', {
      status: 429,
      body: { error: { code: 'insufficient_quota', type: 'insufficient_quota' } },
    });
    expect(err.toJSON()).toEqual({
      error: {
        message: 'spent',
        type: 'sluice_error',
        param: null,
        code: 'quota_exhausted',
        upstream: { code: 'insufficient_quota', type: 'insufficient_quota' },
      },
    });
    expect(err.httpStatus).toBe(429);
    expect(err).toBeInstanceOf(Error);
  });

  it('builds the subclass that matches the code through one factory', () => {
    const err = sluiceError('quota_exhausted', 'spent');
    expect(err).toBeInstanceOf(QuotaExhaustedError);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err.name).toBe('QuotaExhaustedError');
    for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
      const built = sluiceError(code, 'm');
      expect(built.code).toBe(code);
      expect(built).toBeInstanceOf(SluiceError);
      // Every code has a subclass of its own.
      expect(built.constructor).not.toBe(SluiceError);
    }
  });
});
