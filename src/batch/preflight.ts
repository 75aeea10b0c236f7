/**
 * What is checked before anything is sent or written, so a mistake is one clear message (exit 2): the
 * options of a run, and its files (readable input, no two files one, no other run holding them, no
 * earlier run overwritten). `BatchRun.run()` checks the files again and takes their locks.
 */
import { baseUrlProblem, keyProblem } from './checks.js';
import { BatchSetupError, checkFresh, checkPaths } from './files.js';
import { heldMessage, lockHolder } from './lock.js';
import { resolveOptions } from '../formats/options.js';
import { BATCH_OPTIONS, type BatchOptions, type ResolvedBatchOptions } from './options.js';
import { keyRedactor } from './redact.js';

/** An option the table refuses, as the batch runner reports every setup problem. */
class BatchOptionError extends BatchSetupError {
  constructor(_option: string, message: string) {
    super(message);
  }
}

/**
 * Resolves a run's options (defaults from {@link BATCH_OPTIONS}, every value checked) and checks what
 * the table cannot: the base URL and the key. Throws {@link BatchSetupError} saying what to do, never
 * showing the key.
 */
export function checkOptions(input: BatchOptions): ResolvedBatchOptions {
  const options = resolveOptions(BATCH_OPTIONS, input, {
    error: BatchOptionError,
    check: (o, fail) => {
      for (const field of ['input', 'output', 'baseUrl'] as const)
        if (o[field] === undefined) fail(field, () => 'is required.');
    },
  });
  const urlProblem = baseUrlProblem(input.baseUrl);
  if (urlProblem) {
    throw new BatchSetupError(
      keyRedactor(options.apiKey).text(
        `The base URL ${JSON.stringify(options.baseUrl)} ${urlProblem}; expected e.g. https://api.openai.com/v1.`,
      ),
    );
  }
  const problem = options.apiKey === undefined ? undefined : keyProblem(options.apiKey);
  if (problem) throw new BatchSetupError(`The API key ${problem}. Remove it from the key.`);
  return {
    ...options,
    input: input.input,
    output: input.output,
    baseUrl: input.baseUrl,
    errors: options.errors ?? `${input.output}.errors.jsonl`,
  };
}

/**
 * Checks, before anything is sent, that a run on these files can start: the input is readable, no two
 * files are one, no other run holds them, and (without `resume`) no earlier run is overwritten. Throws
 * {@link BatchSetupError} saying what to do. `run()` checks the same again and takes the locks.
 */
export async function checkFiles(options: {
  input: string;
  output?: string | undefined;
  errors?: string | undefined;
  resume?: boolean | undefined;
}): Promise<void> {
  const files = await checkPaths(options);
  if (options.output === undefined || files.errors === undefined) return;
  for (const target of [options.output, files.errors]) {
    const held = lockHolder(target);
    if (held) throw new BatchSetupError(heldMessage(target, held.path, held.holder));
  }
  if (!options.resume) checkFresh(options.output, files.errors);
}
