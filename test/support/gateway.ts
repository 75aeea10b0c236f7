/** A gateway in front of an emulator, both on 127.0.0.1 port 0, for tests. */
import { startMock, type MockOptions, type MockServer } from '../../src/mock/index.js';
import { startGateway, type Gateway } from '../../src/serve/gateway.js';
import type { GatewayOptions } from '../../src/serve/options.js';
import type { RequestRecord } from '../../src/serve/context.js';

export interface GatewayRig {
  mock: MockServer;
  gateway: Gateway;
  /** The base URL clients use: `<gateway>/v1`. */
  base: string;
  /** Every request record the gateway produced (what its logs and metrics are built from). */
  records: RequestRecord[];
  close(): Promise<void>;
}

export async function startRig(
  mockOptions: MockOptions = {},
  gatewayOptions: Partial<GatewayOptions> = {},
): Promise<GatewayRig> {
  const mock = await startMock(mockOptions);
  const records: RequestRecord[] = [];
  const upstream =
    mockOptions.flavor && mockOptions.flavor !== 'openai' ? new URL(mock.url).origin : mock.url;
  const gateway = await startGateway({
    upstream,
    port: 0,
    onRequest: (r) => records.push(r),
    ...gatewayOptions,
  });
  return {
    mock,
    gateway,
    base: `${gateway.url}/v1`,
    records,
    close: async () => {
      await gateway.close();
      await mock.close();
    },
  };
}
