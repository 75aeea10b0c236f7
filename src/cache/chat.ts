/**
 * A chat completion in both shapes: a stream of `chat.completion.chunk` events assembled into the
 * `chat.completion` a plain request gets, and a completion cut into chunks — by delta, never one
 * aggregated chunk — for a streamed request. Every field survives both ways: content, refusals, tool
 * calls, logprobs, reasoning fields (`reasoning_content`, `reasoning`, …), annotations, usage details,
 * and the fields around them (`id`, `created`, `model`, `system_fingerprint`, `service_tier`).
 */
import { isRecord } from '../formats/json.js';

type Json = Record<string, unknown>;

/** Fields that name a thing rather than carry text: kept, never concatenated. */
const IDENTITY: ReadonlySet<string> = new Set(['id', 'type', 'name', 'role', 'index', 'object']);
/** Top-level fields of a chunk that describe the completion as a whole. */
const ENVELOPE = ['id', 'created', 'model', 'system_fingerprint', 'service_tier'] as const;

/**
 * The completion a stream of chunk events adds up to (the events as parsed JSON, `[DONE]` left out).
 * Text fields are concatenated, tool calls merged by their `index`, logprobs appended, the last
 * `finish_reason` kept, and the usage chunk's usage taken.
 */
export function assembleChat(chunks: readonly unknown[]): Json {
  const completion: Json = { object: 'chat.completion' };
  const choices = new Map<number, Json>();
  for (const chunk of chunks) {
    if (!isRecord(chunk)) continue;
    for (const field of ENVELOPE)
      if (chunk[field] !== undefined && completion[field] === undefined) completion[field] = chunk[field];
    if (isRecord(chunk['usage'])) completion['usage'] = chunk['usage'];
    const list = Array.isArray(chunk['choices']) ? chunk['choices'] : [];
    for (const c of list) {
      if (!isRecord(c)) continue;
      const index = typeof c['index'] === 'number' ? c['index'] : 0;
      let choice = choices.get(index);
      if (!choice) {
        choice = { index, message: {}, logprobs: null, finish_reason: null };
        choices.set(index, choice);
      }
      if (isRecord(c['delta'])) merge(choice['message'] as Json, c['delta']);
      if (isRecord(c['logprobs'])) {
        if (!isRecord(choice['logprobs'])) choice['logprobs'] = {};
        merge(choice['logprobs'] as Json, c['logprobs']);
      }
      if (c['finish_reason'] !== undefined && c['finish_reason'] !== null)
        choice['finish_reason'] = c['finish_reason'];
    }
  }
  for (const choice of choices.values()) {
    const message = choice['message'] as Json;
    if (message['content'] === undefined) message['content'] = null;
    // Tool calls keep their position, not an `index` field, in a completion.
    if (Array.isArray(message['tool_calls'])) {
      message['tool_calls'] = (message['tool_calls'] as Json[])
        .sort((a, b) => (a['index'] as number) - (b['index'] as number))
        .map(({ index: _i, ...call }) => call);
    }
  }
  completion['choices'] = [...choices.values()].sort(
    (a, b) => (a['index'] as number) - (b['index'] as number),
  );
  return order(completion);
}

/**
 * Chunks for a streamed request answered from a completion: per choice, a first chunk with the
 * message's role and other fields, then the text in pieces (one per logprob token when logprobs are
 * there, else about a word each), tool calls in pieces, a last chunk with the finish reason; then the
 * usage chunk when `includeUsage`. `[DONE]` is the caller's to send.
 */
