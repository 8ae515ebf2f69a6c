// Fault rules (setFaults / session.addFaults): the friendly shapes, checked
// here, and their matgto.v1.Fault messages.
import { ResetFault_When, Fault as PbFault, type WsFault as PbWsFault } from './gen/matgto/v1/control.js';
import { durationFromMs, durationMs, lookup, nonNegativeMs, reverse } from './pb-convert.js';

/** When a `reset` fault breaks the connection. */
export type ResetWhen = 'before-headers' | 'after-headers' | 'mid-body';

/** Extra headers of a `status` fault: `{ 'Retry-After': '1' }` or `[['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]`. */
export type FaultHeaders = Readonly<Record<string, string>> | ReadonlyArray<readonly [name: string, value: string]>;

type ActionKey = 'status' | 'delayMs' | 'hang' | 'reset' | 'bandwidth' | 'websocket';
/** `T`, with every other action's keys (and a status's headers/body) absent. */
type OnlyAction<K extends ActionKey, T> = T & { [P in Exclude<ActionKey, K>]?: undefined } & (K extends 'status'
    ? unknown
    : { headers?: undefined; body?: undefined });

/** Answer this status (with `headers` and `body`) instead of the recorded or live response; nothing is forwarded or recorded. */
export type StatusFaultAction = OnlyAction<'status', { status: number; headers?: FaultHeaders; body?: string | Uint8Array }>;
/** Wait this long before the response starts. */
export type DelayFaultAction = OnlyAction<'delayMs', { delayMs: number }>;
/** Never answer: hold the connection until the client gives up. */
export type HangFaultAction = OnlyAction<'hang', { hang: true }>;
/** Break the connection with a TCP RST: before anything is sent (`true` means this), after the headers, or half-way through the body. */
export type ResetFaultAction = OnlyAction<'reset', { reset: ResetWhen | true }>;
/** Send the response body at most this many bytes per second. */
export type BandwidthFaultAction = OnlyAction<'bandwidth', { bandwidth: number }>;
/**
 * What a `websocket` fault does to a WebSocket session (at least one of them;
 * neither is INVALID_ARGUMENT from the server).
 */
export interface WebSocketFault {
  /** Drop the client's connection (no close frame) after it got this many messages; 0 or unset: never. */
  dropAfterMessages?: number;
  /** Each message to the client waits this many milliseconds first. */
  messageDelayMs?: number;
}
/**
 * Applies to WebSocket upgrades only (and HTTP rules never apply to them):
 * `{ websocket: { dropAfterMessages: 2, messageDelayMs: 300 } }`.
 */
export type WebSocketFaultAction = OnlyAction<'websocket', { websocket: WebSocketFault }>;
/** What a fault does: exactly one of these. */
export type FaultAction = StatusFaultAction | DelayFaultAction | HangFaultAction | ResetFaultAction | BandwidthFaultAction | WebSocketFaultAction;

/** How often a fault hits among the requests it matches: at most one of these (none: every matching request). */
export type FaultSelector =
  | { probability?: undefined; everyNth?: undefined; firstN?: undefined }
  /** Each matching request with this probability (0..1), drawn from the session's seeded generator. */
  | { probability: number; everyNth?: undefined; firstN?: undefined }
  /** The Nth, 2Nth, ... matching request. */
  | { everyNth: number; probability?: undefined; firstN?: undefined }
  /** The first N matching requests, then never again. */
  | { firstN: number; probability?: undefined; everyNth?: undefined };

/** Which requests a fault matches: all when neither is set. */
export interface FaultMatch {
  /** An HTTP method ("GET"); unset: any. */
  method?: string;
  /**
   * An RE2 pattern searched in the request's absolute URL (`'/orders/.*'`).
   * A `RegExp` without flags is sent as its `source` (the server's RE2 syntax
   * applies: no lookaround or backreferences).
   */
  url?: string | RegExp;
}

/**
 * A fault rule for `setFaults()` / `session.addFaults()`, modelled on
 * Toxiproxy's toxics but per request: a match, at most one selector and
 * exactly one action, e.g.
 * `{ status: 503, headers: { 'Retry-After': '1' }, firstN: 2, url: '/orders/.*' }`,
 * `{ delayMs: 2000 }`, `{ hang: true }`, `{ reset: 'mid-body', probability: 0.1 }`,
 * `{ bandwidth: 100 * 1024 }`, `{ websocket: { dropAfterMessages: 2, messageDelayMs: 300 } }`.
 */
export type FaultRule = FaultMatch &
  FaultSelector &
  FaultAction & {
    /** Reseeds the session's generator (the seed is per session, not per rule; same as `setFaults`' `seed` option). */
    seed?: number | bigint;
  };

