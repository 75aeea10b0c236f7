import { describe, expect, it } from 'vitest';
import { laneId, parseLaneId } from './lane-id.js';

describe('lane ids', () => {
  it('joins upstream, key fingerprint and model, and reads them back', () => {
    const ref = {
      upstream: 'https://api.openai.com',
      keyFingerprint: '0123456789abcdef',
      model: 'gpt-4o-mini',
    };
    expect(laneId(ref)).toBe('https://api.openai.com|0123456789abcdef|gpt-4o-mini');
    expect(parseLaneId(laneId(ref))).toEqual(ref);
  });

  it('keeps a model that holds the separator whole', () => {
    const ref = { upstream: 'http://127.0.0.1:8080', keyFingerprint: 'none', model: 'a|b' };
    expect(parseLaneId(laneId(ref))).toEqual(ref);
  });

  it('says undefined for a string that is not a lane id', () => {
    expect(parseLaneId('gpt-4o')).toBeUndefined();
    expect(parseLaneId('http://up|k')).toBeUndefined();
  });
});
