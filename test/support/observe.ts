/** A gateway with its observer in front of the emulator, and a way to put load through it (tests). */
import { startMock, type MockOptions, type MockServer } from '../../src/mock/index.js';
import type { GatewayConfig } from '../../src/serve/config.js';
import { startGateway, type Gateway } from '../../src/serve/gateway.js';
import type { GatewayOptions } from '../../src/serve/options.js';
import { observer, type Observer, type ObserverOptions } from '../../src/serve/observe/index.js';

export interface Observed {
  mock: MockServer;
  gateway: Gateway;
  observer: Observer;
  /** `http://127.0.0.1:PORT` whatever the gateway binds. */
  url: string;
  close(): Promise<void>;
}

export async function startObserved(
  options: {
    mock?: MockOptions;
    host?: string;
    observe?: ObserverOptions;
    config?: GatewayConfig;
    gateway?: Partial<GatewayOptions>;
  } = {},
): Promise<Observed> {
  const mock = await startMock({ latencyMs: 0, ...options.mock });
  const make = observer({ processMetrics: false, ...options.observe });
  let watching: Observer | undefined;
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      upstream: mock.url,
      port: 0,
      host: options.host ?? '127.0.0.1',
      ...(options.config ? { config: options.config } : {}),
      ...options.gateway,
      observe: (g) => (watching = make(g)),
    });
  } catch (err) {
    await mock.close();
    throw err;
  }
  const port = new URL(gateway.url).port;
  return {
    mock,
    gateway,
    observer: watching!,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await gateway.close();
      await mock.close();
    },
  };
}

/** One chat completion through the gateway; resolves with the status. */
export async function chat(
  url: string,
  key: string,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello.' }],
      max_tokens: 8,
      ...body,
    }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Sums the values of the samples of one metric whose labels include `labels`. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(m[3]);
      found = true;
    }
  }
  return found ? total : NaN;
}
