import {
  BodyMatch,
  BodyStorage,
  ExhaustedPolicy,
  MatchField,
  MissPolicy,
  RepeatPolicy,
  WsTiming,
  LatencyMode,
  CassetteOptions as PbCassetteOptions,
  Latency as PbLatency,
  MatchRules as PbMatchRules,
  RedactRules as PbRedactRules,
  UnredactablePolicy,
  type DeepPartial,
} from './gen/matgto/v1/cassette.js';
import {
  Mode,
  ResetFault_When,
  Fault as PbFault,
  type WsFault as PbWsFault,
  type CassetteInfo as PbCassetteInfo,
  type GetStatusResponse,
  type Miss as PbMiss,
  type SessionInfo as PbSessionInfo,
  type SessionSummary as PbSessionSummary,
} from './gen/matgto/v1/control.js';
import type { Duration } from './gen/google/protobuf/duration.js';

/** How a cassette is used. `auto` replays when the cassette exists and records it otherwise. */
export type CassetteMode = 'auto' | 'record' | 'replay' | 'passthrough';
/** A mode as reported by the server (`unspecified` when unset or unknown). */
export type ReportedMode = CassetteMode | 'unspecified';

/** What replay does once every recorded answer to a request has been used. */
export type OnExhausted = 'repeat-last' | 'error';

/** How recorded interactions are consumed in replay: each once in order (default), or any number of times. */
export type RepeatPolicyName = 'sequential' | 'reuse';

/** What replay does with a request nothing matches: 599 (default), forward live, or forward and append to the cassette. */
export type OnMiss = 'error' | 'passthrough' | 'record';

/** How request bodies are compared: byte for byte (default), as JSON, as form fields, or not at all. */
export type BodyMatchMode = 'exact' | 'json' | 'form' | 'ignore';

/** A part of a request that matching compares. */
export type MatchFieldName = 'method' | 'scheme' | 'host' | 'port' | 'path' | 'query' | 'headers' | 'body';

/** WebSocket replay pacing: as fast as possible (default) or with the recorded gaps (divided by `wsSpeed`). */
export type WsTimingMode = 'fast' | 'as-recorded';

/**
 * How fast replay answers an HTTP request (a cassette option: stored when
 * recording, overridable per session on replay):
 * - `'fast'`: at once (the server's default);
 * - `'as-recorded'`: each response starts after its recorded time to first
 *   byte and ends after its recorded total; `{ asRecorded: { scale: 2 } }`
 *   waits twice as long;
 * - `{ fixedMs: 200, jitterMs: 50 }`: each response starts after 200 ms ± 50 ms
 *   (uniformly); a bare number is `{ fixedMs: n }`.
 * Other sessions on the server are never slowed.
 */
export type Latency =
  | 'fast'
  | 'as-recorded'
  | number
  | { fixedMs: number; jitterMs?: number }
  | { asRecorded: true | { scale?: number } };

/** An RE2 rewrite applied to both URLs before matching: `[pattern, replacement]` (`\1` refers to groups). */
export type UrlRewrite = readonly [pattern: string, replacement: string] | { pattern: string; replacement: string };

/**
 * Which requests are "the same". Everything unset: method, scheme, host,
 * port, path, query and body compared exactly.
 */
export interface MatchRules {
  /** The parts compared; empty/unset: all but `headers`. */
  fields?: readonly MatchFieldName[];
  /** Header names compared (case-insensitive); without `fields`, in addition to the default parts. */
  headers?: readonly string[];
  /** Query parameters left out of the comparison. */
  ignoreQueryParams?: readonly string[];
  /** `a=1&b=2` equals `b=2&a=1`. */
  queryOrderInsensitive?: boolean;
  /** Unset: `exact`, except that `ignoreJsonPointers` implies `json` and `ignoreFormFields` implies `form`. */
  body?: BodyMatchMode;
  /** RFC 6901 pointers (`/meta/ts`) left out of JSON bodies. */
  ignoreJsonPointers?: readonly string[];
  /** Form fields left out of form bodies. */
  ignoreFormFields?: readonly string[];
  /** e.g. `[['/users/[0-9]+', '/users/N']]`. */
  urlRewrites?: readonly UrlRewrite[];
}

