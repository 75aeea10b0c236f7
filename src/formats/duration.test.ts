import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatGoDuration, parseGoDuration, parseHumanDuration } from './duration.js';

describe('Go durations', () => {
  it.each([
    [12, '12ms'],
    [1000, '1s'],
    [8640, '8.64s'],
    [360_000, '6m0s'],
    [252_172, '4m12.172s'],
    [83_909_144, '23h18m29.144s'],
    [1146, '1.146s'],
    [41_724, '41.724s'],
    [84, '84ms'],
    [20_000, '20s'],
    [432_000, '7m12s'],
    [0, '0s'],
    [3_600_000, '1h0m0s'],
  ])('%d ms formats as %s and parses back', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
    expect(parseGoDuration(text)).toBe(ms);
  });

  it('rounds to the millisecond', () => {
    expect(formatGoDuration(1145.6)).toBe('1.146s');
    expect(formatGoDuration(0.4)).toBe('0s');
  });

  it('parses microseconds and nanoseconds, rejects junk', () => {
    expect(parseGoDuration('1500us')).toBeCloseTo(1.5);
    expect(parseGoDuration('2000000ns')).toBeCloseTo(2);
    expect(parseGoDuration('')).toBeUndefined();
    expect(parseGoDuration('12')).toBeUndefined();
    expect(parseGoDuration('abc')).toBeUndefined();
    expect(parseGoDuration('1s junk')).toBeUndefined();
  });

  it('reads every unit and number form, and refuses what Go would not print', () => {
    expect(parseGoDuration('3µs')).toBeCloseTo(0.003);
    expect(parseGoDuration('3μs')).toBeCloseTo(0.003);
    expect(parseGoDuration('1.s')).toBe(1000);
    expect(parseGoDuration('.5s')).toBe(500);
    expect(parseGoDuration(' 1m30s ')).toBe(90_000);
    expect(parseGoDuration('1h1ms')).toBe(3_600_001);
    for (const bad of ['.s', 's', '1.2.3s', '1x', '1m 2s', '-1s', '1', '1ns5'])
      expect(parseGoDuration(bad)).toBeUndefined();
  });

  it('round-trips every millisecond count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (ms) => {
        expect(parseGoDuration(formatGoDuration(ms))).toBe(ms);
      }),
    );
  });

  it('reads human durations at the edges', () => {
    expect(parseHumanDuration('90s')).toBe(90_000);
    expect(parseHumanDuration('250')).toBe(250);
    expect(parseHumanDuration('1m30s')).toBe(90_000);
    expect(parseHumanDuration('soon')).toBeUndefined();
  });
});
