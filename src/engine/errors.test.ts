import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SluiceError } from './errors.js';

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
});