/**
 * What is removed before anything is written (values become `[REDACTED]`;
 * live requests are redacted the same way before matching). The server's
 * default credential headers stay redacted unless `disableDefaults`.
 */
export interface RedactRules {
  /** Header names, in addition to the defaults (case-insensitive). */
  headers?: readonly string[];
  queryParams?: readonly string[];
  /** RFC 6901 pointers into JSON bodies (requests and responses). */
  jsonPointers?: readonly string[];
  /** `application/x-www-form-urlencoded` field names. */
  formFields?: readonly string[];
  /** RE2 patterns; every match in a (decoded) body is replaced. */
  bodyPatterns?: readonly string[];
  disableDefaults?: boolean;
  /** JSON member names redacted at any depth of a JSON body. */
  jsonKeys?: readonly string[];
  /**
   * What a recording does with an exchange whose body a rule cannot be
   * applied to (e.g. an unknown Content-Encoding): `'warn'` (store it and
   * warn; the server's default) or `'refuse'` (do not store it).
   */
  onUnredactable?: OnUnredactable;
}

/** See {@link RedactRules.onUnredactable}. */
export type OnUnredactable = 'warn' | 'refuse';

/**
 * Cassette options. Recording stores them with the cassette; on replay the
 * fields that are set override the stored ones for that session (`match` and
 * `redact` replace the stored rules whole).
 */
export interface CassetteOptions {
  /** Once every recorded answer to a request was used: keep the last (default) or answer 599. */
  onExhausted?: OnExhausted;
  repeat?: RepeatPolicyName;
  onMiss?: OnMiss;
  match?: MatchRules;
  redact?: RedactRules;
  /** `true`: store gzip/deflate/br bodies decoded (readable cassettes); `false`: as sent. */
  storeDecoded?: boolean;
  wsTiming?: WsTimingMode;
  /** With `wsTiming: 'as-recorded'`: 2 replays twice as fast. */
  wsSpeed?: number;
  /**
   * Replay pacing of streamed HTTP bodies (Server-Sent Events, chunked bodies):
   * `'fast'` (default) sends the recorded pieces at once, `'as-recorded'` keeps
   * the recorded gaps (divided by `streamSpeed`).
   */
  streamTiming?: WsTimingMode;
  /** With `streamTiming: 'as-recorded'`: 2 replays twice as fast. */
  streamSpeed?: number;
  /** How fast replay answers HTTP requests; see {@link Latency}. */
  latency?: Latency;
  /**
   * Escape hatch: the generated `matgto.v1.CassetteOptions` message (or a
   * partial of it); the options above are applied on top.
   */
  protoOptions?: DeepPartial<PbCassetteOptions>;
}

/** A stored cassette, as `listCassettes()` and `putCassette()` report it. */
export interface CassetteInfo {
  name: string;
  sizeBytes: number;
  interactions: number;
  updatedAt: Date | undefined;
  /** "binary" or "json". */
  format: string;
}

export interface FieldDifference {
  field: string;
  recorded: string;
  live: string;
}

export interface Candidate {
  interactionIndex: number;
  method: string;
  url: string;
  differences: FieldDifference[];
}

/** A request that replay could not answer. */
export interface Miss {
  method: string;
  url: string;
  /**
   * "no-match" or "exhausted" (answered 599), "ws-mismatch" (a WebSocket
   * message differed), or "no-match, passed through" / "no-match, recorded"
   * (the miss policy forwarded it live).
   */
  reason: string;
  closest: Candidate[];
}

