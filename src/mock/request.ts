import type { Cost } from './limiter.js';

/**
 * Reading a request body: validation with OpenAI's 400 wording, the prompt size the admission charge is
 * computed from, and a hash of what makes two requests "the same" (so their answers are identical).
 *
 * Admission charge (the contract the client engine mirrors):
 *   tokens = ceil(promptChars / 4) + n × (max_completion_tokens ?? max_tokens ?? max_output_tokens ?? defaultMaxTokens)
 * with no completion part for embeddings. promptChars counts:
 * - chat: every message's `content` string, or every part's `text` when `content` is an array;
 * - completions: `prompt` (a string, the sum over strings; a token array counts its length, an array
 *   of token arrays the sum of theirs);
 * - embeddings: `input` (a string, the sum over strings; a token array counts its length);
 * - responses: `instructions` + `input` (a string, or items' `content` strings or parts' `text`);
 * - messages (Anthropic): `system` + every message's `content` as for chat.
 */

export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages';

export interface ParsedRequest {
  endpoint: Endpoint;
  model: string;
  promptChars: number;
  /** `ceil(promptChars / 4)`: what `usage` reports as prompt tokens. */
  promptTokens: number;
  /** The request's own max, or `undefined` when it named none. */
  maxTokens: number | undefined;
  /** Choices asked for (chat and completions); 1 elsewhere. */
  n: number;
  stream: boolean;
  /** `stream_options.include_usage`. */
  includeUsage: boolean;
  /** FNV-1a over endpoint, model, prompt text, max, n and `seed`: equal requests, equal answers. */
  hash: number;
  /** Embeddings: how many vectors to return. */
  inputs: number;
  /** Embeddings: vector length (`dimensions`, default 1536). */
  dimensions: number;
  /** Embeddings: `encoding_format: "base64"` (what the openai SDK asks for by default). */
  base64: boolean;
}

