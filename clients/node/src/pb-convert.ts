// Helpers the proto <-> friendly-type mappings share: string tables for
// generated enums, and durations in milliseconds.
import type { Duration } from './gen/google/protobuf/duration.js';

export function lookup<K extends string, V>(table: Record<K, V>, value: unknown, what: string): V {
  const pb = typeof value === 'string' && Object.prototype.hasOwnProperty.call(table, value) ? table[value as K] : undefined;
  if (pb === undefined) {
    const names = Object.keys(table).map((k) => `'${k}'`).join(', ');
    throw new TypeError(`unknown ${what} ${JSON.stringify(value)}; use one of ${names}`);
  }
  return pb;
}

export function reverse<K extends string, V>(table: Record<K, V>, value: V): K | undefined {
  return (Object.keys(table) as K[]).find((k) => table[k] === value);
}

export function durationMs(d: Duration | undefined): number {
  return d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0;
}

/** The protobuf Duration of `ms` milliseconds. */
export function durationFromMs(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function nonNegativeMs(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${what} must be a non-negative number of milliseconds, not ${JSON.stringify(value)}`);
  }
  return value;
}
