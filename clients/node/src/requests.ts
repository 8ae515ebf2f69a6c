// The requests MatgtoClient's session calls send, built from the friendly
// options; bad options throw TypeError here, before any call.
import {
  ClearFaultsRequest,
  ReplayRequest,
  SetFaultsRequest,
  StartRecordingRequest,
  UseCassetteRequest,
} from './gen/matgto/v1/control.js';
import {
  DEFAULT_LEASE_MS,
  DEFAULT_SESSION_ID,
  type CassetteCallOptions,
  type SessionOptions,
  type SetFaultsOptions,
  type UseCassetteOptions,
} from './client-options.js';
import { durationFromMs, faultToPb, modeToPb, optionsToPb, seedToBigint, type FaultRule } from './types.js';

export function isDefaultSession(id: string | undefined): boolean {
  return !id || id === DEFAULT_SESSION_ID;
}

function checkSessionOptions(o: SessionOptions): void {
  if (o.session !== undefined && typeof o.session !== 'string') throw new TypeError('session must be a session id (string)');
  if (o.newSession && o.session) throw new TypeError('newSession opens a new session: do not also name one with `session`');
  if (o.leaseMs !== undefined) {
    if (typeof o.leaseMs !== 'number' || !Number.isFinite(o.leaseMs) || o.leaseMs < 0) {
      throw new TypeError(`leaseMs must be a non-negative number of milliseconds, not ${JSON.stringify(o.leaseMs)}`);
    }
    if (!o.newSession) throw new TypeError('leaseMs applies to new sessions only (newSession: true)');
  }
  if (o.owner !== undefined) {
    if (typeof o.owner !== 'string') throw new TypeError('owner must be a string');
    if (!o.newSession) throw new TypeError('owner applies to new sessions only (newSession: true)');
  }
}

/** The `session` field of a SetFaults/ClearFaults request ('' for the default session). */
function sessionIdField(id: string | undefined): string {
  if (id !== undefined && typeof id !== 'string') throw new TypeError('the session is a session id (string), or undefined for the default session');
  return isDefaultSession(id) ? '' : id!;
}

/** The session fields of a StartRecording/Replay/UseCassette request. */
function sessionRequestFields(o: SessionOptions): { session: string; newSession: boolean; lease?: { seconds: number; nanos: number }; owner: string } {
  checkSessionOptions(o);
  if (!o.newSession) return { session: o.session ?? '', newSession: false, owner: '' };
  const leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
  return {
    session: '',
    newSession: true,
    lease: leaseMs > 0 ? durationFromMs(leaseMs) : undefined,
    owner: o.owner ?? `node pid ${process.pid}`,
  };
}

/** The request `startRecording()` sends (checked by the conformance suite, clients/conformance/sessions.json). */
export function startRecordingRequest(name: string, options: CassetteCallOptions): StartRecordingRequest {
  const fields = sessionRequestFields(options);
  return StartRecordingRequest.fromPartial({ name, options: optionsToPb(options), ...fields });
}

/** The request `replay()` sends. */
export function replayRequest(name: string, options: CassetteCallOptions): ReplayRequest {
  const fields = sessionRequestFields(options);
  return ReplayRequest.fromPartial({ name, options: optionsToPb(options), ...fields });
}

/** The request `useCassette()` sends. */
export function useCassetteRequest(name: string, options: UseCassetteOptions): UseCassetteRequest {
  const mode = modeToPb(options.mode ?? 'auto');
  const pbOptions = optionsToPb(options);
  const fields = sessionRequestFields(options);
  return UseCassetteRequest.fromPartial({ name, mode, options: pbOptions, ...fields });
}

/** The request `setFaults()` sends. */
export function setFaultsRequest(sessionId: string | undefined, faults: FaultRule | readonly FaultRule[], options: SetFaultsOptions): SetFaultsRequest {
  const session = sessionIdField(sessionId);
  const rules: readonly FaultRule[] = Array.isArray(faults) ? faults : [faults as FaultRule];
  const pbFaults = rules.map((r, i) => {
    try {
      return faultToPb(r);
    } catch (err) {
      throw rules.length > 1 && err instanceof TypeError ? new TypeError(`fault rule ${i}: ${err.message}`) : err;
    }
  });
  let seed = options.seed === undefined ? undefined : seedToBigint(options.seed);
  for (const r of rules) {
    if (r.seed === undefined) continue;
    const s = seedToBigint(r.seed);
    if (seed !== undefined && seed !== s) throw new TypeError(`conflicting seeds ${seed} and ${s}: the seed is per session`);
    seed = s;
  }
  return SetFaultsRequest.fromPartial({ session, faults: pbFaults, seed: seed ?? 0n });
}

/** The request `clearFaults()` sends. */
export function clearFaultsRequest(sessionId: string | undefined, ids?: string | readonly string[]): ClearFaultsRequest {
  const session = sessionIdField(sessionId);
  const list = ids === undefined ? [] : typeof ids === 'string' ? [ids] : [...ids];
  if (list.some((id) => typeof id !== 'string')) throw new TypeError('clearFaults: ids are fault ids ("f1"), strings');
  return ClearFaultsRequest.fromPartial({ session, ids: list });
}
