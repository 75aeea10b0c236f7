/**
 * What every room of the engine shares: the resolved options (store, clock, randomness, limits and
 * policies) and the one outlet for events.
 */
import type { SluiceEvent } from './events.js';
import type { ResolvedOptions } from './options.js';

export interface EngineContext extends ResolvedOptions {
  /** This engine's identity in a shared store (its concurrency leases and registered waits). */
  owner: string;
  /** Announces an event to the engine's listeners (a no-op without listeners). */
  emit(event: SluiceEvent): void;
}
