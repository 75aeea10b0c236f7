/**
 * The option entries of every shell that calls the API itself with one key (`runBatch()`, the worker):
 * the key, and the limits of its lanes when they are not to be learned from the headers.
 */
import { custom, positive } from '../formats/option-kinds.js';

const isKey = (v: unknown): v is string => typeof v === 'string' && v !== '';

export const CALLER_OPTIONS = {
  /** Sent as `Authorization: Bearer …`; never logged, never written. */
  apiKey: custom(isKey, { expected: 'a non-empty string', help: 'the API key' }),
  /** Requests per minute per model. @default learned from the headers */
  rpm: positive({
    placeholder: 'n',
    defaultText: 'learned from the headers',
    help: 'requests per minute, per model',
  }),
  /** Tokens per minute per model. @default learned from the headers */
  tpm: positive({
    placeholder: 'n',
    defaultText: 'learned from the headers',
    help: 'tokens per minute, per model',
  }),
} as const;