/** A fault rule in force on a session, as the server reports it. */
export type Fault = FaultMatch &
  FaultSelector &
  FaultAction & {
    /** Assigned by the server ("f1", "f2", ...): what `clearFaults(ids)` takes. */
    id: string;
    /** How many requests it has hit so far. */
    applied: number;
    url?: string;
  };

const RESET_TO_PB: Record<ResetWhen, ResetFault_When> = {
  'before-headers': ResetFault_When.BEFORE_HEADERS,
  'after-headers': ResetFault_When.AFTER_HEADERS,
  'mid-body': ResetFault_When.MID_BODY,
};

const ACTION_KEYS: readonly ActionKey[] = ['status', 'delayMs', 'hang', 'reset', 'bandwidth', 'websocket'];
const WEBSOCKET_KEYS = new Set(['dropAfterMessages', 'messageDelayMs']);
const SELECTOR_KEYS = ['probability', 'everyNth', 'firstN'] as const;
const RULE_KEYS = new Set<string>([...ACTION_KEYS, ...SELECTOR_KEYS, 'method', 'url', 'headers', 'body', 'seed']);

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${what} must be a positive integer, not ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new TypeError(`${what} must be a non-negative integer (uint32), not ${JSON.stringify(value)}`);
  }
  return value;
}

function webSocketFaultToPb(ws: unknown): PbWsFault {
  if (typeof ws !== 'object' || ws === null || Array.isArray(ws)) {
    throw new TypeError(`websocket takes { dropAfterMessages?, messageDelayMs? }, not ${JSON.stringify(ws)}`);
  }
  const w = ws as Record<string, unknown>;
  const unknown = Object.keys(w).filter((k) => !WEBSOCKET_KEYS.has(k) && w[k] !== undefined);
  if (unknown.length) throw new TypeError(`unknown websocket fault field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; it has dropAfterMessages, messageDelayMs`);
  return {
    dropAfterMessages: w.dropAfterMessages === undefined ? 0 : nonNegativeInt(w.dropAfterMessages, 'websocket.dropAfterMessages'),
    messageDelay: w.messageDelayMs === undefined ? undefined : durationFromMs(nonNegativeMs(w.messageDelayMs, 'websocket.messageDelayMs')),
  };
}

function headersToPb(headers: FaultHeaders | undefined): Array<{ name: string; value: string }> {
  if (headers === undefined) return [];
  const pairs: unknown[] = Array.isArray(headers) ? headers : typeof headers === 'object' && headers !== null ? Object.entries(headers) : [headers];
  return pairs.map((p) => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') {
      throw new TypeError(`fault headers are { name: value } or [[name, value], ...] with string values, not ${JSON.stringify(headers)}`);
    }
    return { name: p[0], value: p[1] };
  });
}

/** A seed as the uint64 the server takes. */
export function seedToBigint(seed: unknown, what = 'seed'): bigint {
  if (typeof seed === 'bigint' && seed >= 0n && seed < 1n << 64n) return seed;
  if (typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) return BigInt(seed);
  throw new TypeError(`${what} must be a non-negative integer (a number up to 2^53 or a bigint up to 2^64-1), not ${String(seed)}`);
}

/**
 * The generated `matgto.v1.Fault` for `rule`. Throws TypeError for a rule
 * that is not one match, at most one selector and exactly one action (value
 * ranges such as a probability above 1 are left to the server, which answers
 * INVALID_ARGUMENT).
 */
