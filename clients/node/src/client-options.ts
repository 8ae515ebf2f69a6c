// The options MatgtoClient and its calls take, and the defaults they fall back on.
import type { ChannelCredentials, ClientOptions } from '@grpc/grpc-js';
import type { ProxyAgent } from 'undici';
import type { ConnectionOptions } from './connection.js';
import type { CassetteMode, CassetteOptions, Fault } from './types.js';

/** Control address used when neither the constructor argument nor `MATGTO_SERVER` is set. */
export const DEFAULT_ADDRESS = '127.0.0.1:8889';

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
