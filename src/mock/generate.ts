/**
 * Deterministic "model output": the same request (see `ParsedRequest.hash`) and text seed always give the
 * same text, token counts and embeddings, streamed or not, so response caches can be checked.
 */
import type { ParsedRequest } from './request.js';

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const WORDS = [
  'the',
  'rate',
  'limit',
  'bucket',
  'refills',
  'slowly',
  'while',
  'tokens',
  'flow',
  'through',
  'a',
  'narrow',
  'sluice',
  'and',
  'every',
  'request',
  'waits',
  'its',
  'turn',
  'before',
  'the',
  'gate',
  'opens',
  'again',
  'water',
  'level',
  'rises',
  'steady',
  'stream',
  'minute',
  'window',
  'burst',
  'quiet',
  'river',
  'model',
  'answer',
  'prompt',
  'queue',
  'patient',
  'clock',
  'second',
  'light',
  'calm',
  'measure',
  'count',
  'fair',
  'share',
  'pace',
  'even',
  'flows',
  'under',
  'over',
  'bright',
  'small',
  'large',
  'kind',
  'clear',
  'soft',
  'morning',
  'evening',
  'harbor',
  'channel',
  'lock',
  'weir',
] as const;

/** One generated choice: `pieces` are the stream deltas (one per token), `text` their concatenation. */
export interface GeneratedChoice {
  pieces: string[];
  text: string;
  tokens: number;
  /** `length` when the request's own max was reached, else `stop`. */
  finishReason: 'stop' | 'length';
}

export interface Generation {
  choices: GeneratedChoice[];
  promptTokens: number;
  /** Sum over choices; each choice's count is between 1 and its max. */
  completionTokens: number;
}

function seedMix(request: ParsedRequest, textSeed: number, stream: number): number {
  return (request.hash + Math.imul(stream, 0x9e3779b9)) ^ Math.imul(textSeed, 0x85ebca6b);
}

/**
 * Completion tokens of each choice: between 1 and `maxTokens ?? defaultMaxTokens`, and at most
 * `max(1, floor(maxGenerated / n))` so that one answer never holds more than `maxGenerated` tokens (or
 * one per choice). Cheap (no text), so the server can bill and charge before building an answer.
 */
export function completionCounts(
  request: ParsedRequest,
  textSeed: number,
  defaultMaxTokens: number,
  maxGenerated = Number.POSITIVE_INFINITY,
): number[] {
  if (request.endpoint === 'embeddings') return [];
  const rng = mulberry32(seedMix(request, textSeed, 0));
  const max = Math.min(
    request.maxTokens ?? defaultMaxTokens,
    Math.max(1, Math.floor(maxGenerated / request.n)),
  );
  const counts = new Array<number>(request.n);
  for (let c = 0; c < request.n; c++) counts[c] = 1 + Math.floor(rng() * max);
  return counts;
}

/** Generates the completion(s) of `request` (one word per token) for the given counts. */
export function generate(request: ParsedRequest, textSeed: number, counts: readonly number[]): Generation {
  const choices: GeneratedChoice[] = [];
  let completionTokens = 0;
  for (let c = 0; c < counts.length; c++) {
    const rng = mulberry32(seedMix(request, textSeed, c + 1));
    const tokens = counts[c]!;
    const finishReason = request.maxTokens !== undefined && tokens === request.maxTokens ? 'length' : 'stop';
    const pieces = new Array<string>(tokens);
    for (let i = 0; i < tokens; i++) {
      const word = WORDS[Math.floor(rng() * WORDS.length)]!;
      pieces[i] = i === 0 ? word[0]!.toUpperCase() + word.slice(1) : ` ${word}`;
    }
    if (finishReason === 'stop') pieces[tokens - 1] += '.';
    choices.push({ pieces, text: pieces.join(''), tokens, finishReason });
    completionTokens += tokens;
  }
  return { choices, promptTokens: request.promptTokens, completionTokens };
}

/** Deterministic unit vectors, one per input, of `request.dimensions` floats. */
export function embeddings(request: ParsedRequest, textSeed: number): Float32Array[] {
  const rng = mulberry32(seedMix(request, textSeed, 0));
  const out: Float32Array[] = [];
  for (let i = 0; i < request.inputs; i++) {
    const v = new Float32Array(request.dimensions);
    let norm = 0;
    for (let d = 0; d < v.length; d++) {
      const x = rng() * 2 - 1;
      v[d] = x;
      norm += x * x;
    }
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < v.length; d++) v[d]! *= scale;
    out.push(v);
  }
  return out;
}
