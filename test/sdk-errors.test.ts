/**
 * What each SDK shows for a failure Sluice decides (here: the account's quota, `quota_exhausted`), in
 * both modes of `createFetch()`. docs/errors.md's "What your SDK shows" table says the same.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateText } from 'ai';
import type OpenAIType from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetch, isSluiceError, sluiceErrorOf } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';

const major = Number(process.versions.node.split('.')[0]);
const { default: OpenAI } = (await import(major >= 22 ? 'openai7' : 'openai')) as {
  default: typeof OpenAIType;
};

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

/** A lane tripped by quota: the first request meets it, the second fails in Sluice without being sent. */
async function tripped(): Promise<MockServer> {
  mock = await startMock({ quotaRequests: 0 });
  return mock;
}
const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 5 };

describe('what the openai SDK shows', () => {
  it("errors: 'response' (default): a RateLimitError whose code is the Sluice code", async () => {
    const m = await tripped();
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: m.url, fetch: createFetch(), maxRetries: 0 });
    await client.chat.completions.create(ask).catch(() => undefined);
    const err = await client.chat.completions.create(ask).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('quota_exhausted');
    expect(sluiceErrorOf(err)).toBeUndefined();
  });

  it("errors: 'throw': an APIConnectionError whose cause is the SluiceError (sluiceErrorOf finds it)", async () => {
    const m = await tripped();
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: m.url,
      fetch: createFetch({ errors: 'throw' }),
      maxRetries: 0,
    });
    await client.chat.completions.create(ask).catch(() => undefined);
    const err = await client.chat.completions.create(ask).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(isSluiceError(err)).toBe(false);
    expect(sluiceErrorOf(err)).toMatchObject({ code: 'quota_exhausted' });
  });
});

describe('what the Vercel AI SDK shows', () => {
  it("errors: 'response' (default): an APICallError with status 429 and the Sluice code in its body", async () => {
    const m = await tripped();
    const openai = createOpenAI({ apiKey: 'sk-test', baseURL: m.url, fetch: createFetch() });
    await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'hi', maxRetries: 0 }).catch(
      () => undefined,
    );
    const err = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'hi', maxRetries: 0 }).catch(
      (e: unknown) => e,
    );
    expect(APICallError.isInstance(err)).toBe(true);
    expect((err as APICallError).statusCode).toBe(429);
    expect(JSON.parse((err as APICallError).responseBody!)).toMatchObject({
      error: { code: 'quota_exhausted' },
    });
  });

  it("errors: 'throw': the SluiceError itself", async () => {
    const m = await tripped();
    const openai = createOpenAI({
      apiKey: 'sk-test',
      baseURL: m.url,
      fetch: createFetch({ errors: 'throw' }),
    });
    await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'hi', maxRetries: 0 }).catch(
      () => undefined,
    );
    const err = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'hi', maxRetries: 0 }).catch(
      (e: unknown) => e,
    );
    expect(sluiceErrorOf(err)).toMatchObject({ code: 'quota_exhausted' });
    console.log(
      'AI SDK throw mode:',
      (err as Error).constructor.name,
      (err as Error).name,
      isSluiceError(err),
    );
  });
});
