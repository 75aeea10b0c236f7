/**
 * The admin token that guards `/dashboard` and `/api/stats` when the gateway listens beyond loopback.
 * Whether it is needed depends on the host the gateway is bound to, never on the peer's address (behind
 * a proxy on the same machine every peer is 127.0.0.1).
 *
 * A client proves it holds the token with `Authorization: Bearer <token>`, or opens
 * `/dashboard?token=<token>` once: that sets an HttpOnly, SameSite=Strict cookie (so the page's
 * EventSource, which cannot send headers, is let in) and redirects to `/dashboard` so the token does not
 * stay in the address bar or the history. The cookie holds an HMAC of the token, not the token.
 * Comparisons are constant-time over digests of equal length. The token is never logged or echoed.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeJson } from '../wire.js';

export const ADMIN_COOKIE = 'sluice_admin';
/** Shorter tokens are refused: a guessable token guards nothing. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether a bind address keeps the gateway on this machine (then no admin token is needed). */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** Why the observer cannot start: the message names the flag or variable and the fix. */
export class AdminTokenError extends Error {
  override readonly name = 'AdminTokenError';
}

export interface AdminGuardOptions {
  /** The interface the gateway binds. */
  host: string;
  token: string | undefined;
  /** Where the token comes from, for messages (`$SLUICE_ADMIN_TOKEN`). */
  source: string;
}

export class AdminGuard {
  /** Whether requests must carry the token. */
  readonly required: boolean;
  readonly #digest: Buffer | undefined;
  readonly #cookie: string | undefined;
  readonly #source: string;

  constructor(options: AdminGuardOptions) {
    this.required = !isLoopback(options.host);
    this.#source = options.source;
    const token = options.token;
    if (this.required && !token) {
      throw new AdminTokenError(
        `The gateway binds ${options.host}, beyond loopback, so /dashboard and /api/stats need an admin token, and ${options.source} is not set. Set it (export ${options.source.replace(/^\$/, '')}=$(openssl rand -hex 32)) or bind --host 127.0.0.1.`,
      );
    }
    if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
      throw new AdminTokenError(
        `The admin token in ${options.source} is ${token.length} characters long; use at least ${MIN_TOKEN_LENGTH} (openssl rand -hex 32 makes a good one).`,
      );
    }
    if (token) {
      this.#digest = sha256(token);
      this.#cookie = createHmac('sha256', token).update('sluice dashboard session').digest('hex');
    }
  }

  /** Whether the request carries the token (or its cookie). Always true when no token is required. */
  allows(req: IncomingMessage): boolean {
    if (!this.required) return true;
    const auth = req.headers['authorization'];
    if (typeof auth === 'string' && /^bearer /i.test(auth)) return this.#matches(auth.slice(7).trim());
    const cookie = cookieValue(req.headers['cookie'], ADMIN_COOKIE);
    return cookie !== undefined && this.#cookie !== undefined && sameText(cookie, this.#cookie);
  }

  /**
   * Handles `/dashboard?token=…`: a good token sets the cookie and redirects to the same path without the
   * query; a wrong one is refused. Returns false when the URL carries no token.
   */
  exchange(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
    const token = query.get('token');
    if (token === null) return false;
    if (!this.required) {
      redirect(res, path, undefined);
      return true;
    }
    if (!this.#matches(token)) {
      this.refuse(res, true);
      return true;
    }
    redirect(res, path, `${ADMIN_COOKIE}=${this.#cookie}; Path=/; HttpOnly; SameSite=Strict`);
    return true;
  }

  /** A 401 in OpenAI's error shape that says where the token comes from (never what it is). */
  refuse(res: ServerResponse, presented: boolean): void {
    writeJson(
      res,
      401,
      {
        error: {
          message: presented
            ? `The admin token is not the one the gateway was started with (${this.#source}).`
            : `This endpoint needs the gateway's admin token (${this.#source} where the gateway runs): send Authorization: Bearer <token>, or open /dashboard?token=<token> once in the browser.`,
          type: 'invalid_request_error',
          param: null,
          code: presented ? 'invalid_admin_token' : 'admin_token_required',
        },
      },
      { 'www-authenticate': 'Bearer realm="sluice admin"', 'cache-control': 'no-store' },
    );
  }

  /** Whether the request presented some token (to tell "missing" from "wrong" in the 401). */
  presented(req: IncomingMessage): boolean {
    return (
      req.headers['authorization'] !== undefined ||
      cookieValue(req.headers['cookie'], ADMIN_COOKIE) !== undefined
    );
  }

  #matches(token: string): boolean {
    return this.#digest !== undefined && timingSafeEqual(sha256(token), this.#digest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time equality of two strings, whatever their lengths. */
function sameText(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function redirect(res: ServerResponse, location: string, cookie: string | undefined): void {
  res.writeHead(303, {
    location,
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'content-length': '0',
    ...(cookie ? { 'set-cookie': cookie } : {}),
  });
  res.end();
}
