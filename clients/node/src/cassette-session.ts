// What a cassette call resolves to: the session's info, and what a test does
// with that session (stop it, send traffic through it, add faults to it).
import type { ProxyAgent } from 'undici';
import type { MatgtoClient } from './client.js';
import type { FetchDispatcherOptions, SetFaultsOptions } from './client-options.js';
import type { SessionLostError } from './errors.js';
import type { EventStream, WatchEventsOptions } from './events.js';
import { sessionProxy, type Fault, type FaultRule, type SessionInfo, type SessionSummary } from './types.js';

/**
 * The session a cassette call started. Besides the {@link SessionInfo} fields
 * it can be stopped, explicitly or with `await using`:
 *
 * ```ts
 * await using session = await client.useCassette('login', { mode: 'auto' });
 * ```
 *
 * `stop()`/disposal calls StopRecording (for a session of its own: closing
 * it) only while this is still the last cassette this client started in that
 * session and it has not stopped; otherwise it does nothing and resolves to
 * `undefined`. For a session this client opened and that the server ended
 * meanwhile (lease expired), `stop()` rejects with {@link SessionLostError}.
 */
export type CassetteSession = SessionInfo &
  AsyncDisposable & {
    stop(): Promise<SessionSummary | undefined>;
    /** The proxy URL for this session: `http://` + `proxyAddress`. */
    readonly proxy: string;
    /** True once a lease renewal found the session gone (then `stop()` rejects with SessionLostError). */
    readonly lost: boolean;
    /** An undici `ProxyAgent` for this session's proxy (see `MatgtoClient.fetchDispatcher`). */
    fetchDispatcher(options?: Omit<FetchDispatcherOptions, 'proxy'>): Promise<ProxyAgent>;
    /**
     * Adds fault rules to this session (`MatgtoClient.setFaults`); resolves
     * to all its rules with their ids, and updates `faults`/`faultSeed`.
     */
    addFaults(faults: FaultRule | readonly FaultRule[], options?: SetFaultsOptions): Promise<Fault[]>;
    /** Removes this session's rules named by `ids` (all without); resolves to the rules left, and updates `faults`. */
    clearFaults(ids?: string | readonly string[]): Promise<Fault[]>;
    /** This session as `status()` reports it now (counters, faults with `applied` counts); undefined once it has ended. */
    info(): Promise<SessionInfo | undefined>;
    /** This session's live events: `MatgtoClient.watchEvents()` filtered to its `id`. */
    events(options?: Omit<WatchEventsOptions, 'session'>): Promise<EventStream>;
  };

/**
 * `info` as a {@link CassetteSession} of `client`: `stop` is what `stop()` and
 * disposal do, `lost` what the `lost` property reads.
 */
export function cassetteSession(
  client: MatgtoClient,
  info: SessionInfo,
  stop: () => Promise<SessionSummary | undefined>,
  lost: () => boolean,
): CassetteSession {
  const session = { ...info } as CassetteSession;
  const proxy = sessionProxy(info, client.address);
  Object.defineProperty(session, 'proxy', { value: proxy, enumerable: true });
  Object.defineProperty(session, 'lost', { get: lost });
  Object.defineProperty(session, 'stop', { value: stop });
  Object.defineProperty(session, 'fetchDispatcher', {
    value: (options: Omit<FetchDispatcherOptions, 'proxy'> = {}) => client.fetchDispatcher({ ...options, proxy }),
  });
  Object.defineProperty(session, Symbol.asyncDispose, { value: async () => void (await stop()) });
  Object.defineProperty(session, 'addFaults', {
    value: async (faults: FaultRule | readonly FaultRule[], options?: SetFaultsOptions) => {
      const set = await client.setFaults(info.id, faults, options);
      session.faults = set.faults;
      session.faultSeed = set.seed;
      return set.faults;
    },
  });
  Object.defineProperty(session, 'clearFaults', {
    value: async (ids?: string | readonly string[]) => {
      const left = await client.clearFaults(info.id, ids);
      session.faults = left;
      return left;
    },
  });
  Object.defineProperty(session, 'info', { value: () => client.sessionInfo(info.id) });
  Object.defineProperty(session, 'events', {
    value: (options: Omit<WatchEventsOptions, 'session'> = {}) => client.watchEvents({ ...options, session: info.id }),
  });
  return session;
}