/** The cassette session in use. */
export interface SessionInfo {
  cassette: string;
  /** The effective mode (`auto` resolved to `record` or `replay`). */
  mode: ReportedMode;
  /** The mode that was asked for. */
  requestedMode: ReportedMode;
  recorded: number;
  replayed: number;
  missed: number;
  passedThrough: number;
  /** Interactions in the loaded cassette (replay). */
  interactions: number;
  options: CassetteOptions;
  misses: Miss[];
  /** "default", or the id of a session opened with `newSession` ("s-" and 16 hex digits). */
  id: string;
  /**
   * The session's own proxy listener ("127.0.0.1:41234"); the shared proxy
   * port for the default session. `http://` + it is a proxy URL any HTTP
   * client uses unchanged (see {@link sessionProxy}).
   */
  proxyAddress: string;
  /**
   * The shared proxy port with the session id as proxy user
   * ("http://s-0123456789abcdef@127.0.0.1:8888"), for clients that send
   * `Proxy-Authorization`.
   */
  proxyUrl: string;
  /** Who opened the session (the `owner` given to a new session). */
  owner: string;
  openedAt: Date | undefined;
  /** Time since `openedAt`, in milliseconds. */
  ageMs: number;
  /** The lease length in milliseconds; undefined when the session has no lease. */
  leaseMs: number | undefined;
  /** When the lease ends unless renewed; undefined without a lease. */
  leaseExpiresAt: Date | undefined;
  /** The session's fault rules in force, with how often each has hit (`applied`). */
  faults: Fault[];
  /**
   * The seed of the session's generator for probabilistic faults (uint64,
   * exact): pass it back as `seed` to re-run a failing test with the same
   * sequence. A `bigint`: `JSON.stringify` needs a replacer for it.
   */
  faultSeed: bigint;
}

/** What `stopRecording()` returns (and `status().endedSessions` lists) about a session that ended. */
export interface SessionSummary {
  session: SessionInfo | undefined;
  /** Set when a recording was written, else "". */
  savedPath: string;
  /** Indexes of recorded interactions that replay never used. */
  unusedInteractions: number[];
  /** Why it ended: "stopped", "replaced", "lease-expired" or "shutdown" ("" from older servers). */
  endReason: string;
  endedAt: Date | undefined;
  /** Set when saving the recording failed (the server keeps its journal), else "". */
  saveError: string;
  /** What the recording warns about, e.g. a body a redaction rule could not be applied to. */
  warnings: string[];
}

/** HTTPS interception, as `status().tls` reports it. */
export interface TlsStatus {
  /** Where the CA certificate (PEM) is. */
  caCertificatePath: string;
  /** Hosts (glob patterns) whose CONNECT tunnels are relayed, not intercepted. */
  noIntercept: string[];
  /** Upstream certificates are not verified (--insecure-upstream). */
  insecureUpstream: boolean;
  /** Extra upstream trust anchors (--upstream-ca-file); "" when none. */
  upstreamCaFile: string;
}

export interface ServerStatus {
  /** The server's semver ("0.1.0"). */
  version: string;
  /** Control API generation (1 for matgto.v1). */
  apiVersion: number;
  /** "127.0.0.1:8888" */
  proxyAddress: string;
  controlAddress: string;
  cassetteDir: string;
  defaultMode: ReportedMode;
  /** The default session; absent while it has no cassette in use. */
  session: SessionInfo | undefined;
  /** Server uptime in milliseconds. */
  uptimeMs: number;
  /** HTTPS interception: the CA certificate's path, relayed hosts, upstream trust; undefined from servers that do not report it. */
  tls: TlsStatus | undefined;
  /** Reverse mode: the origin that origin-form requests go to; "" in forward-proxy mode. */
  reverseUpstream: string;
  /** Every open session with a cassette in use (the default one first when it has one, then by opening time). */
  sessions: SessionInfo[];
  /** Sessions that ended recently, most recent first (the server keeps at most 64). */
  endedSessions: SessionSummary[];
  /** The server's --max-sessions: open sessions allowed beyond the default one. */
  maxSessions: number;
}

const MODE_TO_PB: Record<CassetteMode, Mode> = {
  auto: Mode.AUTO,
  record: Mode.RECORD,
  replay: Mode.REPLAY,
  passthrough: Mode.PASSTHROUGH,
};

export function modeToPb(mode: CassetteMode): Mode {
  const pb = MODE_TO_PB[mode];
  if (pb === undefined) {
    throw new TypeError(`unknown cassette mode ${JSON.stringify(mode)}; use one of ${Object.keys(MODE_TO_PB).join(', ')}`);
  }
  return pb;
}