export function chunksOfChat(completion: Json, includeUsage: boolean): Json[] {
  const envelope: Json = { object: 'chat.completion.chunk' };
  for (const field of ENVELOPE) if (completion[field] !== undefined) envelope[field] = completion[field];
  const out: Json[] = [];
  const chunk = (index: number, delta: Json, extra: Json = {}): void => {
    out.push({ ...envelope, choices: [{ index, delta, logprobs: null, finish_reason: null, ...extra }] });
  };
  const choices = Array.isArray(completion['choices']) ? completion['choices'] : [];
  for (const c of choices) {
    if (!isRecord(c)) continue;
    const index = typeof c['index'] === 'number' ? c['index'] : 0;
    const message = isRecord(c['message']) ? c['message'] : {};
    const { content, tool_calls: toolCalls, ...rest } = message;
    // First: role and every field that is not streamed as text (refusal: null, annotations, audio, …).
    const first: Json = {};
    const texts: [string, string][] = [];
    for (const [name, value] of Object.entries(rest)) {
      if (typeof value === 'string' && !IDENTITY.has(name)) {
        first[name] = '';
        texts.push([name, value]);
      } else first[name] = value;
    }
    if (typeof content === 'string') first['content'] = '';
    chunk(index, first);
    for (const [name, value] of texts) for (const piece of pieces(value)) chunk(index, { [name]: piece });
    const logprobs = isRecord(c['logprobs']) ? c['logprobs'] : undefined;
    if (typeof content === 'string') {
      const tokens = Array.isArray(logprobs?.['content']) ? (logprobs['content'] as unknown[]) : undefined;
      if (
        tokens &&
        tokens.every((t) => isRecord(t) && typeof t['token'] === 'string') &&
        tokens.map((t) => (t as Json)['token']).join('') === content
      ) {
        for (const t of tokens)
          chunk(index, { content: (t as Json)['token'] }, { logprobs: { ...logprobs, content: [t] } });
      } else {
        for (const piece of pieces(content)) chunk(index, { content: piece });
        if (logprobs) chunk(index, {}, { logprobs });
      }
    } else if (logprobs) chunk(index, {}, { logprobs });
    if (Array.isArray(toolCalls)) {
      toolCalls.forEach((call, i) => {
        if (!isRecord(call)) return;
        const fn = isRecord(call['function']) ? call['function'] : {};
        const { arguments: args, ...fnRest } = fn;
        const { function: _fn, ...callRest } = call;
        chunk(index, { tool_calls: [{ index: i, ...callRest, function: { ...fnRest, arguments: '' } }] });
        for (const piece of pieces(typeof args === 'string' ? args : '')) {
          chunk(index, { tool_calls: [{ index: i, function: { arguments: piece } }] });
        }
      });
    }
    chunk(index, {}, { finish_reason: c['finish_reason'] ?? 'stop' });
  }
  if (includeUsage && completion['usage'] !== undefined)
    out.push({ ...envelope, choices: [], usage: completion['usage'] });
  return out;
}

/** Adds a delta into what has arrived so far. */
function merge(target: Json, delta: Json): void {
  for (const [name, value] of Object.entries(delta)) {
    const prior = target[name];
    if (typeof value === 'string' && typeof prior === 'string' && !IDENTITY.has(name))
      target[name] = prior + value;
    else if (Array.isArray(value) && Array.isArray(prior)) {
      if (value.every((v) => isRecord(v) && typeof v['index'] === 'number')) {
        for (const item of value as Json[]) {
          const at = (prior as unknown[]).find((p) => isRecord(p) && p['index'] === item['index']);
          if (isRecord(at)) merge(at, item);
          else prior.push(structuredClone(item));
        }
      } else prior.push(...(value as unknown[]).map((v) => structuredClone(v)));
    } else if (isRecord(value) && isRecord(prior)) merge(prior, value);
    else if (value !== null || prior === undefined) target[name] = structuredClone(value);
  }
}

/** Text in pieces of about a word (a space stays with the word after it). Never empty for ''. */
function pieces(text: string): string[] {
  const parts = text.match(/\s*\S+|\s+$/g);
  return parts && parts.length > 0 ? parts : text === '' ? [] : [text];
}

/** A completion's fields in OpenAI's order, the rest after. */
function order(completion: Json): Json {
  const out: Json = {};
  for (const field of [
    'id',
    'object',
    'created',
    'model',
    'choices',
    'usage',
    'service_tier',
    'system_fingerprint',
  ]) {
    if (completion[field] !== undefined) out[field] = completion[field];
  }
  for (const [k, v] of Object.entries(completion)) if (!(k in out)) out[k] = v;
  return out;
}
