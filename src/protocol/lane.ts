/**
 * Which lane a request belongs to: upstream + API-key fingerprint + model. The key itself never leaves
 * this module: only a short SHA-256 fingerprint does.
 */
import { createHash } from 'node:crypto';

const fingerprints = new Map<string, string>();

/** A short, stable, non-reversible id for an API key (16 hex chars of SHA-256). `none` without a key. */
export function keyFingerprint(key: string | null | undefined): string {
  if (!key) return 'none';
  let fp = fingerprints.get(key);
  if (fp === undefined) {
    fp = createHash('sha256').update(key).digest('hex').slice(0, 16);
    if (fingerprints.size > 1000) fingerprints.clear();
    fingerprints.set(key, fp);
  }
  return fp;
}

/** The credential a request carries: `Authorization: Bearer …`, Azure `api-key`, Anthropic `x-api-key`. */
export function credentialOf(headers: { get(name: string): string | null }): string | null {
  const auth = headers.get('authorization');
  if (auth) return auth.startsWith('Bearer ') ? auth.slice(7) : auth;
  return headers.get('api-key') ?? headers.get('x-api-key');
}

/**
 * The upstream part of a lane id: the URL's origin (scheme, host, port). Every shell derives it the
 * same way, so requests to one upstream share one lane whichever shell sends them.
 */
export function upstreamOf(url: string | URL): string {
  return (typeof url === 'string' ? new URL(url) : url).origin;
}
