import { describe, expect, it } from 'vitest';
import { readRequestHeaders } from './request-headers.js';

describe('readRequestHeaders', () => {
  it('passes a record without wishes through as the same object', () => {
    const input = { Authorization: 'Bearer k', 'Content-Type': 'application/json' };
    const h = readRequestHeaders(input);
    expect(h.upstream).toBe(input);
    expect(h.get('authorization')).toBe('Bearer k');
  });

  it('copies a record without the x-sluice headers, whatever their case', () => {
    const input = { Authorization: 'Bearer k', 'X-Sluice-Priority': 'batch', 'x-sluice-tenant': 't' };
    const h = readRequestHeaders(input);
    expect(h.get('x-sluice-priority')).toBe('batch');
    expect(h.upstream).toEqual({ Authorization: 'Bearer k' });
    expect(input).toHaveProperty('X-Sluice-Priority');
  });

  it('handles Headers objects and header arrays', () => {
    const headers = new Headers({ authorization: 'Bearer k' });
    expect(readRequestHeaders(headers).upstream).toBe(headers);
    headers.set('x-sluice-cache', 'off');
    const stripped = readRequestHeaders(headers).upstream as Headers;
    expect(stripped.has('x-sluice-cache')).toBe(false);
    expect(stripped.get('authorization')).toBe('Bearer k');
    const fromArray = readRequestHeaders([
      ['x-sluice-tenant', 'a'],
      ['api-key', 'z'],
    ]);
    expect(fromArray.get('x-sluice-tenant')).toBe('a');
    expect((fromArray.upstream as Headers).has('x-sluice-tenant')).toBe(false);
  });
});
