import { linkSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchSetupError, checkFresh, checkPaths, resolveMissing, sameFile } from './files.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-files-'));
const input = join(dir, 'in.jsonl');
writeFileSync(input, '{}\n');

describe('sameFile', () => {
  it('sees one file under a hard link, a symlink and another spelling; devices may be shared', () => {
    linkSync(input, join(dir, 'hard.jsonl'));
    symlinkSync(input, join(dir, 'sym.jsonl'));
    writeFileSync(join(dir, 'copy.jsonl'), '{}\n');
    expect(sameFile(input, join(dir, 'hard.jsonl'))).toMatch(/same device and inode/);
    expect(sameFile(input, join(dir, 'sym.jsonl'))).toMatch(/same device and inode/);
    expect(sameFile(input, `${dir}/./in.jsonl`)).toBeDefined();
    expect(sameFile(input, join(dir, 'copy.jsonl'))).toBeUndefined();
    expect(sameFile('/dev/null', '/dev/null')).toBeUndefined();
  });

  it('compares files that do not exist yet by where they would be created, through symlinks', () => {
    symlinkSync(join(dir, 'later.jsonl'), join(dir, 'dangling.jsonl'));
    expect(resolveMissing(join(dir, 'dangling.jsonl'))).toBe(resolveMissing(join(dir, 'later.jsonl')));
    expect(sameFile(join(dir, 'dangling.jsonl'), join(dir, 'later.jsonl'))).toMatch(
      /resolve to the same path/,
    );
    expect(sameFile(join(dir, 'a.jsonl'), join(dir, 'b.jsonl'))).toBeUndefined();
  });
});

describe('checkPaths', () => {
  it('refuses aliasing, and a non-regular output without --errors', async () => {
    await expect(checkPaths({ input, output: join(dir, 'o.jsonl'), errors: input })).rejects.toThrow(
      /The input and --errors are one file: both are .*in\.jsonl\. Writing there would destroy the input/,
    );
    await expect(
      checkPaths({ input, output: join(dir, 'o.jsonl'), errors: join(dir, 'o.jsonl') }),
    ).rejects.toThrow(/--output and --errors are one file/);
    await expect(checkPaths({ input, output: '/dev/null' })).rejects.toThrow(/Name one with --errors <file>/);
    await expect(
      checkPaths({ input, output: '/dev/null', errors: join(dir, 'e.jsonl') }),
    ).resolves.toMatchObject({
      errors: join(dir, 'e.jsonl'),
      inputIsStream: false,
    });
    await expect(checkPaths({ input: '/dev/null', output: join(dir, 'o.jsonl') })).resolves.toMatchObject({
      errors: `${join(dir, 'o.jsonl')}.errors.jsonl`,
      inputIsStream: true,
    });
  });

  it('leaves overwriting to checkFresh', () => {
    writeFileSync(join(dir, 'done.jsonl'), '{"custom_id":"x"}\n');
    expect(() => checkFresh(join(dir, 'done.jsonl'), join(dir, 'none.jsonl'))).toThrow(BatchSetupError);
    expect(() => checkFresh(join(dir, 'none.jsonl'), join(dir, 'none2.jsonl'))).not.toThrow();
  });
});
