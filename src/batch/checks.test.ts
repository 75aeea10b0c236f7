import { describe, expect, it } from 'vitest';
import { baseUrlProblem, isEnvName, keyProblem, looksLikeKey } from './checks.js';

describe('checks before anything is sent', () => {
  it('accepts http and https base URLs only, and suggests the scheme when it is missing', () => {
    expect(baseUrlProblem('https://api.openai.com/v1')).toBeUndefined();
    expect(baseUrlProblem('http://127.0.0.1:8080/v1')).toBeUndefined();
    expect(baseUrlProblem('localhost:45043/v1')).toBe(
      'has no scheme (did you mean http://localhost:45043/v1?)',
    );
    expect(baseUrlProblem('127.0.0.1:8080/v1')).toMatch(
      /has no scheme \(did you mean http:\/\/127\.0\.0\.1:8080\/v1/,
    );
    expect(baseUrlProblem('ftp://host/v1')).toMatch(/uses ftp:\/\//);
    expect(baseUrlProblem('file:///tmp/x')).toMatch(/uses file:\/\//);
    expect(baseUrlProblem('not a url at all')).toBe('is not a URL');
  });

  it('finds characters a header cannot carry and says where, never what the key is', () => {
    expect(keyProblem('sk-abc123')).toBeUndefined();
    expect(keyProblem('sk-abc123\r')).toMatch(/a carriage return \(\\r\) at its end/);
    expect(keyProblem('sk-abc123\n')).toMatch(/a line break \(\\n\) at its end/);
    expect(keyProblem(' sk-abc')).toMatch(/a space at its start/);
    expect(keyProblem('sk-ab\u00e9c')).toMatch(/a non-ASCII character \(U\+00E9\) at position 6 of 7/);
    expect(keyProblem('sk-secret\n')).not.toContain('secret');
  });

  it('tells a variable name from a key', () => {
    expect(isEnvName('OPENAI_API_KEY')).toBe(true);
    expect(isEnvName('sk-proj-abc')).toBe(false);
    expect(looksLikeKey('sk-proj-abcdefghijklmnop')).toBe(true);
    expect(looksLikeKey('my-var')).toBe(false);
  });
});