export function modeFromPb(mode: Mode): ReportedMode {
  switch (mode) {
    case Mode.AUTO:
      return 'auto';
    case Mode.RECORD:
      return 'record';
    case Mode.REPLAY:
      return 'replay';
    case Mode.PASSTHROUGH:
      return 'passthrough';
    default:
      return 'unspecified';
  }
}

function lookup<K extends string, V>(table: Record<K, V>, value: unknown, what: string): V {
  const pb = typeof value === 'string' && Object.prototype.hasOwnProperty.call(table, value) ? table[value as K] : undefined;
  if (pb === undefined) {
    const names = Object.keys(table).map((k) => `'${k}'`).join(', ');
    throw new TypeError(`unknown ${what} ${JSON.stringify(value)}; use one of ${names}`);
  }
  return pb;
}

function reverse<K extends string, V>(table: Record<K, V>, value: V): K | undefined {
  return (Object.keys(table) as K[]).find((k) => table[k] === value);
}

const EXHAUSTED_TO_PB: Record<OnExhausted, ExhaustedPolicy> = {
  'repeat-last': ExhaustedPolicy.REPEAT_LAST,
  error: ExhaustedPolicy.EXHAUSTED_ERROR,
};
const REPEAT_TO_PB: Record<RepeatPolicyName, RepeatPolicy> = {
  sequential: RepeatPolicy.SEQUENTIAL,
  reuse: RepeatPolicy.REUSE,
};
const UNREDACTABLE_TO_PB: Record<OnUnredactable, UnredactablePolicy> = {
  warn: UnredactablePolicy.UNREDACTABLE_WARN,
  refuse: UnredactablePolicy.UNREDACTABLE_REFUSE,
};
const MISS_TO_PB: Record<OnMiss, MissPolicy> = {
  error: MissPolicy.MISS_ERROR,
  passthrough: MissPolicy.MISS_PASSTHROUGH,
  record: MissPolicy.MISS_RECORD,
};
const BODY_TO_PB: Record<BodyMatchMode, BodyMatch> = {
  exact: BodyMatch.BODY_EXACT,
  json: BodyMatch.BODY_JSON,
  form: BodyMatch.BODY_FORM,
  ignore: BodyMatch.BODY_IGNORE,
};
const FIELD_TO_PB: Record<MatchFieldName, MatchField> = {
  method: MatchField.METHOD,
  scheme: MatchField.SCHEME,
  host: MatchField.HOST,
  port: MatchField.PORT,
  path: MatchField.PATH,
  query: MatchField.QUERY,
  headers: MatchField.HEADERS,
  body: MatchField.BODY,
};
const WS_TIMING_TO_PB: Record<WsTimingMode, WsTiming> = {
  fast: WsTiming.AS_FAST_AS_POSSIBLE,
  'as-recorded': WsTiming.AS_RECORDED,
};

function strings(value: readonly string[] | string | undefined, what: string): string[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) {
    throw new TypeError(`${what} must be an array of strings`);
  }
  return [...list];
}

function rewriteToPb(r: UrlRewrite): { pattern: string; replacement: string } {
  const [pattern, replacement] = Array.isArray(r)
    ? (r as readonly unknown[])
    : [(r as { pattern?: unknown }).pattern, (r as { replacement?: unknown }).replacement ?? ''];
  if (typeof pattern !== 'string' || typeof replacement !== 'string') {
    throw new TypeError(`a URL rewrite is [pattern, replacement] (two strings), not ${JSON.stringify(r)}`);
  }
  return { pattern, replacement };
}

