import './polyfill.js';
import { rootCertificates } from 'node:tls';
import {
  credentials as grpcCredentials,
  Metadata,
  status as GrpcStatus,
  type CallOptions,
  type ChannelCredentials,
  type ClientOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { ProxyAgent } from 'undici';
import { Cassette, type DeepPartial } from './gen/matgto/v1/cassette.js';
import {
  CassetteChunk,
  ClearFaultsRequest,
  DeleteCassetteRequest,
  GetCACertificateRequest,
  GetCassetteRequest,
  GetStatusRequest,
  ListCassettesRequest,
  ProxyControlClient,
  RenewSessionRequest,
  ReplayRequest,
  SetFaultsRequest,
  ShutdownRequest,
  StartRecordingRequest,
  StopRecordingRequest,
  UseCassetteRequest,
  WatchEventsRequest,
  type GetStatusResponse,
} from './gen/matgto/v1/control.js';
import { bearerInterceptor, channelSetup, resolveConnection, type ConnectionOptions } from './connection.js';
import { IncompatibleServerError, MatgtoError, SessionLostError, UnimplementedError, toMatgtoError } from './errors.js';
import {
  cassetteInfoFromPb,
  durationFromMs,
  faultFromPb,
  faultToPb,
  modeToPb,
  seedToBigint,
  optionsToPb,
  sessionFromPb,
  sessionProxy,
  statusFromPb,
  summaryFromPb,
  type CassetteInfo,
  type CassetteMode,
  type CassetteOptions,
  type Fault,
  type FaultRule,
  type ServerStatus,
  type SessionInfo,
  type SessionSummary,
} from './types.js';
import { checkApiVersion } from './version.js';
import { EventStream, abortedError, type WatchEventsOptions } from './events.js';

/** Control address used when neither the constructor argument nor `MATGTO_SERVER` is set. */
export const DEFAULT_ADDRESS = '127.0.0.1:8889';

/** Size of the chunks `putCassette()` uploads (1 MiB). */
export const CHUNK_BYTES = 1024 * 1024;

/** Lease of a new session when `leaseMs` is not given (renewed every third of it). */
export const DEFAULT_LEASE_MS = 30_000;

/** The id of the default session (what calls without `session` act on). */
export const DEFAULT_SESSION_ID = 'default';

/**
 * Options of {@link MatgtoClient}. The connection options (`token`, `tls`,
 * `tlsCa`, `tlsCert`, `tlsKey`; see {@link ConnectionOptions}) default to
 * `$MATGTO_TOKEN`, `$MATGTO_TLS_CA`, `$MATGTO_TLS_CERT`, `$MATGTO_TLS_KEY`;
 * with none of them the channel is plaintext, as a loopback `matgto serve` listens.
 */
export interface MatgtoClientOptions extends ConnectionOptions {
  /** Deadline of each control call, in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /**
   * Channel credentials of your own, instead of the ones `tls`/`tlsCa`/
   * `tlsCert`/`tlsKey` make (not with those). The token is still sent.
   */
  credentials?: ChannelCredentials;
  /**
   * Extra `@grpc/grpc-js` channel options. The client sets
   * `grpc.enable_http_proxy: 0`: the control channel never goes through
   * `HTTP(S)_PROXY` (which tests often point at matgto itself).
   */
  channelOptions?: Partial<ClientOptions>;
}

/**
 * Which session a cassette call acts on. Nothing set: the server's default
 * session (what the CLI drives). `newSession: true` opens a session of its
 * own, with its own proxy listener (`proxyAddress`), that other sessions'
 * traffic never reaches.
 */
export interface SessionOptions {
  /** Act on this open session (its `id`) instead of the default one. Not with `newSession`. */
  session?: string;
  /** Open a new session for this cassette. */
  newSession?: boolean;
  /**
   * New sessions only: the server ends the session (saving what it recorded)
   * unless it is renewed within this many milliseconds; the client renews it
   * in the background every third of it until the session is stopped.
   * Default {@link DEFAULT_LEASE_MS} (30 s); `0`: no lease (the session lives
   * until stopped). The server accepts 1 s to 1 h.
   */
  leaseMs?: number;
  /** New sessions only: who opened it, shown by `status()` (at most 256 bytes). Default `node pid <pid>`. */
  owner?: string;
}

/** Options of `startRecording()` and `replay()`. */
export interface CassetteCallOptions extends CassetteOptions, SessionOptions {}

/** Options of `useCassette()` and `withCassette()`. */
export interface UseCassetteOptions extends CassetteOptions, SessionOptions {
  /** Default `auto`: replay when the cassette exists, record it otherwise. */
  mode?: CassetteMode;
}

/** Options of `setFaults()` / `session.addFaults()`. */
export interface SetFaultsOptions {
  /**
   * Reseeds the session's generator for probabilistic faults, so a failing
   * test re-runs with the same sequence (unset or 0: keep the current seed,
   * reported as `faultSeed`).
   */
  seed?: number | bigint;
}

/** What `setFaults()` resolves to: every rule of the session (with its id) and its seed. */
export interface FaultSet {
  faults: Fault[];
  seed: bigint;
}

/** Options of `stopRecording()`. */
export interface StopOptions {
  /** The session to stop (and close); unset: the default session's cassette. */
  session?: string;
}

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

export interface FetchDispatcherOptions {
  /**
   * Whether the agent trusts the server's CA (for intercepted HTTPS).
   * `'auto'` (default): trust it when the server has one, go on without it
   * when the server answers UNIMPLEMENTED (no HTTPS interception).
   * `true`: require it. `false`: do not ask for it.
   */
  trustCa?: boolean | 'auto';
  /** Extra undici `ProxyAgent` options (`uri` is set from `proxy` or the server's status). */
  agentOptions?: Omit<ProxyAgent.Options, 'uri'>;
  /**
   * The proxy URL. Default: the shared proxy port (`proxyUrl()`). For a
   * session of its own: `session.proxy` (`http://` + `proxyAddress`), or
   * `session.proxyUrl` (the shared port with the session as proxy user,
   * "http://ID:matgto@host:port", sent as `Proxy-Authorization: Basic
   * base64("ID:matgto")`; the server ignores the password).
   */
  proxy?: string;
}

/** What the client knows about a (non-default) session it started a cassette in. */
interface TrackedSession {
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

/**
 * undici's ProxyAgent sends `Proxy-Authorization` only for a URL with both a
 * user and a password. A session's `proxyUrl` has both ("http://ID:matgto@…");
 * a hand-written "http://ID@host:port" has a user only: send
 * `Basic base64("ID:")` for it (the server reads the user alone).
 * Internal (used by the testing entry), not exported from the package index.
 */
export function proxyCredential(uri: string): { uri: string; token?: string } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { uri };
  }
  if (!url.username || url.password) return { uri };
  const token = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:`).toString('base64')}`;
  url.username = '';
  return { uri: url.toString(), token };
}

