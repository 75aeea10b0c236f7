import { describe, expect, it } from 'vitest';
import { jsonObjectOf, parseJson, parseJsonObject } from './json.js';

describe('JSON helpers', () => {
  it('parseJson never throws', () => {
    expect(parseJson('{"a":1}')).toEqual({ a: 1 });
    expect(parseJson('3')).toBe(3);
    expect(parseJson('<html>')).toBeUndefined();
  });

  it('parseJsonObject takes objects and arrays only, within the bound', () => {
    expect(parseJsonObject(' \n{"a":1}')).toEqual({ a: 1 });
    expect(parseJsonObject('[1]')).toEqual([1]);
    expect(parseJsonObject('"text"')).toBeUndefined();
    expect(parseJsonObject('{"a":1}', 3)).toBeUndefined();
  });

  it('jsonObjectOf reads text, bytes and parsed objects, and nothing else', () => {
    expect(jsonObjectOf('{"model":"m"}')).toEqual({ model: 'm' });
    expect(jsonObjectOf(new TextEncoder().encode('{"model":"m"}'))).toEqual({ model: 'm' });
    expect(jsonObjectOf(new TextEncoder().encode('{"model":"m"}').buffer)).toEqual({ model: 'm' });
    expect(jsonObjectOf({ model: 'm' })).toEqual({ model: 'm' });
    expect(jsonObjectOf('[1]')).toBeUndefined();
    expect(jsonObjectOf(new URLSearchParams('model=m'))).toBeUndefined();
    expect(jsonObjectOf(null)).toBeUndefined();
  });
});
