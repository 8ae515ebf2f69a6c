// Replay latency (how fast replay answers HTTP requests) and its matgto.v1.Latency message.
import { LatencyMode, Latency as PbLatency } from './gen/matgto/v1/cassette.js';
import { durationFromMs, durationMs, nonNegativeMs } from './pb-convert.js';

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
