/** docs/worker.md's flag tables list every flag of `sluice worker` and `sluice enqueue` once, with its default. */
import { describe, expect, it } from 'vitest';
import { ENQUEUE_FLAGS } from '../src/cli/enqueue.js';
import { WORKER_FLAGS } from '../src/cli/worker.js';
import { docRows, flagRows } from './support/docs-table.js';

describe('docs/worker.md flags', () => {
  it('lists every flag of sluice worker once, with its default, and nothing else', () => {
    expect(docRows('worker.md', '## `sluice worker` flags')).toEqual(flagRows(WORKER_FLAGS));
  });

  it('lists every flag of sluice enqueue once, with its default, and nothing else', () => {
    expect(docRows('worker.md', '## `sluice enqueue` flags')).toEqual(flagRows(ENQUEUE_FLAGS));
  });
});
