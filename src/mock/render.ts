/**
 * Response bodies of every endpoint, JSON and SSE, shaped like the real APIs (the `openai` SDK parses
 * them unchanged). Streams are built as a list of frames so the server can pace or cut them.
 */
import { embeddings, type Generation } from './generate.js';
import type { ParsedRequest } from './request.js';

export interface RenderContext {
  /** Hex id shared by the object ids of one answer. */
  id: string;
  /** Unix seconds. */
  created: number;
  textSeed: number;
}

/** An SSE answer: `frames` in order; `tokens[i]` is how many completion tokens frame i carries (pacing). */
export interface StreamPlan {
  frames: string[];
  tokens: number[];
  /** Frames from this index on are the ending (final chunk, usage, `[DONE]`); a stream cut drops them. */
  endsAt: number;
}

const FINGERPRINT = 'fp_mock';

function chatUsage(g: Generation) {
  return {
    prompt_tokens: g.promptTokens,
    completion_tokens: g.completionTokens,
    total_tokens: g.promptTokens + g.completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function completionUsage(g: Generation) {
  return {
    prompt_tokens: g.promptTokens,
    completion_tokens: g.completionTokens,
    total_tokens: g.promptTokens + g.completionTokens,
  };
}

/** The non-streaming JSON body of `request`. */
export function renderJson(request: ParsedRequest, g: Generation, ctx: RenderContext): string {
  switch (request.endpoint) {
    case 'chat':
      return JSON.stringify({
        id: `chatcmpl-${ctx.id}`,
        object: 'chat.completion',
        created: ctx.created,
        model: request.model,
        choices: g.choices.map((c, index) => ({
          index,
          message: { role: 'assistant', content: c.text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: c.finishReason,
        })),
        usage: chatUsage(g),
        service_tier: 'default',
        system_fingerprint: FINGERPRINT,
      });
    case 'completions':
      return JSON.stringify({
        id: `cmpl-${ctx.id}`,
        object: 'text_completion',
        created: ctx.created,
        model: request.model,
        choices: g.choices.map((c, index) => ({
          text: c.text,
          index,
          logprobs: null,
          finish_reason: c.finishReason,
        })),
        usage: completionUsage(g),
        system_fingerprint: FINGERPRINT,
      });
    case 'embeddings':
      return JSON.stringify({
        object: 'list',
        data: embeddings(request, ctx.textSeed).map((v, index) => ({
          object: 'embedding',
          index,
          embedding: request.base64
            ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
            : Array.from(v),
        })),
        model: request.model,
        usage: { prompt_tokens: g.promptTokens, total_tokens: g.promptTokens },
      });
    case 'responses':
      return JSON.stringify(responseObject(request, g, ctx, 'final'));
    case 'messages':
      return JSON.stringify(messageObject(request, g, ctx, 'final'));
  }
}

/** The SSE frames of a streamed `request` (not embeddings). */
export function renderStream(request: ParsedRequest, g: Generation, ctx: RenderContext): StreamPlan {
  switch (request.endpoint) {
    case 'chat':
    case 'completions':
      return chatStream(request, g, ctx);
    case 'responses':
      return responsesStream(request, g, ctx);
    case 'messages':
      return messagesStream(request, g, ctx);
    case 'embeddings':
      throw new Error('embeddings do not stream');
  }
}

function chatStream(request: ParsedRequest, g: Generation, ctx: RenderContext): StreamPlan {
  const chat = request.endpoint === 'chat';
  const frames: string[] = [];
  const tokens: number[] = [];
  // Every chunk shares this head; only `choices` (and `usage`) differ. Built once, not per token.
  const head = chat
    ? `data: {"id":"chatcmpl-${ctx.id}","object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(request.model)},"service_tier":"default","system_fingerprint":"${FINGERPRINT}","choices":`
    : `data: {"id":"cmpl-${ctx.id}","object":"text_completion","created":${ctx.created},"model":${JSON.stringify(request.model)},"system_fingerprint":"${FINGERPRINT}","choices":`;
  const tail = request.includeUsage ? ',"usage":null}\n\n' : '}\n\n';
  const push = (choices: string, carries: number): void => {
    frames.push(head + choices + tail);
    tokens.push(carries);
  };
  let endsAt = 0;
  g.choices.forEach((c, index) => {
    if (chat)
      push(
        `[{"index":${index},"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`,
        0,
      );
    for (const piece of c.pieces) {
      push(
        chat
          ? `[{"index":${index},"delta":{"content":${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null}]`
          : `[{"text":${JSON.stringify(piece)},"index":${index},"logprobs":null,"finish_reason":null}]`,
        1,
      );
    }
    endsAt = frames.length;
    push(
      chat
        ? `[{"index":${index},"delta":{},"logprobs":null,"finish_reason":"${c.finishReason}"}]`
        : `[{"text":"","index":${index},"logprobs":null,"finish_reason":"${c.finishReason}"}]`,
      0,
    );
  });
  // A cut must drop at least the last choice's finish chunk and everything after it.
  if (request.includeUsage) {
    const usage = JSON.stringify(chat ? chatUsage(g) : completionUsage(g));
    frames.push(`${head}[],"usage":${usage}}\n\n`);
    tokens.push(0);
  }
  frames.push('data: [DONE]\n\n');
  tokens.push(0);
  return { frames, tokens, endsAt };
}

function event(type: string, payload: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
}

type Stage = 'start' | 'final';

function responseObject(request: ParsedRequest, g: Generation, ctx: RenderContext, stage: Stage) {
  const choice = g.choices[0]!;
  const incomplete = choice.finishReason === 'length';
  const final = stage === 'final';
  return {
    id: `resp_${ctx.id}`,
    object: 'response',
    created_at: ctx.created,
    status: final ? (incomplete ? 'incomplete' : 'completed') : 'in_progress',
    background: false,
    error: null,
    incomplete_details: final && incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: null,
    max_output_tokens: request.maxTokens ?? null,
    model: request.model,
    output: final ? [messageItem(ctx, choice.text, incomplete ? 'incomplete' : 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: final
      ? {
          input_tokens: g.promptTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: g.completionTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: g.promptTokens + g.completionTokens,
        }
      : null,
    user: null,
    metadata: {},
  };
}

function outputText(text: string) {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

function messageItem(ctx: RenderContext, text: string, status: string) {
  return { id: `msg_${ctx.id}`, type: 'message', status, content: [outputText(text)], role: 'assistant' };
}

function responsesStream(request: ParsedRequest, g: Generation, ctx: RenderContext): StreamPlan {
  const choice = g.choices[0]!;
  const itemId = `msg_${ctx.id}`;
  const frames: string[] = [];
  const tokens: number[] = [];
  let sequence = 0;
  const push = (type: string, payload: Record<string, unknown>, carries = 0): void => {
    frames.push(event(type, { sequence_number: sequence++, ...payload }));
    tokens.push(carries);
  };
  const started = responseObject(request, g, ctx, 'start');
  push('response.created', { response: started });
  push('response.in_progress', { response: started });
  push('response.output_item.added', {
    output_index: 0,
    item: { id: itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
  });
  push('response.content_part.added', {
    item_id: itemId,
    output_index: 0,
    content_index: 0,
    part: outputText(''),
  });
  for (const delta of choice.pieces) {
    push(
      'response.output_text.delta',
      { item_id: itemId, output_index: 0, content_index: 0, delta, logprobs: [] },
      1,
    );
  }
  const endsAt = frames.length;
  push('response.output_text.done', {
    item_id: itemId,
    output_index: 0,
    content_index: 0,
    text: choice.text,
    logprobs: [],
  });
  push('response.content_part.done', {
    item_id: itemId,
    output_index: 0,
    content_index: 0,
    part: outputText(choice.text),
  });
  const final = responseObject(request, g, ctx, 'final');
  push('response.output_item.done', { output_index: 0, item: final.output[0] });
  push(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
  return { frames, tokens, endsAt };
}

function messageObject(request: ParsedRequest, g: Generation, ctx: RenderContext, stage: Stage) {
  const choice = g.choices[0]!;
  const final = stage === 'final';
  return {
    id: `msg_${ctx.id}`,
    type: 'message',
    role: 'assistant',
    model: request.model,
    content: final ? [{ type: 'text', text: choice.text }] : [],
    stop_reason: final ? (choice.finishReason === 'length' ? 'max_tokens' : 'end_turn') : null,
    stop_sequence: null,
    usage: {
      input_tokens: g.promptTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: final ? g.completionTokens : 1,
    },
  };
}

function messagesStream(request: ParsedRequest, g: Generation, ctx: RenderContext): StreamPlan {
  const choice = g.choices[0]!;
  const frames: string[] = [];
  const tokens: number[] = [];
  const push = (type: string, payload: Record<string, unknown>, carries = 0): void => {
    frames.push(event(type, payload));
    tokens.push(carries);
  };
  push('message_start', { message: messageObject(request, g, ctx, 'start') });
  push('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  push('ping', {});
  for (const text of choice.pieces)
    push('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }, 1);
  const endsAt = frames.length;
  push('content_block_stop', { index: 0 });
  push('message_delta', {
    delta: { stop_reason: choice.finishReason === 'length' ? 'max_tokens' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: g.completionTokens },
  });
  push('message_stop', {});
  return { frames, tokens, endsAt };
}

/** `GET /v1/models`: a fixed catalogue (any model name is accepted by the other endpoints). */
export const MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'o4-mini',
  'gpt-3.5-turbo-instruct',
  'text-embedding-3-small',
  'text-embedding-3-large',
] as const;

export function modelObject(id: string) {
  return { id, object: 'model', created: 1_715_367_049, owned_by: 'system' };
}

export function renderModels(): string {
  return JSON.stringify({ object: 'list', data: MODELS.map(modelObject) });
}
