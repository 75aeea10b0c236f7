export interface GatewayGoodputOptions {
  requests: number;
  processes: number;
  inFlight: number;
  rpm: number;
  tpm: number;
  burstSeconds: number;
  latencyMs: number;
  seed: number;
  promptChars: readonly [number, number];
  maxTokens: readonly [number, number];
  timeoutMs: number;
  placement: { generator: string; proxy: string } | undefined;
}
export async function benchGatewayGoodput(_o: GatewayGoodputOptions): Promise<string> {
  return 'todo';
}
