import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyRedactor, REDACT_MIN } from './redact.js';

const KEY = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789';

describe('keyRedactor', () => {
  it('removes the key and every piece of it of 9 characters or more, and leaves short ones', () => {
    const r = keyRedactor(KEY);
    expect(r.text(`Incorrect API key provided: ${KEY}.`)).toBe('Incorrect API key provided: [redacted].');
    expect(r.text(`part ${KEY.slice(10, 19)} here`)).toBe('part [redacted] here');
    // OpenAI's own masking shows the prefix and the last four: nothing secret, left alone.
    expect(r.text('sk-proj-****6789')).toBe('sk-proj-****6789');
    expect(r.text(KEY.slice(3, 3 + REDACT_MIN - 1))).toBe(KEY.slice(3, 3 + REDACT_MIN - 1));
  });

  it('leaves no piece of REDACT_MIN characters in any text, wherever the pieces sit', () => {
    const r = keyRedactor(KEY);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 8 }),
            fc
              .tuple(fc.nat(KEY.length - 1), fc.nat(KEY.length))
              .map(([a, b]) => KEY.slice(Math.min(a, b), Math.max(a, b))),
          ),
          { maxLength: 6 },
        ),
        (parts) => {
          const out = r.text(parts.join(''));
          for (let i = 0; i + REDACT_MIN <= KEY.length; i++)
            expect(out).not.toContain(KEY.slice(i, i + REDACT_MIN));
        },
      ),
    );
  });

  it('redacts inside JSON values without breaking them, and keeps values without the key as they are', () => {
    const r = keyRedactor(KEY);
    const value = { error: { message: `bad key ${KEY}`, list: [KEY, 1, null] }, ok: true };
    expect(r.value(value)).toEqual({
      error: { message: 'bad key [redacted]', list: ['[redacted]', 1, null] },
      ok: true,
    });
    const clean = { a: 'nothing here' };
    expect(r.value(clean)).toBe(clean);
    expect(r.suspect(JSON.stringify(clean))).toBe(false);
    expect(keyRedactor(undefined).text(KEY)).toBe(KEY);
  });
});
