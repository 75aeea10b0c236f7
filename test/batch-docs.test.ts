/** docs/batch.md's flag table lists every flag of `sluice batch` (BATCH_FLAGS) once, with its default. */
import { describe, expect, it } from 'vitest';
import { BATCH_FLAGS } from '../src/cli/batch.js';
import { docRows, flagRows } from './support/docs-table.js';

describe('docs/batch.md flags', () => {
  it('lists every flag of sluice batch once, with its default, and nothing else', () => {
    expect(docRows('batch.md', '## Flags')).toEqual(flagRows(BATCH_FLAGS));
  });
});
