#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerBatch } from './batch.js';
import { registerMock } from './mock.js';
import { registerHashKey } from './hash-key.js';
import { registerLimits } from './limits.js';
import { registerServe } from './serve.js';
import { registerEnqueue } from './enqueue.js';
import { registerWorker } from './worker.js';

const program = new Command();
program
  .name('sluice')
  .description(
    'Stay under LLM API rate limits: pace requests under RPM/TPM, wait instead of failing, retry only what is worth retrying.',
  )
  .version(VERSION, '-v, --version')
  .showHelpAfterError('(run with --help for usage)')
  // A usage error (unknown command or option) exits 2, as every sluice command does.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

registerBatch(program);
registerMock(program);
registerServe(program);
registerLimits(program);
registerWorker(program);
registerEnqueue(program);
registerHashKey(program);

await program.parseAsync(process.argv);
