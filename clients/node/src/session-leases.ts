// The sessions of their own a MatgtoClient started cassettes in, until they
// stop, and the background renewal of the leases of those it opened.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { toMatgtoError, type MatgtoError } from './errors.js';
import type { SessionInfo } from './types.js';

/** What the client knows about a (non-default) session it started a cassette in. */
export interface TrackedSession {
  readonly id: string;
  cassette: string;
  /** The CassetteSession object whose stop() may close it. */
  token: object;
  timer: NodeJS.Timeout | undefined;
  renewing: boolean;
  /** Set when a renewal answered NOT_FOUND: the session is gone. */
  lost: MatgtoError | undefined;
  /** The last renewal failure other than NOT_FOUND (e.g. the server briefly unreachable). */
  lastRenewError: MatgtoError | undefined;
  leaseExpiresAt: Date | undefined;
}

/** Renews a session's lease: resolves to when it now expires. `deadlineMs` bounds the call. */
export type Renew = (id: string, deadlineMs: number) => Promise<Date | undefined>;

/** The tracked sessions of one client, by id. */
export class SessionLeases {
  readonly #sessions = new Map<string, TrackedSession>();
  readonly #renew: Renew;
  readonly #closed: () => boolean;

  /** @param closed whether the client is closed (a failed renewal then stops renewing). */
  constructor(renew: Renew, closed: () => boolean) {
    this.#renew = renew;
    this.#closed = closed;
  }

  get(id: string): TrackedSession | undefined {
    return this.#sessions.get(id);
  }

  /**
   * Tracks session `info` for the CassetteSession `token` (the last one
   * started in it). `opened`: this client opened the session, with this lease
   * unless the server reports one; a lease is renewed every third of it.
   */
  track(info: SessionInfo, token: object, opened: { leaseMs: number } | undefined): TrackedSession {
    let tracked = this.#sessions.get(info.id);
    if (!tracked) {
      tracked = {
        id: info.id, cassette: info.cassette, token, timer: undefined, renewing: false,
        lost: undefined, lastRenewError: undefined, leaseExpiresAt: info.leaseExpiresAt,
      };
      this.#sessions.set(info.id, tracked);
    }
    tracked.token = token;
    tracked.cassette = info.cassette;
    const leaseMs = info.leaseMs ?? opened?.leaseMs ?? 0;
    if (opened && leaseMs > 0 && !tracked.timer) this.#startRenewal(tracked, leaseMs);
    return tracked;
  }

  /** Stops tracking (and renewing) session `id`; what was tracked, if anything. */
  release(id: string): TrackedSession | undefined {
    const tracked = this.#sessions.get(id);
    if (tracked) {
      clearInterval(tracked.timer);
      tracked.timer = undefined;
      this.#sessions.delete(id);
    }
    return tracked;
  }

  /** Stops every renewal and forgets every session. */
  clear(): void {
    for (const t of this.#sessions.values()) clearInterval(t.timer);
    this.#sessions.clear();
  }

  /** Renews `t` every third of its lease until it is stopped, lost, or the client closes. The timer never keeps the process alive. */
  #startRenewal(t: TrackedSession, leaseMs: number): void {
    const every = Math.max(50, Math.floor(leaseMs / 3));
    t.timer = setInterval(() => void this.#renewTick(t, every), every);
    t.timer.unref();
  }

  async #renewTick(t: TrackedSession, every: number): Promise<void> {
    if (t.renewing || t.lost || this.#sessions.get(t.id) !== t) return;
    t.renewing = true;
    try {
      t.leaseExpiresAt = await this.#renew(t.id, every);
      t.lastRenewError = undefined;
    } catch (err) {
      const e = toMatgtoError(err, 'RenewSession');
      if (e.code === GrpcStatus.NOT_FOUND) {
        t.lost = e;
        clearInterval(t.timer);
        t.timer = undefined;
      } else if (this.#closed()) {
        clearInterval(t.timer);
        t.timer = undefined;
      } else {
        t.lastRenewError = e; // try again at the next tick
      }
    } finally {
      t.renewing = false;
    }
  }
}
