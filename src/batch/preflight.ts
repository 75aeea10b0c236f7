/**
 * What is checked before anything is sent or written, so a mistake is one clear message (exit 2): the
 * options of a run, and its files (readable input, no two files one, no other run holding them, no
 * earlier run overwritten). `BatchRun.run()` checks the files again and takes their locks.
 */
import { baseUrlProblem, keyProblem } from './checks.js';
import { BatchSetupError, checkFresh, checkPaths } from './files.js';
import { heldMessage, lockHolder } from './lock.js';
import { BATCH_DEFAULTS, type BatchOptions } from './options.js';
import { keyRedactor } from './redact.js';

/** Checks a run's options; throws {@link BatchSetupError} saying what to do (never showing the key). */
export function checkOptions(options: BatchOptions): void {
  const maxInFlight = options.maxInFlight ?? BATCH_DEFAULTS.maxInFlight;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new BatchSetupError(`maxInFlight must be a whole number from 1 up, got ${String(maxInFlight)}.`);
  }
  const urlProblem = baseUrlProblem(options.baseUrl);
  if (urlProblem) {
    throw new BatchSetupError(
      keyRedactor(options.apiKey).text(
        `The base URL ${JSON.stringify(options.baseUrl)} ${urlProblem}; expected e.g. https://api.openai.com/v1.`,
      ),
    );
  }
  const problem = options.apiKey === undefined ? undefined : keyProblem(options.apiKey);
  if (problem) throw new BatchSetupError(`The API key ${problem}. Remove it from the key.`);
}

/**
 * Checks, before anything is sent, that a run on these files can start: the input is readable, no two
 * files are one, no other run holds them, and (without `resume`) no earlier run is overwritten. Throws
 * {@link BatchSetupError} saying what to do. `run()` checks the same again and takes the locks.
 */
export async function checkFiles(options: {
  input: string;
  output?: string;
  errors?: string;
  resume?: boolean;
}): Promise<void> {
  const files = await checkPaths(options);
  if (options.output === undefined || files.errors === undefined) return;
  for (const target of [options.output, files.errors]) {
    const held = lockHolder(target);
    if (held) throw new BatchSetupError(heldMessage(target, held.path, held.holder));
  }
  if (!options.resume) checkFresh(options.output, files.errors);
}
