import { describe, expect, it } from 'vitest';
import { cachePolicy, forbidsStore } from './policy.js';

const h = (record: Record<string, string>) => {
  const headers = new Headers(record);
  return { get: (name: string) => headers.get(name) };
};

describe('cachePolicy', () => {
  it('follows the caller default when the request says nothing', () => {
    expect(cachePolicy(h({}), true)).toEqual({ read: true, write: true, maxAgeMs: Infinity });
    expect(cachePolicy(h({}), false)).toMatchObject({ read: false, write: false });
  });

  it('reads x-sluice-cache: on, off, refresh', () => {
    expect(cachePolicy(h({ 'x-sluice-cache': 'on' }), false)).toMatchObject({ read: true, write: true });
    expect(cachePolicy(h({ 'x-sluice-cache': 'OFF' }), true)).toMatchObject({ read: false, write: false });
    expect(cachePolicy(h({ 'x-sluice-cache': 'refresh' }), true)).toMatchObject({ read: false, write: true });
    expect(() => cachePolicy(h({ 'x-sluice-cache': 'maybe' }), true)).toThrow(
      /x-sluice-cache must be one of on, off, refresh/,
    );
  });

  it('honours Cache-Control request directives', () => {
    expect(cachePolicy(h({ 'cache-control': 'no-store' }), true)).toMatchObject({
      read: false,
      write: false,
    });
    expect(cachePolicy(h({ 'cache-control': 'no-cache' }), true)).toMatchObject({ read: false, write: true });
    expect(cachePolicy(h({ 'cache-control': 'max-age=30' }), true)).toEqual({
      read: true,
      write: true,
      maxAgeMs: 30_000,
    });
  });

  it('sees no-store in an answer', () => {
    expect(forbidsStore('no-store')).toBe(true);
    expect(forbidsStore('max-age=0, no-store')).toBe(true);
    expect(forbidsStore('no-cache')).toBe(false);
    expect(forbidsStore(null)).toBe(false);
  });
});