/** The generated `matgto.v1.MatchRules` for `rules`. Throws TypeError on unknown values. */
export function matchRulesToPb(rules: MatchRules): PbMatchRules {
  const ignoreJsonPointers = strings(rules.ignoreJsonPointers, 'match.ignoreJsonPointers');
  const ignoreFormFields = strings(rules.ignoreFormFields, 'match.ignoreFormFields');
  let body = BodyMatch.BODY_MATCH_UNSPECIFIED;
  if (rules.body !== undefined) body = lookup(BODY_TO_PB, rules.body, 'match.body');
  else if (ignoreJsonPointers.length > 0) body = BodyMatch.BODY_JSON;
  else if (ignoreFormFields.length > 0) body = BodyMatch.BODY_FORM;
  return PbMatchRules.fromPartial({
    fields: (rules.fields ?? []).map((f) => lookup(FIELD_TO_PB, f, 'match field')),
    headers: strings(rules.headers, 'match.headers'),
    ignoreQueryParams: strings(rules.ignoreQueryParams, 'match.ignoreQueryParams'),
    queryOrderInsensitive: rules.queryOrderInsensitive ?? false,
    body,
    ignoreJsonPointers,
    ignoreFormFields,
    urlRewrites: (rules.urlRewrites ?? []).map(rewriteToPb),
  });
}

/** The generated `matgto.v1.RedactRules` for `rules`. */
export function redactRulesToPb(rules: RedactRules): PbRedactRules {
  return PbRedactRules.fromPartial({
    headers: strings(rules.headers, 'redact.headers'),
    queryParams: strings(rules.queryParams, 'redact.queryParams'),
    jsonPointers: strings(rules.jsonPointers, 'redact.jsonPointers'),
    formFields: strings(rules.formFields, 'redact.formFields'),
    bodyPatterns: strings(rules.bodyPatterns, 'redact.bodyPatterns'),
    disableDefaults: rules.disableDefaults ?? false,
    jsonKeys: strings(rules.jsonKeys, 'redact.jsonKeys'),
    onUnredactable:
      rules.onUnredactable === undefined
        ? UnredactablePolicy.UNREDACTABLE_POLICY_UNSPECIFIED
        : lookup(UNREDACTABLE_TO_PB, rules.onUnredactable, 'redact.onUnredactable'),
  });
}

function positiveSpeed(speed: unknown, what: string): number {
  if (typeof speed !== 'number' || !(speed > 0) || !Number.isFinite(speed)) {
    throw new TypeError(`${what} must be a positive number, not ${JSON.stringify(speed)}`);
  }
  return speed;
}

/**
 * The generated `matgto.v1.CassetteOptions` for `opts` (undefined when
 * nothing is set). Throws TypeError on unknown values, before any call.
 */
export function optionsToPb(opts: CassetteOptions | undefined): PbCassetteOptions | undefined {
  if (!opts) return undefined;
  const set = (['onExhausted', 'repeat', 'onMiss', 'match', 'redact', 'storeDecoded', 'wsTiming', 'wsSpeed', 'streamTiming', 'streamSpeed', 'latency', 'protoOptions'] as const)
    .some((k) => opts[k] !== undefined);
  if (!set) return undefined;
  if (opts.protoOptions !== undefined && (typeof opts.protoOptions !== 'object' || opts.protoOptions === null)) {
    throw new TypeError('protoOptions must be a matgto.v1.CassetteOptions message (object)');
  }
  const out = PbCassetteOptions.fromPartial(opts.protoOptions ?? {});
  if (opts.onExhausted !== undefined) out.onExhausted = lookup(EXHAUSTED_TO_PB, opts.onExhausted, 'onExhausted');
  if (opts.repeat !== undefined) out.repeat = lookup(REPEAT_TO_PB, opts.repeat, 'repeat');
  if (opts.onMiss !== undefined) out.onMiss = lookup(MISS_TO_PB, opts.onMiss, 'onMiss');
  if (opts.match !== undefined) out.matchRules = matchRulesToPb(opts.match);
  if (opts.redact !== undefined) out.redact = redactRulesToPb(opts.redact);
  if (opts.storeDecoded !== undefined) out.bodyStorage = opts.storeDecoded ? BodyStorage.DECODED : BodyStorage.AS_SENT;
  if (opts.wsTiming !== undefined) out.wsTiming = lookup(WS_TIMING_TO_PB, opts.wsTiming, 'wsTiming');
  if (opts.wsSpeed !== undefined) out.wsSpeed = positiveSpeed(opts.wsSpeed, 'wsSpeed');
  if (opts.streamTiming !== undefined) out.streamTiming = lookup(WS_TIMING_TO_PB, opts.streamTiming, 'streamTiming');
  if (opts.streamSpeed !== undefined) out.streamSpeed = positiveSpeed(opts.streamSpeed, 'streamSpeed');
  if (opts.latency !== undefined) out.latency = latencyToPb(opts.latency);
  return out;
}

