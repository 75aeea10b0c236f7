/**
 * The shape of `/api/stats` (and of each SSE `snapshot` event): what the dashboard draws, and what a
 * script may read. Times are epoch milliseconds; every series has one point per second on the shared
 * time axis `time`.
 */
import type { Priority } from '../../engine/events.js';
import type { Dimension } from '../../engine/types.js';
import type { LaneMode } from './mode.js';

export interface StatsSnapshot {
  /** When the snapshot was taken. */
  at: number;
  gateway: {
    version: string;
    /** The upstream base URL (origin and path; never credentials). */
    upstream: string;
    startedAt: number;
    /** Whether virtual keys are configured (then `apps` lists them). */
    virtualKeys: boolean;
  };
  /** The time axis of every series: `points` seconds from `startMs`, one per `stepMs`. */
  time: { startMs: number; stepMs: 1000; points: number };
  totals: {
    /** Requests answered since start (LLM calls and pass-through alike). */
    requests: number;
    /** Of those, answered with a status of 400 or above (gateway refusals included). */
    errors: number;
    /** Errors in the last 5 minutes. */
    errors5m: number;
    /** Upstream rate-limit answers (429) since start. */
    rateLimited: number;
    rateLimited15m: number;
    /** Transient retries (5xx, network) since start. */
    retries: number;
    retries15m: number;
    /** Attempts admitted on every lane in the last 60 s (what counts against RPM). */
    requestsPerMinute: number;
    /** Tokens charged on every lane in the last 60 s (what counts against TPM). */
    tokensPerMinute: number;
    /** Requests answered by the gateway in the last 60 s. */
    answeredPerMinute: number;
    queued: number;
    inFlight: number;
  };
  /** The response cache, when the gateway has one. */
  cache?: {
    hits: number;
    misses: number;
    bypassed: number;
    coalesced: number;
    tokensSaved: number;
    hitRate: number;
  };
  lanes: LaneSnapshot[];
  apps: AppSnapshot[];
}

export interface LaneSnapshot {
  /** upstream | key fingerprint | model. */
  id: string;
  upstream: string;
  model: string;
  /** The key's fingerprint (16 hex digits of its SHA-256), never the key. */
  key: string;
  /** Apps (virtual keys) whose requests ran on this lane since start. */
  apps: string[];
  mode: LaneMode;
  /** The lane's effective limits as the engine applies them (configured ∩ learned); absent = unknown. */
  limits: { rpm?: number; tpm?: number; rpd?: number; tpd?: number };
  buckets: { dimension: Dimension; windowMs: number; limit: number; capacity: number; level: number }[];
  queued: number;
  inFlight: number;
  /** Last 60 s. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  series: {
    /** Attempts admitted in the 60 s ending at each point. */
    requestsPerMinute: number[];
    /** Tokens charged (estimate at admission, corrected at settlement) in the 60 s ending at each point. */
    tokensPerMinute: number[];
    /** The RPM and TPM limits at each point (`null` while unknown). */
    rpmLimit: (number | null)[];
    tpmLimit: (number | null)[];
    /** Requests waiting, by priority, at each point. */
    queued: Record<Priority, (number | null)[]>;
  };
  queue: Record<Priority, PriorityQueue>;
  rateLimited: { total: number; last15m: number; lastMinute: number };
  retries: { total: number; last15m: number; lastMinute: number };
  errors: { total: number; last15m: number; lastMinute: number };
}

export interface PriorityQueue {
  /** Waiting now. */
  depth: number;
  /** Requests of this class sent upstream in the last 60 s, and their admission wait. */
  sentLastMinute: number;
  waitAvgMs: number;
  waitMaxMs: number;
}

export interface AppSnapshot {
  name: string;
  /** The app's priority class from the config (absent for apps seen but no longer configured). */
  priority?: Priority;
  requests: number;
  requestsPerMinute: number;
  /** Tokens used by the app's requests, when the gateway reports them per request; else `null`. */
  tokens: number | null;
  errors: number;
  errors15m: number;
}
