import { describe, expect, it } from 'vitest';
import { sluiceError } from '../engine/errors.js';
import { errorAnswer, outcomeHeaders } from './response.js';

describe('errorAnswer', () => {
  it('answers a Sluice failure in OpenAI’s error shape with its code and the wait', () => {
    const answer = errorAnswer(sluiceError('queue_full', 'The queue is full.', { retryAfterMs: 1500.2 }));
    expect(answer.status).toBe(429);
    expect(answer.headers).toMatchObject({
      'content-type': 'application/json',
      'x-sluice-error-code': 'queue_full',
      'retry-after': '2',
      'retry-after-ms': '1501',
    });
    expect(JSON.parse(answer.body)).toEqual({
      error: { message: 'The queue is full.', type: 'sluice_error', param: null, code: 'queue_full' },
    });
  });

  it('keeps the upstream status of a 5xx that outlived every retry, and its request id', () => {
    const answer = errorAnswer(
      sluiceError('upstream_error', 'down', {
        status: 503,
        requestId: 'req_1',
        body: { error: { message: 'x' } },
      }),
    );
    expect(answer.status).toBe(503);
    expect(answer.headers['x-request-id']).toBe('req_1');
    expect(answer.headers).not.toHaveProperty('retry-after');
    expect(JSON.parse(answer.body).error.upstream).toEqual({ message: 'x' });
  });

  it('says no wait when the wait is unknown or infinite', () => {
    expect(
      errorAnswer(sluiceError('request_too_large', 'big', { retryAfterMs: Infinity })).headers,
    ).not.toHaveProperty('retry-after');
  });
});

describe('outcomeHeaders', () => {
  it('reports the queued time rounded and the attempts', () => {
    expect(outcomeHeaders({ queuedMs: 12.6, attempts: 2 })).toEqual([
      ['x-sluice-queued-ms', '13'],
      ['x-sluice-attempts', '2'],
    ]);
  });
});