/** The friendly form of generated match rules (unset parts left out). */
export function matchRulesFromPb(m: PbMatchRules): MatchRules {
  const out: MatchRules = {};
  const fields = m.fields.map((f) => reverse(FIELD_TO_PB, f)).filter((f): f is MatchFieldName => f !== undefined);
  if (fields.length) out.fields = fields;
  if (m.headers.length) out.headers = [...m.headers];
  if (m.ignoreQueryParams.length) out.ignoreQueryParams = [...m.ignoreQueryParams];
  if (m.queryOrderInsensitive) out.queryOrderInsensitive = true;
  const body = reverse(BODY_TO_PB, m.body);
  if (body) out.body = body;
  if (m.ignoreJsonPointers.length) out.ignoreJsonPointers = [...m.ignoreJsonPointers];
  if (m.ignoreFormFields.length) out.ignoreFormFields = [...m.ignoreFormFields];
  if (m.urlRewrites.length) out.urlRewrites = m.urlRewrites.map((r) => [r.pattern, r.replacement] as const);
  return out;
}

/** The friendly form of generated redaction rules (unset parts left out). */
export function redactRulesFromPb(r: PbRedactRules): RedactRules {
  const out: RedactRules = {};
  if (r.headers.length) out.headers = [...r.headers];
  if (r.queryParams.length) out.queryParams = [...r.queryParams];
  if (r.jsonPointers.length) out.jsonPointers = [...r.jsonPointers];
  if (r.formFields.length) out.formFields = [...r.formFields];
  if (r.bodyPatterns.length) out.bodyPatterns = [...r.bodyPatterns];
  if (r.disableDefaults) out.disableDefaults = true;
  if (r.jsonKeys.length) out.jsonKeys = [...r.jsonKeys];
  if (r.onUnredactable === UnredactablePolicy.UNREDACTABLE_WARN) out.onUnredactable = 'warn';
  if (r.onUnredactable === UnredactablePolicy.UNREDACTABLE_REFUSE) out.onUnredactable = 'refuse';
  return out;
}

/** The friendly form of generated cassette options (unset fields left out; never `protoOptions`). */
export function optionsFromPb(opts: PbCassetteOptions | undefined): CassetteOptions {
  const out: CassetteOptions = {};
  if (!opts) return out;
  const onExhausted = reverse(EXHAUSTED_TO_PB, opts.onExhausted);
  if (onExhausted) out.onExhausted = onExhausted;
  const repeat = reverse(REPEAT_TO_PB, opts.repeat);
  if (repeat) out.repeat = repeat;
  const onMiss = reverse(MISS_TO_PB, opts.onMiss);
  if (onMiss) out.onMiss = onMiss;
  if (opts.matchRules) out.match = matchRulesFromPb(opts.matchRules);
  if (opts.redact) out.redact = redactRulesFromPb(opts.redact);
  if (opts.bodyStorage === BodyStorage.DECODED) out.storeDecoded = true;
  else if (opts.bodyStorage === BodyStorage.AS_SENT) out.storeDecoded = false;
  const wsTiming = reverse(WS_TIMING_TO_PB, opts.wsTiming);
  if (wsTiming) out.wsTiming = wsTiming;
  if (opts.wsSpeed > 0) out.wsSpeed = opts.wsSpeed;
  const streamTiming = reverse(WS_TIMING_TO_PB, opts.streamTiming);
  if (streamTiming) out.streamTiming = streamTiming;
  if (opts.streamSpeed > 0) out.streamSpeed = opts.streamSpeed;
  const latency = latencyFromPb(opts.latency);
  if (latency !== undefined) out.latency = latency;
  return out;
}

export function cassetteInfoFromPb(i: PbCassetteInfo): CassetteInfo {
  return {
    name: i.name,
    sizeBytes: i.sizeBytes,
    interactions: i.interactions,
    updatedAt: i.updatedAt,
    format: i.format,
  };
}

