/**
 * `sluice/mock`: an OpenAI-compatible server that rate-limits the way OpenAI does, for tests.
 *
 * @example
 * import OpenAI from 'openai';
 * import { startMock } from 'sluice/mock';
 *
 * const mock = await startMock({ rpm: 60, tpm: 10_000 });
 * const client = new OpenAI({ baseURL: mock.url, apiKey: 'sk-test' });
 * await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
 * await mock.close();
 */
export { startMock, type MockServer } from './server.js';
export {
  MOCK_DEFAULTS,
  MAX_TIMER_MS,
  MOCK_OPTIONS,
  MockOptionError,
  type MockClock,
  type MockFlavor,
  type MockOptions,
  type MockSettle,
} from './options.js';
export type { MockErrors, MockRejections, MockSecond, MockStats } from './stats.js';
