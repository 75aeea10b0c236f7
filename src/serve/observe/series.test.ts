import { describe, expect, it } from 'vitest';
import { CounterSeries, GaugeSeries } from './series.js';

describe('CounterSeries', () => {
  it('sums the events of each second and reads seconds it does not hold as 0', () => {
    const s = new CounterSeries(10);
    s.add(5_000);
    s.add(5_999, 2);
    s.add(7_000, 4);
    expect([s.at(4), s.at(5), s.at(6), s.at(7)]).toEqual([0, 3, 0, 4]);
    expect(s.sum(5, 7)).toBe(7);
  });

  it('forgets a second once the ring has gone round, rather than reading it as the new one', () => {
    const s = new CounterSeries(10);
    s.add(3_000, 5);
    s.add(13_000, 1);
    expect(s.at(3)).toBe(0);
    expect(s.at(13)).toBe(1);
    expect(s.sum(0, 13)).toBe(1);
  });

  it('gives a per-minute rate at every second: the sum of the window ending there', () => {
    const s = new CounterSeries(200);
    for (let second = 100; second < 160; second++) s.add(second * 1000, 1);
    const series = s.rolling(100, 170, 60);
    expect(series[0]).toBe(1);
    expect(series[59]).toBe(60);
    expect(series[60]).toBe(59);
    expect(series[70]).toBe(49);
  });

  it('keeps the largest value of a second with max()', () => {
    const s = new CounterSeries(10);
    s.max(1_000, 3);
    s.max(1_500, 9);
    s.max(1_900, 4);
    s.max(2_000, 1);
    expect(s.maxOver(0, 2)).toBe(9);
    expect(s.at(2)).toBe(1);
  });
});

describe('GaugeSeries', () => {
  it('carries the last sample forward and reads null before the first one', () => {
    const g = new GaugeSeries(10);
    g.set(2_000, 500);
    g.set(5_000, 250);
    expect(g.values(1, 6)).toEqual([null, 500, 500, 500, 250, 250]);
  });

  it('starts from the last sample before the range when it is still held', () => {
    const g = new GaugeSeries(10);
    g.set(2_000, 7);
    expect(g.values(4, 5)).toEqual([7, 7]);
  });

  it('reads a NaN sample (limit unknown) as null', () => {
    const g = new GaugeSeries(10);
    g.set(1_000, NaN);
    expect(g.values(1, 2)).toEqual([null, null]);
  });
});
