import { describe, expect, it } from 'vitest';
import {
  insufficientQuotaError,
  invalidApiKeyError,
  invalidJsonError,
  invalidRequestError,
  limitName,
  notFoundError,
  rateLimitError,
  redactApiKey,
  requestTooLargeError,
  serverError,
  slowDownError,
} from './openai-errors.js';

describe('OpenAI error bodies', () => {
  it('words the TPM rate limit exactly as OpenAI does', () => {
    const body = rateLimitError({
      model: 'gpt-4o-mini',
      organization: 'org-abc',
      dimension: 'tokens',
      period: 'minute',
      limit: 50000,
      used: 47949,
      requested: 3006,
      waitMs: 1146,
    });
    expect(JSON.stringify(body)).toBe(
      '{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}',
    );
  });

  it('names every limit and defaults the organization to org-mock', () => {
    expect(limitName('requests', 'minute')).toBe('requests per min (RPM)');
    expect(limitName('tokens', 'minute')).toBe('tokens per min (TPM)');
    expect(limitName('requests', 'day')).toBe('requests per day (RPD)');
    expect(limitName('tokens', 'day')).toBe('tokens per day (TPD)');
    const body = rateLimitError({
      model: 'gpt-4o',
      dimension: 'requests',
      period: 'day',
      limit: 200,
      used: 200,
      requested: 1,
      waitMs: 432_000,
    });
    expect(body.error.type).toBe('requests');
    expect(body.error.message).toContain(
      'in organization org-mock on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s.',
    );
  });

  it('words "Request too large" without Used or a wait', () => {
    const body = requestTooLargeError({
      model: 'gpt-4o',
      organization: 'org-abc',
      dimension: 'tokens',
      period: 'minute',
      limit: 30000,
      requested: 87968,
    });
    expect(body).toEqual({
      error: {
        message:
          'Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 87968. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.',
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
  });

  it('builds quota, slow_down, 400, 401, 404 and 5xx bodies', () => {
    expect(insufficientQuotaError()).toEqual({
      error: {
        message:
          'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    });
    expect(slowDownError().error).toMatchObject({ type: 'rate_limit_error', code: 'slow_down', param: null });
    expect(
      invalidRequestError(
        "Missing required parameter: 'messages'.",
        'messages',
        'missing_required_parameter',
      ),
    ).toEqual({
      error: {
        message: "Missing required parameter: 'messages'.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'missing_required_parameter',
      },
    });
    expect(invalidJsonError().error.message).toMatch(/^We could not parse the JSON body of your request\./);
    expect(invalidApiKeyError('sk-abcdefghijkl1234').error).toMatchObject({
      message: expect.stringContaining('Incorrect API key provided: sk-************1234.'),
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    });
    expect(invalidApiKeyError().error.message).toMatch(/^You didn't provide an API key\./);
    expect(notFoundError('POST', '/v1/nope').error.message).toBe('Invalid URL (POST /v1/nope)');
    expect(serverError().error).toMatchObject({ type: 'server_error', code: null });
    expect(serverError(503).error.message).toBe('The server is overloaded or not ready yet.');
  });

  it('never shows short keys', () => {
    expect(redactApiKey('secret')).toBe('******');
    expect(redactApiKey('sk-12345678')).toBe('sk-****5678');
  });
});
