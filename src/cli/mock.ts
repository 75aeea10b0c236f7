import type { Command } from 'commander';

/** Registers `sluice mock` (the emulator). */
export function registerMock(_program: Command): void {}
