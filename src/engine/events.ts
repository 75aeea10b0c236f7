/**
 * Everything the engine does is announced as a typed event; whatever reports on the engine (progress,
 * metrics, logs) is built from these and nothing else. Listeners run synchronously; a throwing listener
 * is isolated.
 */
import type { Outcome } from './types.js';
import type { ErrorCode } from './errors.js';

interface Base {
  /** Epoch ms (from the engine's clock). */
  at: number;
  /** Lane id: upstream | key fingerprint | model. Never contains a key. */
  lane: string;
  /** Per-engine request sequence number. */
  id: number;
}

export type SluiceEvent =
  | (Base & { type: 'queued'; priority: Priority; tenant: string; tokens: number; queueLength: number })
  | (Base & { type: 'admitted'; waitedMs: number; tokens: number })
  | (Base & { type: 'sent'; attempt: number })
  | (Base & { type: 'answered'; attempt: number; status: number; outcome: Outcome; latencyMs: number })
  | (Base & { type: 'rate_limited'; attempt: number; waitMs: number; perDay: boolean })
  | (Base & { type: 'retried'; attempt: number; delayMs: number; reason: Outcome | 'network' })
  | (Base & { type: 'settled'; estimatedTokens: number; actualTokens: number })
  | (Base & { type: 'succeeded'; attempts: number; totalMs: number })
  | (Base & { type: 'failed'; code: ErrorCode | 'fatal'; status?: number; attempts: number })
  | (Base & { type: 'lane_tripped'; reason: string })
  | (Base & { type: 'lane_reset' })
  | (Base & { type: 'limits_learned'; limits: Record<string, number> });

export type Priority = 'interactive' | 'default' | 'batch';
export const PRIORITIES: readonly Priority[] = ['interactive', 'default', 'batch'];

export type EventListener = (event: SluiceEvent) => void;

export class EventHub {
  #listeners: EventListener[] = [];

  on(listener: EventListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  get active(): boolean {
    return this.#listeners.length > 0;
  }

  emit(event: SluiceEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A broken listener must never break a request.
      }
    }
  }
}
