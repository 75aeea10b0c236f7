/** docs/limits.md's flag table lists every flag of `sluice limits` (LIMITS_FLAGS) once, with its default. */
import { describe, expect, it } from 'vitest';
import { LIMITS_FLAGS } from '../src/cli/limits.js';
import { docRows, flagRows } from './support/docs-table.js';

describe('docs/limits.md flags', () => {
  it('lists every flag of sluice limits once, with its default, and nothing else', () => {
    expect(docRows('limits.md', '## Flags')).toEqual(flagRows(LIMITS_FLAGS));
  });
});