/** A 400 in the making; the dialect shapes it. */
export interface BadRequest {
  bad: true;
  message: string;
  param: string | null;
  code: string | null;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Folds a string into an FNV-1a hash (by UTF-16 code unit: cheap and stable). */
export function hashString(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  // A separator so that ("ab","c") and ("a","bc") differ.
  h ^= 0xff;
  return Math.imul(h, FNV_PRIME) >>> 0;
}

function bad(message: string, param: string | null = null, code: string | null = null): BadRequest {
  return { bad: true, message, param, code };
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

function invalidType(param: string, expected: string, value: unknown): BadRequest {
  return bad(
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
    param,
    'invalid_type',
  );
}

function missing(param: string): BadRequest {
  return bad(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

type Body = Record<string, unknown>;

/** Running totals while walking prompt text. */
interface Prompt {
  chars: number;
  hash: number;
}

function addText(prompt: Prompt, text: string): void {
  prompt.chars += text.length;
  prompt.hash = hashString(prompt.hash, text);
}

/** A message `content`: a string, or an array of parts whose `text` strings count. */
function addContent(prompt: Prompt, content: unknown): void {
  if (typeof content === 'string') {
    addText(prompt, content);
  } else if (Array.isArray(content)) {
    for (const part of content) {
      if (part !== null && typeof part === 'object') {
        const text = (part as Body)['text'];
        if (typeof text === 'string') addText(prompt, text);
      }
    }
  }
}

function positiveInteger(
  body: Body,
  param: string,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined | BadRequest {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return invalidType(param, 'an integer', value);
  if (value < 1) {
    return bad(
      `Invalid '${param}': integer below minimum value. Expected a value >= 1, but got ${value} instead.`,
      param,
      'integer_below_min_value',
    );
  }
  if (value > max) {
    return bad(
      `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
      param,
      'integer_above_max_value',
    );
  }
  return value;
}

/** OpenAI's limit on the inputs of one embeddings request. */
export const MAX_EMBEDDING_INPUTS = 2048;

/**
 * The longest vector OpenAI's embedding models return (text-embedding-3-large). With the input limit it
 * bounds one answer to about 6.3 million floats (135 MB of JSON), which the server survives.
 */
export const MAX_EMBEDDING_DIMENSIONS = 3072;

/**
 * A completions `prompt` or embeddings `input`: a string, strings, a token array, or token arrays. Adds
 * its characters (a token array counts its length) and answers how many inputs it holds, or
 * `undefined` when it is none of those (or an empty array).
 */
function addInput(prompt: Prompt, input: unknown): number | undefined {
  if (typeof input === 'string') {
    addText(prompt, input);
    return 1;
  }
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((s) => typeof s === 'string')) {
    for (const s of input) addText(prompt, s as string);
    return input.length;
  }
  if (input.every((t) => typeof t === 'number')) {
    prompt.hash = hashString(prompt.hash, input.join(','));
    prompt.chars += input.length;
    return 1;
  }
  if (input.every((a) => Array.isArray(a) && a.every((t) => typeof t === 'number'))) {
    for (const a of input as number[][]) {
      prompt.hash = hashString(prompt.hash, a.join(','));
      prompt.chars += a.length;
    }
    return input.length;
  }
  return undefined;
}

function isBad(value: unknown): value is BadRequest {
  return typeof value === 'object' && value !== null && (value as BadRequest).bad === true;
}

/**
 * Validates `body` for `endpoint` and measures it. `modelOverride` is the Azure deployment named in the
 * path (it stands for the model).
 */
export function parseRequest(
  endpoint: Endpoint,
  body: unknown,
  modelOverride?: string,
): ParsedRequest | BadRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return bad(`Invalid type for request body: expected an object, but got ${typeName(body)} instead.`);
  }
  const b = body as Body;
  const model = modelOverride ?? b['model'];
  if (model === undefined || model === null || model === '') {
    return endpoint === 'messages'
      ? bad('model: Field required', 'model')
      : bad('you must provide a model parameter');
  }
  if (typeof model !== 'string') return invalidType('model', 'a string', model);

  const prompt: Prompt = { chars: 0, hash: hashString(hashString(FNV_OFFSET, endpoint), model) };
  let inputs = 1;
  let dimensions = 1536;
  let base64 = false;

  switch (endpoint) {
    case 'chat':
    case 'messages': {
      const messages = b['messages'];
      if (messages === undefined)
        return endpoint === 'messages' ? bad('messages: Field required', 'messages') : missing('messages');
      if (!Array.isArray(messages)) return invalidType('messages', 'an array of objects', messages);
      if (messages.length === 0) {
        return bad(
          "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
          'messages',
          'empty_array',
        );
      }
      if (endpoint === 'messages') {
        if (b['max_tokens'] === undefined || b['max_tokens'] === null)
          return bad('max_tokens: Field required', 'max_tokens');
        addContent(prompt, b['system']);
      }
      for (let i = 0; i < messages.length; i++) {
        const message: unknown = messages[i];
        if (message === null || typeof message !== 'object' || Array.isArray(message)) {
          return invalidType(`messages[${i}]`, 'an object', message);
        }
        addContent(prompt, (message as Body)['content']);
      }
      break;
    }
    case 'completions': {
      const p = b['prompt'];
      if (p === undefined || p === null) return missing('prompt');
      // An empty list was always accepted here (as an empty prompt); keep it so.
      const read = Array.isArray(p) && p.length === 0 ? 0 : addInput(prompt, p);
      if (read === undefined)
        return invalidType(
          'prompt',
          'a string, an array of strings, a token array or an array of token arrays',
          p,
        );
      break;
    }
    case 'embeddings': {
      const input = b['input'];
      if (input === undefined || input === null) return missing('input');
      const read = addInput(prompt, input);
      if (read === undefined)
        return invalidType('input', 'a string, an array of strings or an array of token arrays', input);
      if (read > MAX_EMBEDDING_INPUTS) {
        return bad(
          `Invalid 'input': array too long. Expected an array with maximum length ${MAX_EMBEDDING_INPUTS}, but got an array with length ${read} instead.`,
          'input',
          'array_above_max_length',
        );
      }
      inputs = read;
      const d = positiveInteger(b, 'dimensions', MAX_EMBEDDING_DIMENSIONS);
      if (isBad(d)) return d;
      if (d !== undefined) dimensions = d;
      const format = b['encoding_format'];
      if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') {
        return bad(
          `Invalid value for 'encoding_format': expected 'float' or 'base64', but got ${JSON.stringify(format)} instead.`,
          'encoding_format',
          'invalid_value',
        );
      }
      base64 = format === 'base64';
      break;
    }
    case 'responses': {
      const instructions = b['instructions'];
      if (typeof instructions === 'string') addText(prompt, instructions);
      const input = b['input'];
      if (typeof input === 'string') {
        addText(prompt, input);
      } else if (Array.isArray(input)) {
        for (const item of input) {
          if (item !== null && typeof item === 'object') addContent(prompt, (item as Body)['content']);
        }
      } else if (input !== undefined && input !== null) {
        return invalidType('input', 'a string or an array of input items', input);
      }
      break;
    }
  }

  let maxTokens: number | undefined;
  if (endpoint !== 'embeddings') {
    for (const param of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
      const value = positiveInteger(b, param);
      if (isBad(value)) return value;
      if (maxTokens === undefined && value !== undefined) maxTokens = value;
    }
  }
  let n = 1;
  if (endpoint === 'chat' || endpoint === 'completions') {
    const value = positiveInteger(b, 'n', 128);
    if (isBad(value)) return value;
    n = value ?? 1;
  }
  const stream = b['stream'] === true && endpoint !== 'embeddings';
  const options = b['stream_options'];
  const includeUsage =
    stream && options !== null && typeof options === 'object' && (options as Body)['include_usage'] === true;

  let hash = hashString(
    prompt.hash,
    `${maxTokens ?? ''}/${n}/${typeof b['seed'] === 'number' ? b['seed'] : ''}`,
  );
  hash = hashString(hash, endpoint === 'embeddings' ? `${dimensions}` : '');

  return {
    endpoint,
    model,
    promptChars: prompt.chars,
    promptTokens: Math.ceil(prompt.chars / 4),
    maxTokens,
    n,
    stream,
    includeUsage,
    hash,
    inputs,
    dimensions,
    base64,
  };
}

/**
 * What a request costs at admission (the charge rule above): 1 request; prompt tokens plus
 * `n × (its max ?? defaultMaxTokens)` completion tokens, none for embeddings. `inputTokens` and
 * `outputTokens` split the same figure for Anthropic's limits.
 */
export function admissionCost(request: ParsedRequest, defaultMaxTokens: number): Cost {
  const maxOut = request.endpoint === 'embeddings' ? 0 : request.n * (request.maxTokens ?? defaultMaxTokens);
  return {
    requests: 1,
    tokens: request.promptTokens + maxOut,
    inputTokens: request.promptTokens,
    outputTokens: maxOut,
  };
}

/** `ParsedRequest | BadRequest` narrowing for callers. */
export function isBadRequest(value: ParsedRequest | BadRequest): value is BadRequest {
  return (value as BadRequest).bad === true;
}
