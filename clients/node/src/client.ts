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
  DeleteCassetteRequest,
  GetCACertificateRequest,
  GetCassetteRequest,
  GetStatusRequest,
  ListCassettesRequest,
  ProxyControlClient,
  ReplayRequest,
  ShutdownRequest,
  StartRecordingRequest,
  StopRecordingRequest,
  UseCassetteRequest,
  type GetStatusResponse,
} from './gen/matgto/v1/control.js';
import { IncompatibleServerError, MatgtoError, UnimplementedError, toMatgtoError } from './errors.js';
import {
  cassetteInfoFromPb,
  modeToPb,
  optionsToPb,
  sessionFromPb,
  statusFromPb,
  summaryFromPb,
  type CassetteInfo,
  type CassetteMode,
  type CassetteOptions,
  type ServerStatus,
  type SessionInfo,
  type SessionSummary,
} from './types.js';
import { checkApiVersion } from './version.js';

/** Control address used when neither the constructor argument nor `MATGTO_SERVER` is set. */
export const DEFAULT_ADDRESS = '127.0.0.1:8889';

/** Size of the chunks `putCassette()` uploads (1 MiB). */
export const CHUNK_BYTES = 1024 * 1024;

export interface MatgtoClientOptions {
  /** Deadline of each control call, in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Channel credentials. Default: insecure (plain-text gRPC, as `matgto serve` listens). */
  credentials?: ChannelCredentials;
  /** Extra `@grpc/grpc-js` channel options. */
  channelOptions?: Partial<ClientOptions>;
}

/** Options of `useCassette()` and `withCassette()`. */
export interface UseCassetteOptions extends CassetteOptions {
  /** Default `auto`: replay when the cassette exists, record it otherwise. */
  mode?: CassetteMode;
}

/**
 * The session a cassette call started. Besides the {@link SessionInfo} fields
 * it can be stopped, explicitly or with `await using`:
 *
 * ```ts
 * await using session = await client.useCassette('login', { mode: 'auto' });
 * ```
 *
 * `stop()`/disposal calls StopRecording only while this session is still the
 * last one this client started and has not stopped; otherwise it does nothing
 * and resolves to `undefined`.
 */
export type CassetteSession = SessionInfo &
  AsyncDisposable & {
    stop(): Promise<SessionSummary | undefined>;
  };

export interface FetchDispatcherOptions {
  /**
   * Whether the agent trusts the server's CA (for intercepted HTTPS).
   * `'auto'` (default): trust it when the server has one, go on without it
   * when the server answers UNIMPLEMENTED (no HTTPS interception).
   * `true`: require it. `false`: do not ask for it.
   */
  trustCa?: boolean | 'auto';
  /** Extra undici `ProxyAgent` options (`uri` is set from the server's status). */
  agentOptions?: Omit<ProxyAgent.Options, 'uri'>;
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
  readonly #stub: ProxyControlClient;
  readonly #timeoutMs: number;
  #compatible: Promise<void> | undefined;
  #closed = false;
  /** Token of the last session this client started, until it stops. */
  #current: object | undefined;

  constructor(address?: string, options: MatgtoClientOptions = {}) {
    this.address = address || process.env.MATGTO_SERVER || DEFAULT_ADDRESS;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#stub = new ProxyControlClient(
      this.address,
      options.credentials ?? grpcCredentials.createInsecure(),
      options.channelOptions,
    );
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

  #session(info: SessionInfo | undefined, rpc: string): CassetteSession {
    if (!info) {
      throw new MatgtoError(GrpcStatus.INTERNAL, 'server answered without a session', { rpc });
    }
    const token = {};
    this.#current = token;
    const stop = async (): Promise<SessionSummary | undefined> => {
      if (this.#current !== token || this.#closed) return undefined;
      return this.stopRecording();
    };
    const session = { ...info } as CassetteSession;
    Object.defineProperty(session, 'stop', { value: stop });
    Object.defineProperty(session, Symbol.asyncDispose, { value: async () => void (await stop()) });
    return session;
  }

  /** Starts recording into cassette `name` (saved, overwriting, on stop). Ends any cassette in use. */
  async startRecording(name: string, options?: CassetteOptions): Promise<CassetteSession> {
    await this.#ensureCompatible();
    const req = StartRecordingRequest.fromPartial({ name, options: optionsToPb(options) });
    const res = await this.#unary('StartRecording', this.#stub.startRecording, req);
    return this.#session(sessionFromPb(res.session), 'StartRecording');
  }

  /** Ends the cassette in use (whatever its mode), saving a recording. FailedPreconditionError when none is in use. */
  async stopRecording(): Promise<SessionSummary> {
    await this.#ensureCompatible();
    try {
      const res = await this.#unary('StopRecording', this.#stub.stopRecording, StopRecordingRequest.fromPartial({}));
      return summaryFromPb(res.summary);
    } finally {
      this.#current = undefined;
    }
  }

  /** Replays cassette `name`; `options` override its stored options for this session. CassetteNotFoundError when it does not exist. */
  async replay(name: string, options?: CassetteOptions): Promise<CassetteSession> {
    await this.#ensureCompatible();
    const req = ReplayRequest.fromPartial({ name, options: optionsToPb(options) });
    const res = await this.#unary('Replay', this.#stub.replay, req);
    return this.#session(sessionFromPb(res.session), 'Replay');
  }

  /** Uses cassette `name` in `mode` (default `auto`: replay when it exists, record otherwise). */
  async useCassette(name: string, options: UseCassetteOptions = {}): Promise<CassetteSession> {
    const mode = modeToPb(options.mode ?? 'auto');
    const pbOptions = optionsToPb(options);
    await this.#ensureCompatible();
    const req = UseCassetteRequest.fromPartial({ name, mode, options: pbOptions });
    const res = await this.#unary('UseCassette', this.#stub.useCassette, req);
    return this.#session(sessionFromPb(res.session), 'UseCassette');
  }

  /**
   * Uses cassette `name` while `fn` runs, then always stops it (also when
   * `fn` throws; `fn`'s error wins over a failure to stop). Resolves to
   * `fn`'s result.
   */
  async withCassette<T>(
    name: string,
    fn: (session: SessionInfo) => T | Promise<T>,
    options: UseCassetteOptions = {},
  ): Promise<T> {
    const session = await this.useCassette(name, options);
    let result: T;
    try {
      result = await fn(session);
    } catch (err) {
      await this.stopRecording().catch(() => undefined);
      throw err;
    }
    await this.stopRecording();
    return result;
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
        else resolve(cassetteInfoFromPb(res.cassette ?? { name: target, sizeBytes: 0, interactions: 0, updatedAt: undefined, format: '' }));
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
    return `http://${proxyAddress}`;
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
    const uri = await this.proxyUrl();
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
    return new ProxyAgent({ proxyTunnel: false, ...agentOptions, uri, requestTls });
  }

  /** Closes the gRPC channel. Further calls reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stub.close();
  }

  /** `await using client = new MatgtoClient()` closes the channel at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
