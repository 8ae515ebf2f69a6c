import {
  BodyMatch,
  BodyStorage,
  ExhaustedPolicy,
  MatchField,
  MissPolicy,
  RepeatPolicy,
  WsTiming,
  CassetteOptions as PbCassetteOptions,
  MatchRules as PbMatchRules,
  RedactRules as PbRedactRules,
  type DeepPartial,
} from './gen/matgto/v1/cassette.js';
import {
  Mode,
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
}

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
  });
}

/**
 * The generated `matgto.v1.CassetteOptions` for `opts` (undefined when
 * nothing is set). Throws TypeError on unknown values, before any call.
 */
export function optionsToPb(opts: CassetteOptions | undefined): PbCassetteOptions | undefined {
  if (!opts) return undefined;
  const set = (['onExhausted', 'repeat', 'onMiss', 'match', 'redact', 'storeDecoded', 'wsTiming', 'wsSpeed', 'protoOptions'] as const)
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
  if (opts.wsSpeed !== undefined) {
    if (typeof opts.wsSpeed !== 'number' || !(opts.wsSpeed > 0) || !Number.isFinite(opts.wsSpeed)) {
      throw new TypeError(`wsSpeed must be a positive number, not ${JSON.stringify(opts.wsSpeed)}`);
    }
    out.wsSpeed = opts.wsSpeed;
  }
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
export function sessionProxy(session: Pick<SessionInfo, 'proxyAddress'>): string {
  return `http://${session.proxyAddress}`;
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
    sessions: r.sessions.map((x) => sessionFromPb(x)!),
    endedSessions: r.endedSessions.map(summaryFromPb),
    maxSessions: r.maxSessions,
  };
}
