import { ExhaustedPolicy, CassetteOptions as PbCassetteOptions } from './gen/matgto/v1/cassette.js';
import {
  Mode,
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

/** Replay behaviour; on replay, set fields override the cassette's stored options for one session. */
export interface CassetteOptions {
  onExhausted?: OnExhausted;
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
  /** "no-match" or "exhausted". */
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
}

/** What `stopRecording()` returns about the session that ended. */
export interface SessionSummary {
  session: SessionInfo | undefined;
  /** Set when a recording was written, else "". */
  savedPath: string;
  /** Indexes of recorded interactions that replay never used. */
  unusedInteractions: number[];
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
  /** Absent while no cassette is in use. */
  session: SessionInfo | undefined;
  /** Server uptime in milliseconds. */
  uptimeMs: number;
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

export function optionsToPb(opts: CassetteOptions | undefined): PbCassetteOptions | undefined {
  if (!opts || opts.onExhausted === undefined) return undefined;
  switch (opts.onExhausted) {
    case 'repeat-last':
      return PbCassetteOptions.fromPartial({ onExhausted: ExhaustedPolicy.REPEAT_LAST });
    case 'error':
      return PbCassetteOptions.fromPartial({ onExhausted: ExhaustedPolicy.EXHAUSTED_ERROR });
    default:
      throw new TypeError(`unknown onExhausted ${JSON.stringify(opts.onExhausted)}; use 'repeat-last' or 'error'`);
  }
}

export function optionsFromPb(opts: PbCassetteOptions | undefined): CassetteOptions {
  switch (opts?.onExhausted) {
    case ExhaustedPolicy.REPEAT_LAST:
      return { onExhausted: 'repeat-last' };
    case ExhaustedPolicy.EXHAUSTED_ERROR:
      return { onExhausted: 'error' };
    default:
      return {};
  }
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
  };
}

export function summaryFromPb(s: PbSessionSummary | undefined): SessionSummary {
  return {
    session: sessionFromPb(s?.session),
    savedPath: s?.savedPath ?? '',
    unusedInteractions: [...(s?.unusedInteractions ?? [])],
  };
}

function durationMs(d: Duration | undefined): number {
  return d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0;
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
  };
}
