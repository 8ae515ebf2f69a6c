// Cassette options (mode, exhaustion/repeat/miss policies, matching,
// redaction, pacing) and their matgto.v1 messages.
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
  UnredactablePolicy,
  type DeepPartial,
} from './gen/matgto/v1/cassette.js';
import { Mode } from './gen/matgto/v1/control.js';
import { latencyFromPb, latencyToPb, type Latency } from './latency.js';
import { lookup, reverse } from './pb-convert.js';

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
