import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.js';

const entry = (name: string) => ({ name, inFlightAt: -1 });

describe('InFlight', () => {
  it('keeps what was added and not deleted, whatever the order of deletion', () => {
    const set = new InFlight<ReturnType<typeof entry>>();
    const [a, b, c, d] = [entry('a'), entry('b'), entry('c'), entry('d')];
    for (const e of [a, b, c, d]) set.add(e);
    set.delete(b);
    set.delete(d);
    expect(set.size).toBe(2);
    expect(
      set
        .list()
        .map((e) => e.name)
        .sort(),
    ).toEqual(['a', 'c']);
    set.delete(a);
    set.delete(c);
    expect(set.size).toBe(0);
    expect(set.list()).toEqual([]);
  });

  it('ignores deleting an entry twice or one it never held', () => {
    const set = new InFlight<ReturnType<typeof entry>>();
    const a = entry('a');
    const b = entry('b');
    set.add(a);
    set.add(b);
    set.delete(a);
    set.delete(a);
    set.delete(entry('stranger'));
    expect(set.list().map((e) => e.name)).toEqual(['b']);
    expect(b.inFlightAt).toBe(0);
  });
});
