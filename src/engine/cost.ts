/**
 * What a request costs at admission, and what it cost in the end.
 *
 * OpenAI charges tokens when a request arrives, before any output exists: about
 * `ceil(prompt characters / 4) + n × (max_completion_tokens ?? max_tokens)` (docs/rate-limits.md, "How a
 * request is charged at admission"). {@link estimateCost} mirrors that rule so the local ledger stays
 * close to the server's; the emulator charges with the same definition of "prompt characters", so the
 * two must change together. {@link usageFromBody} and {@link usageFromStreamEvent} read the actual usage
 * that settles the reservation afterwards.
 *
 * Called once per request on the hot path: plain loops over the parsed body, no re-serialisation.
 */

import { isRecord, jsonObjectOf, parseJson } from '../formats/json.js';

export type RequestKind = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages' | 'other';

/** The admission cost of one request: 1 request and `promptTokens + completionTokens` tokens. */
export interface RequestCost {
  kind: RequestKind;
  /** The deployment name on an Azure deployment path, else `model` from the body. */
  model?: string;
  promptTokens: number;
  /** `n × (max_completion_tokens ?? max_tokens ?? max_output_tokens ?? typicalCompletion)`; 0 for embeddings. */
  completionTokens: number;
  /** Choices asked for (`n`, chat and legacy completions only); 1 otherwise. */
  n: number;
  /** `stream: true` in the body (never for embeddings, which do not stream). */
  stream: boolean;
  /** Whether the completion part is known: a max-tokens field was given, or the endpoint has none (embeddings). Otherwise `typicalCompletion` stood in for it. */
  maxGiven: boolean;
}

export interface CostOptions {
  /**
   * Completion tokens to assume when the body gives no max-tokens field (a learned typical length).
   * Rounded up to a whole token; a value that is not a positive finite number counts as 0.
   */
  typicalCompletion: number;
  /**
   * A real tokenizer. When given, prompt tokens are the sum of its counts over each text piece (plus
   * the length of token arrays) instead of `ceil(characters / 4)`. A count that is not a finite
   * non-negative number falls back to the character rule for that piece.
   */
  countTokens?: (text: string) => number;
}

/** Token usage an answer reported. Fields are absent when the answer did not say them. */
export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
}

/**
 * The admission cost of a request.
 *
 * @param path the request path, matched by suffix (`/v1/chat/completions`, Azure's
 *   `/openai/deployments/x/chat/completions?api-version=…`, `/chat/completions`; a full URL works too).
 * @param body the request body: a parsed object, a JSON string or UTF-8 bytes.
 *
 * Prompt characters, exactly (the emulator uses the same rule):
 * - chat: every message's `content` when a string, or every part's `text` when an array of parts;
 * - legacy completions and embeddings: `prompt` / `input` as a string, or the sum over an array of
 *   strings; a token array counts its length, and an array of token arrays the sum of theirs;
 * - responses: `instructions` + `input` (a string, or each item's `content` string or parts' `text`);
 * - Anthropic messages: `system` (a string or text blocks) + `messages` as for chat.
 *
 * An unknown path or a body that is not a JSON object costs 1 request and 0 tokens (kind `other`).
 */