function missFromPb(m: PbMiss): Miss {
  return {
    method: m.method,
    url: m.url,
    reason: m.reason,
    closest: m.closest.map((c) => ({
      interactionIndex: c.interactionIndex,
      method: c.method,
      url: c.url,
      differences: c.differences.map((d) => ({ field: d.field, recorded: d.recorded, live: d.live })),
    })),
  };
}

export function sessionFromPb(s: PbSessionInfo | undefined): SessionInfo | undefined {
  if (!s) return undefined;
  return {
    cassette: s.cassette,
    mode: modeFromPb(s.mode),
    requestedMode: modeFromPb(s.requestedMode),
    recorded: s.recorded,
    replayed: s.replayed,
    missed: s.missed,
    passedThrough: s.passedThrough,
    interactions: s.interactions,
    options: optionsFromPb(s.options),
    misses: s.misses.map(missFromPb),
    id: s.id,
    proxyAddress: s.proxyAddress,
    proxyUrl: s.proxyUrl,
    owner: s.owner,
    openedAt: s.openedAt,
    ageMs: durationMs(s.age),
    leaseMs: s.lease ? durationMs(s.lease) : undefined,
    leaseExpiresAt: s.leaseExpiresAt,
    faults: (s.faults ?? []).map(faultFromPb),
    faultSeed: typeof s.faultSeed === 'bigint' ? s.faultSeed : BigInt(s.faultSeed ?? 0),
  };
}

export function summaryFromPb(s: PbSessionSummary | undefined): SessionSummary {
  return {
    session: sessionFromPb(s?.session),
    savedPath: s?.savedPath ?? '',
    unusedInteractions: [...(s?.unusedInteractions ?? [])],
    endReason: s?.endReason ?? '',
    endedAt: s?.endedAt,
    saveError: s?.saveError ?? '',
    warnings: [...(s?.warnings ?? [])],
  };
}

export function durationMs(d: Duration | undefined): number {
  return d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0;
}

/** The protobuf Duration of `ms` milliseconds. */
export function durationFromMs(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/**
 * The proxy URL a test hands its HTTP client for `session`: `http://` + the
 * session's own listener (no credential needed). For the default session,
 * the shared proxy port.
 */
export function sessionProxy(session: Pick<SessionInfo, 'proxyAddress'>, controlAddress?: string): string {
  return `http://${usableProxyAddress(session.proxyAddress, controlAddress)}`;
}

const UNSPECIFIED_HOSTS = new Set(['', '0.0.0.0', '::']);

function splitHostPort(address: string): [string, string] {
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    return [address.slice(1, end), address.slice(end + 1).replace(/^:/, '')];
  }
  const colons = address.split(':').length - 1;
  if (colons === 1) return [address.slice(0, address.indexOf(':')), address.slice(address.indexOf(':') + 1)];
  return [address, ''];
}

/**
 * `proxyAddress` as the server reports it, except that an unspecified host
 * (`0.0.0.0`, `::`) becomes the host of the control address (the loopback
 * address of its family, `127.0.0.1` or `::1`, when that is unspecified too or
 * not given); IPv6 hosts keep brackets.
 */
