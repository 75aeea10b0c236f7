/** docs/serve.md's option table lists every flag of `sluice serve` (SERVE_FLAGS) once, with its default. */
import { describe, expect, it } from 'vitest';
import { SERVE_FLAGS } from '../src/cli/serve.js';
import { docRows, flagRows } from './support/docs-table.js';

describe('docs/serve.md options', () => {
  it('lists every flag of sluice serve once, with its default, and nothing else', () => {
    expect(docRows('serve.md', '## Options')).toEqual(flagRows(SERVE_FLAGS));
  });
});
