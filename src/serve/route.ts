/**
 * Where a client's request goes upstream. The upstream is fixed by configuration: a client names only a
 * path under it, never a host. Absolute-form targets (`POST http://elsewhere/ HTTP/1.1`), `..` segments
 * (plain or percent-encoded), backslashes and NUL bytes are refused; the `Host` header is never read.
 */

export type Route =
  { ok: true; url: Readonly<URL>; path: string } | { ok: false; status: 400 | 404; message: string };

/** Client paths the gateway forwards: the OpenAI/Anthropic API root and Azure's `/openai/…`. */
const FORWARDED = /^\/(v1|openai)(\/|$)/;

/** Routes already worked out, per upstream: clients send the same few targets over and over. */
const known = new WeakMap<URL, Map<string, Route>>();
/** Targets remembered per upstream; beyond, the memory starts afresh (query strings vary without end). */
const KNOWN_TARGETS = 256;

/**
 * Maps a request target to the upstream URL. `upstream` is a base URL (`https://api.openai.com/v1`,
 * `https://res.openai.azure.com`, `https://api.anthropic.com`): a client path `/v1/x` goes to
 * `<upstream>/x` when the upstream already ends in `/v1`, else to `<upstream>/v1/x`. Calls with the same
 * target share one answer: its URL must not be changed.
 */
export function routeOf(target: string, upstream: URL): Route {
  let routes = known.get(upstream);
  let route = routes?.get(target);
  if (route === undefined) {
    route = computeRoute(target, upstream);
    if (routes === undefined) known.set(upstream, (routes = new Map()));
    if (routes.size >= KNOWN_TARGETS) routes.clear();
    routes.set(target, route);
  }
  return route;
}

/** A request target's path: everything before the query. */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

function computeRoute(target: string, upstream: URL): Route {
  if (!target.startsWith('/')) {
    return {
      ok: false,
      status: 400,
      message: 'The request target must be a path (e.g. /v1/chat/completions), not a URL.',
    };
  }
  const path = pathOf(target);
  const search = target.slice(path.length);
  if (!FORWARDED.test(path)) {
    return {
      ok: false,
      status: 404,
      message: `No route for ${truncate(path)}. The gateway forwards /v1/… (and /openai/… for Azure).`,
    };
  }
  if (unsafe(path)) {
    return { ok: false, status: 400, message: 'The path has a "..", "\\" or control character; refused.' };
  }
  const base = upstream.pathname.replace(/\/+$/, '');
  const rest = base.endsWith('/v1') && path.startsWith('/v1') ? path.slice(3) : path;
  const url = new URL(upstream.href);
  url.pathname = `${base}${rest}`;
  url.search = search;
  // The URL parser must not have moved us anywhere else.
  if (url.origin !== upstream.origin)
    return { ok: false, status: 400, message: 'Refused: the path leaves the upstream.' };
  return { ok: true, url, path };
}

/** A backslash, or a control character (code points below 0x20, and 0x7f). */
function hasUnsafeCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x5c) return true;
  }
  return false;
}

function unsafe(path: string): boolean {
  if (hasUnsafeCharacter(path)) return true;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return true;
  }
  if (hasUnsafeCharacter(decoded)) return true;
  return decoded.split('/').some((segment) => segment === '..' || segment === '.') || path.includes('//');
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