export function estimateCost(path: string, body: unknown, options: CostOptions): RequestCost {
  const kind = kindOfPath(path);
  const request = jsonObjectOf(body);
  if (kind === 'other' || request === undefined) {
    const cost: RequestCost = {
      kind: 'other',
      promptTokens: 0,
      completionTokens: 0,
      n: 1,
      stream: request?.['stream'] === true,
      maxGiven: false,
    };
    const model = modelOf(request, path);
    if (model !== undefined) cost.model = model;
    return cost;
  }

  const tally: Tally = { chars: 0, counted: 0, count: options.countTokens };
  switch (kind) {
    case 'chat':
      addMessages(tally, request['messages']);
      break;
    case 'completions':
      addInput(tally, request['prompt']);
      break;
    case 'embeddings':
      addInput(tally, request['input']);
      break;
    case 'responses':
      addResponsesInput(tally, request);
      break;
    case 'messages':
      addSystem(tally, request['system']);
      addMessages(tally, request['messages']);
      break;
  }
  const promptTokens = tally.count ? tally.counted : Math.ceil(tally.chars / 4);

  let n = 1;
  let completionTokens = 0;
  // Embeddings have no completion: their cost is known exactly, as if a max of 0 had been given.
  let maxGiven = kind === 'embeddings';
  if (kind !== 'embeddings') {
    if (kind === 'chat' || kind === 'completions') n = choicesOf(request['n']);
    const max =
      tokenCount(request['max_completion_tokens']) ??
      tokenCount(request['max_tokens']) ??
      tokenCount(request['max_output_tokens']);
    maxGiven = max !== undefined;
    const typical = options.typicalCompletion;
    const perChoice = max ?? (Number.isFinite(typical) && typical > 0 ? Math.ceil(typical) : 0);
    completionTokens = n * perChoice;
  }

  const cost: RequestCost = {
    kind,
    promptTokens,
    completionTokens,
    n,
    stream: kind !== 'embeddings' && request['stream'] === true,
    maxGiven,
  };
  const model = modelOf(request, path);
  if (model !== undefined) cost.model = model;
  return cost;
}

/** Which endpoint a path names, by suffix, ignoring query, fragment and trailing slashes. */
export function kindOfPath(path: string): RequestKind {
  let end = path.length;
  const query = path.indexOf('?');
  if (query !== -1) end = query;
  const hash = path.indexOf('#');
  if (hash !== -1 && hash < end) end = hash;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;

  if (endsWithSegments(path, end, 'chat/completions')) return 'chat';
  if (endsWithSegments(path, end, 'completions')) return 'completions';
  if (endsWithSegments(path, end, 'embeddings')) return 'embeddings';
  if (endsWithSegments(path, end, 'responses')) return 'responses';
  // Anthropic `/v1/messages`; the Assistants API's `/threads/{id}/messages` is something else.
  if (endsWithSegments(path, end, 'messages') && !path.includes('/threads/')) return 'messages';
  return 'other';
}

/** `path[0, end)` ends with `suffix` at a segment boundary. */
function endsWithSegments(path: string, end: number, suffix: string): boolean {
  if (!path.endsWith(suffix, end)) return false;
  const before = end - suffix.length - 1;
  return before < 0 || path.charCodeAt(before) === 0x2f;
}