export function faultToPb(rule: FaultRule): PbFault {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
    throw new TypeError(`a fault rule is an object such as { status: 503 }, not ${JSON.stringify(rule)}`);
  }
  const r = rule as unknown as Record<string, unknown>;
  const unknown = Object.keys(r).filter((k) => !RULE_KEYS.has(k) && r[k] !== undefined);
  if (unknown.length) {
    throw new TypeError(`unknown fault rule field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; a rule has method, url, one of ${SELECTOR_KEYS.join('/')}, and one of ${ACTION_KEYS.join('/')}`);
  }
  const actions = ACTION_KEYS.filter((k) => r[k] !== undefined);
  if (actions.length !== 1) {
    throw new TypeError(`a fault rule needs exactly one action (${ACTION_KEYS.join(', ')}), not ${actions.length ? actions.join(' and ') : 'none'}: ${JSON.stringify(rule)}`);
  }
  const selectors = SELECTOR_KEYS.filter((k) => r[k] !== undefined);
  if (selectors.length > 1) throw new TypeError(`a fault rule takes at most one of probability, everyNth, firstN, not ${selectors.join(' and ')}`);
  const action = actions[0]!;
  if (action !== 'status' && (r.headers !== undefined || r.body !== undefined)) {
    throw new TypeError('headers and body belong to a status fault ({ status: 503, headers, body })');
  }
  const out = PbFault.fromPartial({});
  if (r.method !== undefined) {
    if (typeof r.method !== 'string') throw new TypeError(`fault method must be a string ("GET"), not ${JSON.stringify(r.method)}`);
    out.method = r.method;
  }
  if (r.url !== undefined) {
    if (r.url instanceof RegExp) {
      if (r.url.flags !== '') throw new TypeError(`fault url: a RegExp with flags (${r.url.flags}) cannot be sent as RE2; use a string pattern (RE2 takes (?i) for case-insensitivity)`);
      out.urlPattern = r.url.source;
    } else if (typeof r.url === 'string') {
      out.urlPattern = r.url;
    } else {
      throw new TypeError(`fault url must be an RE2 pattern (string), not ${JSON.stringify(r.url)}`);
    }
  }
  if (r.probability !== undefined) {
    if (typeof r.probability !== 'number' || Number.isNaN(r.probability)) throw new TypeError(`probability must be a number (0..1), not ${JSON.stringify(r.probability)}`);
    out.probability = r.probability;
  }
  if (r.everyNth !== undefined) out.everyNth = positiveInt(r.everyNth, 'everyNth');
  if (r.firstN !== undefined) out.firstN = positiveInt(r.firstN, 'firstN');
  switch (action) {
    case 'status': {
      if (typeof r.status !== 'number' || !Number.isInteger(r.status)) throw new TypeError(`status must be an integer HTTP status, not ${JSON.stringify(r.status)}`);
      let body: Buffer = Buffer.alloc(0);
      if (typeof r.body === 'string') body = Buffer.from(r.body, 'utf8');
      else if (r.body instanceof Uint8Array) body = Buffer.from(r.body);
      else if (r.body !== undefined) throw new TypeError('a status fault body is a string or a Uint8Array');
      out.status = { code: r.status, headers: headersToPb(r.headers as FaultHeaders | undefined).map((h) => ({ ...h, rawValue: Buffer.alloc(0) })), body };
      break;
    }
    case 'delayMs':
      out.delay = durationFromMs(nonNegativeMs(r.delayMs, 'delayMs'));
      break;
    case 'hang':
      if (r.hang !== true) throw new TypeError(`hang takes true, not ${JSON.stringify(r.hang)}`);
      out.hang = {};
      break;
    case 'reset':
      out.reset = { when: r.reset === true ? ResetFault_When.BEFORE_HEADERS : lookup(RESET_TO_PB, r.reset, 'reset point') };
      break;
    case 'bandwidth':
      out.bandwidthBytesPerSecond = positiveInt(r.bandwidth, 'bandwidth (bytes per second)');
      break;
    case 'websocket':
      out.websocket = webSocketFaultToPb(r.websocket);
      break;
  }
  return out;
}

function bodyFromPb(body: Uint8Array): string | Uint8Array {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return new Uint8Array(body);
  }
}

/**
 * The friendly form of a generated `Fault`. A status fault's headers come
 * back as `{ name: value }` (a name sent twice: its values joined with ", "),
 * its body as a string when it is UTF-8 (else bytes), left out when empty.
 */
export function faultFromPb(f: PbFault): Fault {
  const out: Record<string, unknown> = { id: f.id };
  if (f.method) out.method = f.method;
  if (f.urlPattern) out.url = f.urlPattern;
  if (f.probability !== undefined) out.probability = f.probability;
  else if (f.everyNth !== undefined) out.everyNth = f.everyNth;
  else if (f.firstN !== undefined) out.firstN = f.firstN;
  if (f.status) {
    out.status = f.status.code;
    if (f.status.headers.length) {
      const headers: Record<string, string> = {};
      for (const h of f.status.headers) {
        const value = h.value || Buffer.from(h.rawValue ?? []).toString('latin1');
        headers[h.name] = h.name in headers ? `${headers[h.name]}, ${value}` : value;
      }
      out.headers = headers;
    }
    if (f.status.body && f.status.body.length) out.body = bodyFromPb(f.status.body);
  } else if (f.delay) {
    out.delayMs = durationMs(f.delay);
  } else if (f.hang) {
    out.hang = true;
  } else if (f.reset) {
    out.reset = reverse(RESET_TO_PB, f.reset.when) ?? 'before-headers';
  } else if (f.bandwidthBytesPerSecond !== undefined) {
    out.bandwidth = f.bandwidthBytesPerSecond;
  } else if (f.websocket) {
    const ws: WebSocketFault = {};
    if (f.websocket.dropAfterMessages) ws.dropAfterMessages = f.websocket.dropAfterMessages;
    if (f.websocket.messageDelay) ws.messageDelayMs = durationMs(f.websocket.messageDelay);
    out.websocket = ws;
  }
  out.applied = f.applied;
  return out as unknown as Fault;
}
