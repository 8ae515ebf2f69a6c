// A cassette session as the server reports it (counters, misses, lease,
// faults) and the summary of one that ended.
import type { Miss as PbMiss, SessionInfo as PbSessionInfo, SessionSummary as PbSessionSummary } from './gen/matgto/v1/control.js';
import { modeFromPb, optionsFromPb, type CassetteOptions, type ReportedMode } from './cassette-options.js';
import { faultFromPb, type Fault } from './faults.js';
import { durationMs } from './pb-convert.js';

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