const AZURE_DEPLOYMENT = /\/deployments\/([^/?#]+)/;

/**
 * The model a request runs on. On an Azure deployment path the deployment decides, whatever `model`
 * the body names (Azure ignores it), and Azure's quotas are per deployment — so two deployments of one
 * model must not share a lane. Elsewhere, the body's `model`.
 */
function modelOf(request: Record<string, unknown> | undefined, path: string): string | undefined {
  const match = AZURE_DEPLOYMENT.exec(path);
  if (match) {
    try {
      return decodeURIComponent(match[1]!);
    } catch {
      return match[1];
    }
  }
  const model = request?.['model'];
  return typeof model === 'string' && model !== '' ? model : undefined;
}

/** A token count: a non-negative integer, else `undefined` (so a max-tokens chain tries the next field). */
function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function choicesOf(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : 1;
}

/** Running prompt size: characters (the admission rule) or tokenizer counts. */
interface Tally {
  chars: number;
  counted: number;
  count: ((text: string) => number) | undefined;
}

function addText(tally: Tally, text: string): void {
  const count = tally.count;
  if (count === undefined) {
    tally.chars += text.length;
    return;
  }
  const tokens = count(text);
  tally.counted += Number.isFinite(tokens) && tokens >= 0 ? tokens : Math.ceil(text.length / 4);
}

/** A token array: its length, as characters under the admission rule and as tokens under a tokenizer. */
function addTokenArray(tally: Tally, length: number): void {
  if (tally.count === undefined) tally.chars += length;
  else tally.counted += length;
}

/** Chat / Anthropic `messages`: each `content` string, or each part's `text`. */
function addMessages(tally: Tally, messages: unknown): void {
  if (!Array.isArray(messages)) return;
  for (const message of messages) {
    if (isRecord(message)) addContent(tally, message['content']);
  }
}

function addContent(tally: Tally, content: unknown): void {
  if (typeof content === 'string') {
    addText(tally, content);
  } else if (Array.isArray(content)) {
    for (const part of content) {
      if (!isRecord(part)) continue;
      const text = part['text'];
      if (typeof text === 'string') addText(tally, text);
    }
  }
}

/** Anthropic `system`: a string or an array of text blocks. */
function addSystem(tally: Tally, system: unknown): void {
  addContent(tally, system);
}

/** `prompt` / `input`: a string, strings, a token array, or token arrays. */
function addInput(tally: Tally, input: unknown): void {
  if (typeof input === 'string') {
    addText(tally, input);
    return;
  }
  if (!Array.isArray(input)) return;
  if (typeof input[0] === 'number') {
    addTokenArray(tally, input.length);
    return;
  }
  for (const item of input) {
    if (typeof item === 'string') addText(tally, item);
    else if (Array.isArray(item)) addTokenArray(tally, item.length);
  }
}

/** Responses API: `instructions` + `input` (a string, or items' `content`). */
function addResponsesInput(tally: Tally, request: Record<string, unknown>): void {
  const instructions = request['instructions'];
  if (typeof instructions === 'string') addText(tally, instructions);
  const input = request['input'];
  if (typeof input === 'string') {
    addText(tally, input);
  } else if (Array.isArray(input)) {
    for (const item of input) {
      if (isRecord(item)) addContent(tally, item['content']);
    }
  }
}

/**
 * Usage reported in a response body (a parsed object or JSON text):
 * OpenAI `usage.{prompt,completion,total}_tokens`, Responses API `usage.{input,output,total}_tokens`,
 * Anthropic `usage.{input,output}_tokens`. `undefined` when the body reports none.
 *
 * Anthropic's `cache_creation_input_tokens` are added to the prompt: they count towards its input-token
 * limit, while `cache_read_input_tokens` mostly do not (docs/rate-limits.md) and are left out.
 */
export function usageFromBody(body: unknown): Usage | undefined {
  const response = jsonObjectOf(body);
  return response ? readUsage(response['usage']) : undefined;
}

/**
 * Usage in one SSE `data:` payload: the final chunk of a chat stream (`stream_options.include_usage`),
 * `response.completed` (also `response.incomplete` / `response.failed`), Anthropic `message_start`
 * (`message.usage`) and `message_delta` (`usage`). `undefined` for every other payload.
 *
 * Anthropic spreads usage over events: `message_start` has the input and a placeholder output count,
 * `message_delta` the cumulative output. Callers merge field by field, later events winning.
 *
 * Cheap on ordinary chunks: a payload without the literal `_tokens"` is rejected before parsing.
 */
export function usageFromStreamEvent(data: string): Usage | undefined {
  if (data.indexOf('_tokens"') === -1) return undefined;
  const payload = data.startsWith('data:') ? data.slice(5) : data;
  const event = parseJson(payload);
  if (!isRecord(event)) return undefined;
  const direct = readUsage(event['usage']);
  if (direct) return direct;
  const response = event['response'];
  if (isRecord(response)) return readUsage(response['usage']);
  const message = event['message'];
  if (isRecord(message)) return readUsage(message['usage']);
  return undefined;
}

function readUsage(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  let prompt = tokenCount(usage['prompt_tokens']);
  if (prompt === undefined) {
    const input = tokenCount(usage['input_tokens']);
    const cacheCreation = tokenCount(usage['cache_creation_input_tokens']);
    if (input !== undefined) prompt = input + (cacheCreation ?? 0);
  }
  const completion = tokenCount(usage['completion_tokens']) ?? tokenCount(usage['output_tokens']);
  let total = tokenCount(usage['total_tokens']);
  if (total === undefined && prompt !== undefined && completion !== undefined) total = prompt + completion;

  if (prompt === undefined && completion === undefined && total === undefined) return undefined;
  const result: Usage = {};
  if (prompt !== undefined) result.promptTokens = prompt;
  if (completion !== undefined) result.completionTokens = completion;
  if (total !== undefined) result.totalTokens = total;
  return result;
}