export function usableProxyAddress(proxyAddress: string, controlAddress?: string): string {
  let [host, port] = splitHostPort(proxyAddress);
  if (!UNSPECIFIED_HOSTS.has(host)) return proxyAddress;
  const target = (controlAddress ?? '').replace(/^(dns|ipv4|ipv6):/, '').replace(/^[a-z]+:\/\//, '');
  const [ctl] = splitHostPort(target.slice(target.lastIndexOf('/') + 1));
  // Both unspecified: the loopback address of the proxy's own family (an
  // IPv6-only listener is not reachable on 127.0.0.1).
  if (!UNSPECIFIED_HOSTS.has(ctl)) host = ctl;
  else host = host.includes(':') ? '::1' : '127.0.0.1';
  if (host.includes(':')) host = `[${host}]`;
  return port ? `${host}:${port}` : host;
}

export function statusFromPb(r: GetStatusResponse): ServerStatus {
  return {
    version: r.version,
    apiVersion: r.apiVersion,
    proxyAddress: r.proxyAddress,
    controlAddress: r.controlAddress,
    cassetteDir: r.cassetteDir,
    defaultMode: modeFromPb(r.defaultMode),
    session: sessionFromPb(r.session),
    uptimeMs: durationMs(r.uptime),
    tls: r.tls
      ? {
          caCertificatePath: r.tls.caCertificatePath,
          noIntercept: [...r.tls.noIntercept],
          insecureUpstream: r.tls.insecureUpstream,
          upstreamCaFile: r.tls.upstreamCaFile,
        }
      : undefined,
    reverseUpstream: r.reverseUpstream,
    sessions: r.sessions.map((x) => sessionFromPb(x)!),
    endedSessions: r.endedSessions.map(summaryFromPb),
    maxSessions: r.maxSessions,
  };
}

function nonNegativeMs(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${what} must be a non-negative number of milliseconds, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** The generated `matgto.v1.Latency` for `latency`. Throws TypeError on anything else. */
export function latencyToPb(latency: Latency): PbLatency {
  if (latency === 'fast') return PbLatency.fromPartial({ mode: LatencyMode.LATENCY_FAST });
  if (latency === 'as-recorded') return PbLatency.fromPartial({ mode: LatencyMode.LATENCY_AS_RECORDED });
  if (typeof latency === 'number') {
    return PbLatency.fromPartial({ mode: LatencyMode.LATENCY_FIXED, fixed: durationFromMs(nonNegativeMs(latency, 'latency')) });
  }
  if (typeof latency === 'object' && latency !== null) {
    const o = latency as { fixedMs?: unknown; jitterMs?: unknown; asRecorded?: unknown };
    if (o.asRecorded !== undefined && o.fixedMs === undefined && o.jitterMs === undefined) {
      if (o.asRecorded === true) return PbLatency.fromPartial({ mode: LatencyMode.LATENCY_AS_RECORDED });
      if (typeof o.asRecorded === 'object' && o.asRecorded !== null) {
        const scale = (o.asRecorded as { scale?: unknown }).scale;
        if (scale !== undefined && (typeof scale !== 'number' || !Number.isFinite(scale) || !(scale > 0))) {
          throw new TypeError(`latency.asRecorded.scale must be a positive number, not ${JSON.stringify(scale)}`);
        }
        return PbLatency.fromPartial({ mode: LatencyMode.LATENCY_AS_RECORDED, scale: scale ?? 0 });
      }
    }
    if (o.fixedMs !== undefined && o.asRecorded === undefined) {
      const fixed = nonNegativeMs(o.fixedMs, 'latency.fixedMs');
      const jitter = o.jitterMs === undefined ? 0 : nonNegativeMs(o.jitterMs, 'latency.jitterMs');
      return PbLatency.fromPartial({
        mode: LatencyMode.LATENCY_FIXED,
        fixed: durationFromMs(fixed),
        jitter: jitter > 0 ? durationFromMs(jitter) : undefined,
      });
    }
  }
  throw new TypeError(
    `latency must be 'fast', 'as-recorded', { asRecorded: { scale } }, { fixedMs, jitterMs } or a number of milliseconds, not ${JSON.stringify(latency)}`,
  );
}

/** The friendly form of a generated `Latency` (undefined when unset). */
export function latencyFromPb(l: PbLatency | undefined): Latency | undefined {
  if (!l) return undefined;
  switch (l.mode) {
    case LatencyMode.LATENCY_FAST:
      return 'fast';
    case LatencyMode.LATENCY_AS_RECORDED:
      return l.scale > 0 && l.scale !== 1 ? { asRecorded: { scale: l.scale } } : 'as-recorded';
    case LatencyMode.LATENCY_FIXED: {
      const jitterMs = durationMs(l.jitter);
      return jitterMs > 0 ? { fixedMs: durationMs(l.fixed), jitterMs } : { fixedMs: durationMs(l.fixed) };
    }
    default:
      return undefined;
  }
}

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
