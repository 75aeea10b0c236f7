import { describe, expect, it } from 'vitest';
import { classOfJobPriority, classOfPriority, headerReader } from './message.js';

describe('worker message', () => {
  it('maps AMQP priorities 7–9, 4–6 and 0–3 to interactive, default and batch', () => {
    expect([9, 7, 6, 4, 3, 0, undefined].map(classOfPriority)).toEqual([
      'interactive',
      'interactive',
      'default',
      'default',
      'batch',
      'batch',
      undefined,
    ]);
  });

  it("maps a BullMQ job priority back through enqueue's 10 - p; 0 means none", () => {
    expect([1, 3, 4, 6, 7, 10, 500, 0, undefined].map(classOfJobPriority)).toEqual([
      'interactive',
      'interactive',
      'default',
      'default',
      'batch',
      'batch',
      'batch',
      undefined,
      undefined,
    ]);
  });

  it('reads headers without case, numbers and buffers as text', () => {
    const h = headerReader({ 'X-Sluice-Deadline': 5, 'x-sluice-tenant': Buffer.from('a'), skip: null });
    expect(h.get('x-sluice-deadline')).toBe('5');
    expect(h.get('X-SLUICE-TENANT')).toBe('a');
    expect(h.get('skip')).toBeNull();
  });
});
