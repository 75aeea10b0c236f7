import type { Command } from 'commander';
import { sha256 } from '../serve/keys.js';

/** Registers `sluice hash-key`: the SHA-256 of a virtual key, for `key_sha256` in the gateway's config. */
export function registerHashKey(program: Command): void {
  program
    .command('hash-key')
    .summary('print the SHA-256 of a virtual key read from stdin, for key_sha256 in sluice.yaml')
    .description(
      [
        'Print the SHA-256 (hex) of a key read from standard input, for the key_sha256 field of a',
        'virtual key in the gateway config. The key is read from stdin, never from the command line,',
        'so that it stays out of the shell history; one trailing newline is ignored.',
      ].join('\n'),
    )
    .addHelpText('after', '\nExample:\n  printf %s "$CHECKOUT_KEY" | sluice hash-key')
    .action(async () => {
      if (process.stdin.isTTY) process.stderr.write('Type or paste the key, then press Ctrl-D:\n');
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const key = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      if (key === '') {
        process.stderr.write(
          'sluice hash-key: no key on standard input. Example: printf %s "$KEY" | sluice hash-key\n',
        );
        process.exitCode = 2;
        return;
      }
      process.stdout.write(`${sha256(key)}\n`);
    });
}