function isDefaultSession(id: string | undefined): boolean {
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

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/**
 * Client of a running matgto server's control API (gRPC `matgto.v1.ProxyControl`).
 *
 * On its first call the client checks the server's `apiVersion` and rejects
 * with {@link IncompatibleServerError} when it is not the one it speaks.
 * Failed calls reject with {@link MatgtoError} subclasses.
 */
export class MatgtoClient implements AsyncDisposable {
  /** The control address this client talks to ("127.0.0.1:8889"). */
  readonly address: string;
  /** Whether the control channel uses TLS (false with your own `credentials`). */
  readonly tls: boolean;
  readonly #stub: ProxyControlClient;
  readonly #timeoutMs: number;
  #compatible: Promise<void> | undefined;
  #closed = false;
  /** Token of the last cassette this client started in the default session, until it stops. */
  #current: object | undefined;
  /** Sessions of their own this client started cassettes in, by id, until stopped. */
  readonly #sessions = new Map<string, TrackedSession>();

  /**
   * @param address control address `host:port` (default `$MATGTO_SERVER`, else
   *   127.0.0.1:8889); `https://host:port` means TLS, `http://` is dropped.
   */
  constructor(address?: string, options: MatgtoClientOptions = {}) {
    // "https://host:port" means TLS and "http://" is dropped, as the matgto CLI reads --server.
    const raw = address || process.env.MATGTO_SERVER || DEFAULT_ADDRESS;
    const scheme = /^(https?):\/\//i.exec(raw);
    this.address = scheme ? raw.slice(scheme[0].length).replace(/\/+$/, '') : raw;
    if (scheme?.[1]!.toLowerCase() === 'https') {
      if (options.tls === false) throw new TypeError(`tls: false (plaintext) contradicts the address ${raw}`);
      if (!options.credentials) options = { ...options, tls: true };
    }
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    let setup: ReturnType<typeof channelSetup>;
    if (options.credentials) {
      if (options.tls !== undefined || options.tlsCa !== undefined || options.tlsCert !== undefined || options.tlsKey !== undefined) {
        throw new TypeError('credentials replace tls, tlsCa, tlsCert and tlsKey: give one or the other');
      }
      const { token } = resolveConnection(this.address, { token: options.token, tls: false });
      setup = { credentials: options.credentials, interceptors: token ? [bearerInterceptor(token)] : [] };
      this.tls = false;
    } else {
      const settings = resolveConnection(this.address, options);
      setup = channelSetup(settings);
      this.tls = settings.tls;
    }
    this.#stub = new ProxyControlClient(this.address, setup.credentials, {
      'grpc.enable_http_proxy': 0,
      ...options.channelOptions,
      interceptors: [...(options.channelOptions?.interceptors ?? []), ...setup.interceptors],
    });
  }

  #unary<Req, Res>(rpc: string, method: UnaryMethod<Req, Res>, request: Req, extraMs = 0): Promise<Res> {
    if (this.#closed) {
      return Promise.reject(new MatgtoError(GrpcStatus.CANCELLED, 'client is closed', { rpc }));
    }
    return new Promise<Res>((resolve, reject) => {
      const deadline = Date.now() + this.#timeoutMs + extraMs;
      method.call(this.#stub, request, new Metadata(), { deadline }, (err, res) => {
        if (err) reject(toMatgtoError(err, rpc));
        else resolve(res);
      });
    });
  }

  #getStatusRaw(): Promise<GetStatusResponse> {
    return this.#unary('GetStatus', this.#stub.getStatus, GetStatusRequest.fromPartial({}));
  }

  #ensureOpen(rpc: string): void {
    if (this.#closed) throw new MatgtoError(GrpcStatus.CANCELLED, 'client is closed', { rpc });
  }

  /** Runs the api_version check once (again after a failure to reach the server). */
  #ensureCompatible(): Promise<void> {
    if (!this.#compatible) {
      const check = this.#getStatusRaw().then((r) => checkApiVersion(r, this.address));
      this.#compatible = check;
      check.catch((err: unknown) => {
        // Retry later when the server could not be asked; an incompatible
        // server stays refused.
        if (!(err instanceof IncompatibleServerError) && this.#compatible === check) {
          this.#compatible = undefined;
        }
      });
    }
    return this.#compatible;
  }

  #session(info: SessionInfo | undefined, rpc: string, opened: { leaseMs: number } | undefined): CassetteSession {
    if (!info) {
      throw new MatgtoError(GrpcStatus.INTERNAL, 'server answered without a session', { rpc });
    }
    const token = {};
    let stop: () => Promise<SessionSummary | undefined>;
    let tracked: TrackedSession | undefined;
    if (isDefaultSession(info.id)) {
      this.#current = token;
      stop = async () => {
        if (this.#current !== token || this.#closed) return undefined;
        return this.stopRecording();
      };
    } else {
      tracked = this.#sessions.get(info.id);
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
      const t = tracked;
      stop = async () => {
        if (t.token !== token || this.#closed || this.#sessions.get(t.id) !== t) return undefined;
        return this.stopRecording({ session: t.id });
      };
    }
    const session = { ...info } as CassetteSession;
    const proxy = sessionProxy(info, this.address);
    Object.defineProperty(session, 'proxy', { value: proxy, enumerable: true });
    Object.defineProperty(session, 'lost', { get: () => tracked?.lost !== undefined });
    Object.defineProperty(session, 'stop', { value: stop });
    Object.defineProperty(session, 'fetchDispatcher', {
      value: (options: Omit<FetchDispatcherOptions, 'proxy'> = {}) => this.fetchDispatcher({ ...options, proxy }),
    });
    Object.defineProperty(session, Symbol.asyncDispose, { value: async () => void (await stop()) });
    Object.defineProperty(session, 'addFaults', {
      value: async (faults: FaultRule | readonly FaultRule[], options?: SetFaultsOptions) => {
        const set = await this.setFaults(info.id, faults, options);
        session.faults = set.faults;
        session.faultSeed = set.seed;
        return set.faults;
      },
    });
    Object.defineProperty(session, 'clearFaults', {
      value: async (ids?: string | readonly string[]) => {
        const left = await this.clearFaults(info.id, ids);
        session.faults = left;
        return left;
      },
    });
    Object.defineProperty(session, 'info', { value: () => this.sessionInfo(info.id) });
    Object.defineProperty(session, 'events', {
      value: (options: Omit<WatchEventsOptions, 'session'> = {}) => this.watchEvents({ ...options, session: info.id }),
    });
    return session;
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
      } else if (this.#closed) {
        clearInterval(t.timer);
        t.timer = undefined;
      } else {
        t.lastRenewError = e; // try again at the next tick
      }
    } finally {
      t.renewing = false;
    }
  }

  async #renew(id: string, deadlineMs?: number): Promise<Date | undefined> {
    await this.#ensureCompatible();
    const extra = deadlineMs === undefined ? 0 : Math.min(0, deadlineMs - this.#timeoutMs);
    const res = await this.#unary('RenewSession', this.#stub.renewSession, RenewSessionRequest.fromPartial({ session: id }), extra);
    return res.leaseExpiresAt;
  }

  /**
   * Extends the lease of session `id` by its lease length; resolves to when
   * it now expires. Sessions this client opened are renewed in the
   * background already. NOT_FOUND (CassetteNotFoundError) when the session
   * is gone.
   */
  async renewSession(id: string): Promise<Date | undefined> {
    const expires = await this.#renew(id);
    const t = this.#sessions.get(id);
    if (t) t.leaseExpiresAt = expires;
    return expires;
  }

  /**
   * Starts recording into cassette `name` (saved, overwriting, on stop),
   * ending the cassette the session had in use. `newSession: true` opens a
   * session of its own (see {@link SessionOptions}).
   */
  async startRecording(name: string, options: CassetteCallOptions = {}): Promise<CassetteSession> {
    const req = startRecordingRequest(name, options);
    await this.#ensureCompatible();
    const res = await this.#unary('StartRecording', this.#stub.startRecording, req);
    return this.#session(sessionFromPb(res.session), 'StartRecording', this.#opened(options));
  }

  #opened(o: SessionOptions): { leaseMs: number } | undefined {
    return o.newSession ? { leaseMs: o.leaseMs ?? DEFAULT_LEASE_MS } : undefined;
  }

  /**
   * Ends the session's cassette (whatever its mode), saving a recording.
   * `{ session: id }` ends that session and closes it (its port too); its
   * background renewal stops. Without `session`: the default session
   * (FailedPreconditionError when it has no cassette in use). A session
   * this client opened that the server already ended rejects with
   * {@link SessionLostError}; another unknown id with CassetteNotFoundError.
   */
  async stopRecording(options: StopOptions = {}): Promise<SessionSummary> {
    const id = options.session ?? '';
    if (typeof id !== 'string') throw new TypeError('session must be a session id (string)');
    const tracked = isDefaultSession(id) ? undefined : this.#sessions.get(id);
    if (tracked) {
      clearInterval(tracked.timer);
      tracked.timer = undefined;
      this.#sessions.delete(id);
    }
    try {
      await this.#ensureCompatible();
      const res = await this.#unary('StopRecording', this.#stub.stopRecording, StopRecordingRequest.fromPartial({ session: id }));
      return summaryFromPb(res.summary);
    } catch (err) {
      if (tracked && err instanceof MatgtoError && err.code === GrpcStatus.NOT_FOUND) throw await this.#lostError(tracked, err);
      throw err;
    } finally {
      if (isDefaultSession(id)) this.#current = undefined;
    }
  }

  async #lostError(t: TrackedSession, err: MatgtoError): Promise<SessionLostError> {
    let summary: SessionSummary | undefined;
    try {
      summary = (await this.status()).endedSessions.find((s) => s.session?.id === t.id);
    } catch {
      // The explanation is best effort; the loss is reported either way.
    }
    return new SessionLostError(t.id, t.cassette, summary, { rpc: 'StopRecording', cause: t.lost ?? err, serverMessage: err.serverMessage });
  }

  /**
   * Replays cassette `name`; `options` override its stored options for this
   * session. CassetteNotFoundError when it does not exist. `newSession: true`
   * opens a session of its own (see {@link SessionOptions}).
   */
  async replay(name: string, options: CassetteCallOptions = {}): Promise<CassetteSession> {
    const req = replayRequest(name, options);
    await this.#ensureCompatible();
    const res = await this.#unary('Replay', this.#stub.replay, req);
    return this.#session(sessionFromPb(res.session), 'Replay', this.#opened(options));
  }

  /**
   * Uses cassette `name` in `mode` (default `auto`: replay when it exists,
   * record otherwise). `newSession: true` opens a session of its own (see
   * {@link SessionOptions}).
   */
  async useCassette(name: string, options: UseCassetteOptions = {}): Promise<CassetteSession> {
    const req = useCassetteRequest(name, options);
    await this.#ensureCompatible();
    const res = await this.#unary('UseCassette', this.#stub.useCassette, req);
    return this.#session(sessionFromPb(res.session), 'UseCassette', this.#opened(options));
  }

  /**
   * Uses cassette `name` while `fn` runs, then always stops it (also when
   * `fn` throws; `fn`'s error wins over a failure to stop). Resolves to
   * `fn`'s result. With `newSession: true`, `fn` gets a session of its own
   * (send its traffic to `session.proxy`), closed at the end.
   */
  async withCassette<T>(
    name: string,
    fn: (session: CassetteSession) => T | Promise<T>,
    options: UseCassetteOptions = {},
  ): Promise<T> {
    const session = await this.useCassette(name, options);
    const stopOptions: StopOptions = isDefaultSession(session.id) ? {} : { session: session.id };
    let result: T;
    try {
      result = await fn(session);
    } catch (err) {
      await this.stopRecording(stopOptions).catch(() => undefined);
      throw err;
    }
    await this.stopRecording(stopOptions);
    return result;
  }

  /**
   * Adds fault rules to session `sessionId` (`undefined`, `''` or
   * `'default'`: the default session); they apply in every mode until
   * cleared or the session ends. Resolves to all the session's rules with
   * their server-assigned ids ("f1", ...) and its seed. A rule's shape is
   * checked first (TypeError); the server answers INVALID_ARGUMENT
   * (InvalidArgumentError) for a bad RE2 pattern or value, NOT_FOUND for an
   * unknown session.
   *
   * ```ts
   * await client.setFaults(session.id, { status: 503, headers: { 'Retry-After': '1' }, firstN: 2, url: '/orders/.*' });
   * await client.setFaults(session.id, [{ reset: 'mid-body', probability: 0.1 }], { seed: 7 });
   * ```
   */
  async setFaults(sessionId: string | undefined, faults: FaultRule | readonly FaultRule[], options: SetFaultsOptions = {}): Promise<FaultSet> {
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
    await this.#ensureCompatible();
    const res = await this.#unary('SetFaults', this.#stub.setFaults, SetFaultsRequest.fromPartial({ session, faults: pbFaults, seed: seed ?? 0n }));
    return { faults: res.faults.map(faultFromPb), seed: res.seed };
  }

  /**
   * Removes the fault rules `ids` of session `sessionId` (all of them when
   * `ids` is unset or empty); resolves to the rules left. NOT_FOUND
   * (CassetteNotFoundError) for an id the session does not have or an
   * unknown session.
   */
  async clearFaults(sessionId: string | undefined, ids?: string | readonly string[]): Promise<Fault[]> {
    const session = sessionIdField(sessionId);
    const list = ids === undefined ? [] : typeof ids === 'string' ? [ids] : [...ids];
    if (list.some((id) => typeof id !== 'string')) throw new TypeError('clearFaults: ids are fault ids ("f1"), strings');
    await this.#ensureCompatible();
    const res = await this.#unary('ClearFaults', this.#stub.clearFaults, ClearFaultsRequest.fromPartial({ session, ids: list }));
    return res.faults.map(faultFromPb);
  }

  /**
   * Session `sessionId` (default: the default session) as `status()`
   * reports it now, or undefined when it is not open with a cassette.
   */
  async sessionInfo(sessionId?: string): Promise<SessionInfo | undefined> {
    const st = await this.status();
    if (isDefaultSession(sessionId)) return st.session ?? st.sessions.find((s) => s.id === DEFAULT_SESSION_ID);
    return st.sessions.find((s) => s.id === sessionId);
  }

  /** The cassettes whose names start with `prefix` (name, size, interactions, updatedAt, format). */
  async listCassettes(prefix = ''): Promise<CassetteInfo[]> {
    await this.#ensureCompatible();
    const res = await this.#unary('ListCassettes', this.#stub.listCassettes, ListCassettesRequest.fromPartial({ prefix }));
    return res.cassettes.map(cassetteInfoFromPb);
  }

  /**
   * Cassette `name` as serialized `matgto.v1.Cassette` bytes (the streamed
   * chunks joined). CassetteNotFoundError when it does not exist,
   * CorruptCassetteError when its file is corrupt.
   */
  async getCassetteBytes(name: string): Promise<Buffer> {
    await this.#ensureCompatible();
    this.#ensureOpen('GetCassette');
    return new Promise<Buffer>((resolve, reject) => {
      const deadline = Date.now() + this.#timeoutMs;
      const call = this.#stub.getCassette(GetCassetteRequest.fromPartial({ name }), new Metadata(), { deadline });
      const parts: Buffer[] = [];
      call.on('data', (chunk: CassetteChunk) => parts.push(Buffer.from(chunk.data)));
      call.on('error', (err: unknown) => reject(toMatgtoError(err, 'GetCassette')));
      call.on('end', () => resolve(Buffer.concat(parts)));
    });
  }

  /**
   * Follows what the server does, live (the `WatchEvents` RPC, what `matgto
   * tail` shows): every exchange (method, URL with query values redacted,
   * status, result), every miss with its explanation, and session events,
   * from now on. Resolves to an {@link EventStream} once the server has
   * subscribed, so traffic driven afterwards is seen:
   *
   * ```ts
   * await using events = await client.watchEvents({ session: s.id });
   * for await (const event of events) if (event.miss) console.log(event.miss.explanation);
   * ```
   *
   * No deadline applies. A read token is enough; a prefix token sees only its
   * cassettes. A refused call (UnauthenticatedError, PermissionDeniedError)
   * rejects here or, at the latest, on the first `next()`.
   */
  async watchEvents(options: WatchEventsOptions = {}): Promise<EventStream> {
    const { signal } = options;
    if (signal?.aborted) throw abortedError(signal);
    await this.#ensureCompatible();
    this.#ensureOpen('WatchEvents');
    if (signal?.aborted) throw abortedError(signal);
    const request = WatchEventsRequest.fromPartial({ session: options.session ?? '', cassette: options.cassette ?? '' });
    const stream = new EventStream(this.#stub.watchEvents(request, new Metadata()), signal);
    try {
      await stream.subscribed();
    } catch (err) {
      stream.close();
      throw err;
    }
    return stream;
  }

  /** Cassette `name` as the generated `Cassette` message (interactions, options, timestamps). Errors as {@link getCassetteBytes}. */
  async getCassette(name: string): Promise<Cassette> {
    const bytes = await this.getCassetteBytes(name);
    try {
      return Cassette.decode(bytes);
    } catch (err) {
      throw new MatgtoError(GrpcStatus.DATA_LOSS, `GetCassette returned bytes that are not a matgto.v1.Cassette: ${String(err)}`, {
        rpc: 'GetCassette',
        cause: err,
      });
    }
  }

  /**
   * Stores a cassette (replacing one of the same name atomically), uploaded
   * in 1 MiB chunks. `cassette` is a generated `Cassette` (or a partial of
   * one) or its serialized bytes; it must be complete (`schemaVersion` 1,
   * `complete` true), else InvalidArgumentError. `name` defaults to the
   * cassette's own name; the server stores it under `name`. Replacing the
   * cassette in use rejects with FailedPreconditionError.
   */
  async putCassette(cassette: Cassette | DeepPartial<Cassette> | Uint8Array, name?: string): Promise<CassetteInfo> {
    let bytes: Uint8Array;
    let ownName: string;
    if (cassette instanceof Uint8Array) {
      bytes = cassette;
      ownName = '';
      if (name === undefined) {
        try {
          ownName = Cassette.decode(cassette).name;
        } catch (err) {
          throw new TypeError(`putCassette: the bytes are not a matgto.v1.Cassette (${String(err)})`);
        }
      }
    } else if (typeof cassette === 'object' && cassette !== null) {
      const message = Cassette.fromPartial(cassette);
      bytes = Cassette.encode(message).finish();
      ownName = message.name;
    } else {
      throw new TypeError('putCassette takes a Cassette message or its bytes');
    }
    const target = name ?? ownName;
    if (!target) throw new TypeError('putCassette: the cassette has no name; pass one');

    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await this.#ensureCompatible();
    this.#ensureOpen('PutCassette');
    return new Promise<CassetteInfo>((resolve, reject) => {
      let settled = false;
      const deadline = Date.now() + this.#timeoutMs;
      const call = this.#stub.putCassette(new Metadata(), { deadline }, (err, res) => {
        settled = true;
        if (err) reject(toMatgtoError(err, 'PutCassette'));
        else resolve(cassetteInfoFromPb(res.cassette ?? { name: target, sizeBytes: 0, interactions: 0, updatedAt: undefined, format: '', contentSha256: '' }));
      });
      call.on('error', () => undefined); // reported through the callback
      const send = async (): Promise<void> => {
        for (let offset = 0; offset === 0 || offset < data.length; offset += CHUNK_BYTES) {
          if (settled) return;
          const chunk = CassetteChunk.fromPartial({
            name: offset === 0 ? target : '',
            data: data.subarray(offset, offset + CHUNK_BYTES),
          });
          if (!call.write(chunk)) {
            await new Promise<void>((drained) => {
              const done = () => {
                call.off('drain', done);
                call.off('close', done);
                drained();
              };
              call.on('drain', done);
              call.on('close', done);
            });
          }
        }
        call.end();
      };
      send().catch((err: unknown) => {
        call.cancel();
        if (!settled) reject(toMatgtoError(err, 'PutCassette'));
      });
    });
  }

  /** Deletes cassette `name`. CassetteNotFoundError when absent, FailedPreconditionError while it is in use. */
  async deleteCassette(name: string): Promise<void> {
    await this.#ensureCompatible();
    await this.#unary('DeleteCassette', this.#stub.deleteCassette, DeleteCassetteRequest.fromPartial({ name }));
  }

  /** The server's status. Rejects with IncompatibleServerError for another api_version. */
  async status(): Promise<ServerStatus> {
    const res = await this.#getStatusRaw();
    checkApiVersion(res, this.address);
    this.#compatible ??= Promise.resolve();
    return statusFromPb(res);
  }

  /** Asks the server to exit (after saving an active recording), allowing `graceMs` (default: server's 5 s) for in-flight exchanges. */
  async shutdown(graceMs?: number): Promise<void> {
    await this.#ensureCompatible();
    const grace =
      graceMs === undefined
        ? undefined
        : { seconds: Math.floor(graceMs / 1000), nanos: Math.round((graceMs % 1000) * 1e6) };
    await this.#unary('Shutdown', this.#stub.shutdown, ShutdownRequest.fromPartial({ grace }), graceMs ?? 5000);
    this.#current = undefined;
  }

  /**
   * PEM certificate of the CA that signs intercepted HTTPS hosts (HTTPS goes
   * through the proxy with CONNECT; trust this PEM). UnimplementedError from
   * (old) servers without HTTPS interception.
   */
  async caCertificate(): Promise<string> {
    await this.#ensureCompatible();
    const res = await this.#unary('GetCACertificate', this.#stub.getCaCertificate, GetCACertificateRequest.fromPartial({}));
    return res.pem;
  }

  /** `http://` URL of the server's proxy listener, from `status().proxyAddress`. */
  async proxyUrl(): Promise<string> {
    const { proxyAddress } = await this.status();
    return sessionProxy({ proxyAddress }, this.address);
  }

  /**
   * An undici `ProxyAgent` that sends requests through the matgto proxy
   * (plain HTTP as absolute-form requests, HTTPS through CONNECT) and trusts
   * the server's CA. Pass it as `dispatcher` to undici's `fetch`/`request`,
   * or install it with undici's `setGlobalDispatcher`. Node's built-in
   * `fetch` ignores HTTP_PROXY/HTTPS_PROXY. Close the agent when done.
   */
  async fetchDispatcher(options: FetchDispatcherOptions = {}): Promise<ProxyAgent> {
    const trustCa = options.trustCa ?? 'auto';
    const uri = options.proxy ?? (await this.proxyUrl());
    let ca: string | undefined;
    if (trustCa !== false) {
      try {
        ca = await this.caCertificate();
      } catch (err) {
        if (!(trustCa === 'auto' && err instanceof UnimplementedError)) throw err;
      }
    }
    const agentOptions = options.agentOptions ?? {};
    const requestTls = ca ? { ...agentOptions.requestTls, ca: [...rootCertificates, ca] } : agentOptions.requestTls;
    return new ProxyAgent({ proxyTunnel: false, ...proxyCredential(uri), ...agentOptions, requestTls });
  }

  /** Closes the gRPC channel. Further calls reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#sessions.values()) clearInterval(t.timer);
    this.#sessions.clear();
    this.#stub.close();
  }

  /** `await using client = new MatgtoClient()` closes the channel at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
