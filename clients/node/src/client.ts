import './polyfill.js';
import { rootCertificates } from 'node:tls';
import { Metadata, status as GrpcStatus, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import { ProxyAgent } from 'undici';
import { Cassette, type DeepPartial } from './gen/matgto/v1/cassette.js';
import {
  CassetteChunk,
  DeleteCassetteRequest,
  GetCACertificateRequest,
  GetCassetteRequest,
  GetStatusRequest,
  ListCassettesRequest,
  ProxyControlClient,
  RenewSessionRequest,
  ShutdownRequest,
  StopRecordingRequest,
  WatchEventsRequest,
  type GetStatusResponse,
} from './gen/matgto/v1/control.js';
import { cassetteSession, type CassetteSession } from './cassette-session.js';
import { cassetteUpload, sendChunks } from './cassette-upload.js';
import {
  DEFAULT_ADDRESS,
  DEFAULT_LEASE_MS,
  DEFAULT_SESSION_ID,
  type CassetteCallOptions,
  type FaultSet,
  type FetchDispatcherOptions,
  type MatgtoClientOptions,
  type SessionOptions,
  type SetFaultsOptions,
  type StopOptions,
  type UseCassetteOptions,
} from './client-options.js';
import { controlChannel } from './connection.js';
import { IncompatibleServerError, MatgtoError, SessionLostError, UnimplementedError, toMatgtoError } from './errors.js';
import { EventStream, abortedError, type WatchEventsOptions } from './events.js';
import { proxyCredential } from './proxy-credential.js';
import {
  clearFaultsRequest,
  isDefaultSession,
  replayRequest,
  setFaultsRequest,
  startRecordingRequest,
  useCassetteRequest,
} from './requests.js';
import { SessionLeases, type TrackedSession } from './session-leases.js';
import {
  cassetteInfoFromPb,
  faultFromPb,
  sessionFromPb,
  sessionProxy,
  statusFromPb,
  summaryFromPb,
  type CassetteInfo,
  type Fault,
  type FaultRule,
  type ServerStatus,
  type SessionInfo,
  type SessionSummary,
} from './types.js';
import { checkApiVersion } from './version.js';

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
  /** Sessions of their own this client started cassettes in, until stopped. */
  readonly #leases = new SessionLeases(
    (id, deadlineMs) => this.#renew(id, deadlineMs),
    () => this.#closed,
  );

  /**
   * @param address control address `host:port` (default `$MATGTO_SERVER`, else
   *   127.0.0.1:8889); `https://host:port` means TLS, `http://` is dropped.
   */
  constructor(address?: string, options: MatgtoClientOptions = {}) {
    const setup = controlChannel(address || process.env.MATGTO_SERVER || DEFAULT_ADDRESS, options);
    this.address = setup.address;
    this.tls = setup.tls;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
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
      const t = this.#leases.track(info, token, opened);
      tracked = t;
      stop = async () => {
        if (t.token !== token || this.#closed || this.#leases.get(t.id) !== t) return undefined;
        return this.stopRecording({ session: t.id });
      };
    }
    return cassetteSession(this, info, stop, () => tracked?.lost !== undefined);
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
    const t = this.#leases.get(id);
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
    const tracked = isDefaultSession(id) ? undefined : this.#leases.release(id);
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
    const request = setFaultsRequest(sessionId, faults, options);
    await this.#ensureCompatible();
    const res = await this.#unary('SetFaults', this.#stub.setFaults, request);
    return { faults: res.faults.map(faultFromPb), seed: res.seed };
  }

  /**
   * Removes the fault rules `ids` of session `sessionId` (all of them when
   * `ids` is unset or empty); resolves to the rules left. NOT_FOUND
   * (CassetteNotFoundError) for an id the session does not have or an
   * unknown session.
   */
  async clearFaults(sessionId: string | undefined, ids?: string | readonly string[]): Promise<Fault[]> {
    const request = clearFaultsRequest(sessionId, ids);
    await this.#ensureCompatible();
    const res = await this.#unary('ClearFaults', this.#stub.clearFaults, request);
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
    const { target, data } = cassetteUpload(cassette, name);
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
      sendChunks(call, target, data, () => settled).catch((err: unknown) => {
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
    this.#leases.clear();
    this.#stub.close();
  }

  /** `await using client = new MatgtoClient()` closes the channel at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
