/**
 * Which requests are LLM calls. Only those are paced, costed and retried; everything else passes
 * through untouched, whatever its path.
 *
 * A request is an LLM call when it is a POST, its path has the shape of an LLM API endpoint, and its
 * body is a JSON object naming a `model` (an Azure deployment path names the model in the path instead):
 *
 * - the endpoint is the end of the path: `chat/completions`, `completions`, `embeddings`, `responses`
 *   or `messages` (Anthropic);
 * - right before it comes an API version segment (`/v1/chat/completions`, `/v1beta/openai/…`), the
 *   segment `openai` (`/openai/chat/completions`, as some gateways mount it), an Azure deployment
 *   (`/openai/deployments/{name}/chat/completions`), or nothing (`/chat/completions` at the root of a
 *   base URL without a version, as DeepSeek and Perplexity serve it).
 *
 * So `/api/tickets/42/messages` or `/threads/{id}/messages` are not LLM calls, and neither is a POST to
 * `/v1/chat/completions` whose body is not JSON.
 */
import type { RequestKind } from '../engine/cost.js';

export type LlmKind = Exclude<RequestKind, 'other'>;

export interface Endpoint {
  kind: LlmKind;
  /** The Azure deployment named by the path, when there is one. */
  deployment?: string;
}

const SHAPE = /^(.*?)\/(chat\/completions|completions|embeddings|responses|messages)\/*$/;
const VERSION = /^v\d+[a-z0-9]*$/i;
const AZURE = /\/openai\/deployments\/([^/]+)$/;

const KINDS: Record<string, LlmKind> = {
  'chat/completions': 'chat',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
  messages: 'messages',
};

/** Paths already read: clients send the same few over and over. */
const known = new Map<string, Readonly<Endpoint> | undefined>();
/** Paths remembered; beyond, the memory starts afresh (deployment names vary without end). */
const KNOWN_PATHS = 256;

/**
 * The LLM endpoint a URL path names, or `undefined`. `pathname` excludes the query. The answer is
 * shared between calls with the same path: do not change it.
 */
export function endpointOf(pathname: string): Readonly<Endpoint> | undefined {
  let endpoint = known.get(pathname);
  if (endpoint === undefined && !known.has(pathname)) {
    endpoint = readEndpoint(pathname);
    if (known.size >= KNOWN_PATHS) known.clear();
    known.set(pathname, endpoint && Object.freeze(endpoint));
  }
  return endpoint;
}

function readEndpoint(pathname: string): Endpoint | undefined {
  const match = SHAPE.exec(pathname);
  if (!match) return undefined;
  const prefix = match[1]!;
  const kind = KINDS[match[2]!]!;
  if (prefix === '') return { kind };
  const azure = AZURE.exec(prefix);
  if (azure) return kind === 'messages' ? undefined : { kind, deployment: decode(azure[1]!) };
  const last = prefix.slice(prefix.lastIndexOf('/') + 1);
  return VERSION.test(last) || last === 'openai' ? { kind } : undefined;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
