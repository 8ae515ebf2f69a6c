import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  credentials as grpcCredentials,
  InterceptingCall,
  Metadata,
  type ChannelCredentials,
  type Interceptor,
} from '@grpc/grpc-js';

/** Environment variable holding the bearer token. */
export const TOKEN_ENV = 'MATGTO_TOKEN';
/** Environment variable naming the PEM file of the roots that sign the server's certificate. */
export const TLS_CA_ENV = 'MATGTO_TLS_CA';
/** Environment variable naming the client certificate (PEM) for mTLS. */
export const TLS_CERT_ENV = 'MATGTO_TLS_CERT';
/** Environment variable naming the client certificate's private key (PEM). */
export const TLS_KEY_ENV = 'MATGTO_TLS_KEY';

/** A PEM source: a file path (string), or the PEM itself (Buffer). */
export type PemSource = string | Buffer;

/** How to reach a secured control API (part of `MatgtoClientOptions`). */
export interface ConnectionOptions {
  /**
   * Bearer token, sent as `authorization: Bearer TOKEN` on every call.
   * Default: `$MATGTO_TOKEN`; `''`: no token whatever the environment says.
   */
  token?: string;
  /**
   * `undefined` (default): TLS when a CA or client certificate is configured
   * (options or `$MATGTO_TLS_CA` / `$MATGTO_TLS_CERT`), else plaintext.
   * `true`: TLS, with Node's root certificates unless `tlsCa`. `false`:
   * plaintext, explicitly (the TLS variables are ignored and a token may go to
   * a host other than loopback, e.g. behind an encrypting service mesh).
   */
  tls?: boolean;
  /** Roots that sign the server's certificate (default `$MATGTO_TLS_CA`). */
  tlsCa?: PemSource;
  /** Client certificate chain for mTLS (default `$MATGTO_TLS_CERT`); needs `tlsKey`. */
  tlsCert?: PemSource;
  /** Private key of `tlsCert` (default `$MATGTO_TLS_KEY`). */
  tlsKey?: PemSource;
}

/** The resolved connection settings (PEM contents read). */
export interface ConnectionSettings {
  tls: boolean;
  token: string | undefined;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  explicitPlaintext: boolean;
}

type Env = Record<string, string | undefined>;

function pick(value: PemSource | undefined, env: Env, name: string): { value: PemSource | undefined; fromEnv: boolean } {
  if (value !== undefined) return { value, fromEnv: false };
  const v = env[name]?.trim();
  return v ? { value: v, fromEnv: true } : { value: undefined, fromEnv: false };
}

function readPem(src: { value: PemSource | undefined; fromEnv: boolean }, what: string, envName: string): Buffer | undefined {
  if (src.value === undefined) return undefined;
  if (Buffer.isBuffer(src.value)) return src.value;
  try {
    return readFileSync(src.value);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot read the ${what} "${src.value}"${src.fromEnv ? ` (from $${envName})` : ''}: ${why}`);
  }
}

/** The host of a gRPC target ("127.0.0.1:8889", "[::1]:1", "dns:///h:1"). */
function targetHost(target: string): string {
  if (target.startsWith('unix:')) return 'localhost';
  let t = target.replace(/^(dns|ipv4|ipv6):/, '');
  t = t.split(',')[0]!;
  t = t.slice(t.lastIndexOf('/') + 1);
  if (t.startsWith('[')) return t.slice(1, t.indexOf(']'));
  const colons = t.split(':').length - 1;
  return colons === 1 ? t.slice(0, t.indexOf(':')) : t;
}

/** Whether a gRPC target names this machine (localhost, 127.0.0.0/8, ::1, a unix socket). */
export function isLoopbackTarget(target: string): boolean {
  const host = targetHost(target).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Arguments over environment: turns {@link ConnectionOptions} and the
 * environment into settings. Throws a TypeError for a certificate without its
 * key (or the reverse), TLS files with `tls: false`, or a token that would go
 * in plaintext to a host other than loopback without `tls: false`.
 */
export function resolveConnection(address: string, options: ConnectionOptions = {}, env: Env = process.env): ConnectionSettings {
  let token = options.token ?? (env[TOKEN_ENV]?.trim() || undefined);
  if (token !== undefined && typeof token !== 'string') throw new TypeError('token must be a string');
  token = token || undefined;
  if (token && /[\r\n]/.test(token)) throw new TypeError('the token contains a line break');

  if (options.tls === false) {
    if (options.tlsCa !== undefined || options.tlsCert !== undefined || options.tlsKey !== undefined) {
      throw new TypeError('tls: false (plaintext) cannot be combined with tlsCa, tlsCert or tlsKey');
    }
    return { tls: false, token, ca: undefined, cert: undefined, key: undefined, explicitPlaintext: true };
  }
  const ca = pick(options.tlsCa, env, TLS_CA_ENV);
  const cert = pick(options.tlsCert, env, TLS_CERT_ENV);
  const key = pick(options.tlsKey, env, TLS_KEY_ENV);
  if ((cert.value === undefined) !== (key.value === undefined)) {
    throw new TypeError(
      `a client certificate needs its key: give both tlsCert and tlsKey (or $${TLS_CERT_ENV} and $${TLS_KEY_ENV}), or neither`,
    );
  }
  const tls = options.tls === true || ca.value !== undefined || cert.value !== undefined;
  if (!tls) {
    if (token && !isLoopbackTarget(address)) {
      throw new TypeError(
        `refusing to send the token in plaintext to ${address}: connect with TLS (tlsCa or $${TLS_CA_ENV}, ` +
          'or tls: true for the system roots), or pass tls: false to choose plaintext explicitly ' +
          '(e.g. behind an encrypting service mesh)',
      );
    }
    return { tls: false, token, ca: undefined, cert: undefined, key: undefined, explicitPlaintext: false };
  }
  return {
    tls: true,
    token,
    ca: readPem(ca, 'TLS CA file', TLS_CA_ENV),
    cert: readPem(cert, 'TLS client certificate', TLS_CERT_ENV),
    key: readPem(key, 'TLS client key', TLS_KEY_ENV),
    explicitPlaintext: false,
  };
}

/**
 * An interceptor that sets `authorization: Bearer TOKEN` on every call:
 * grpc-js refuses call credentials on insecure channels, so plaintext
 * channels carry the token this way.
 */
export function bearerInterceptor(token: string): Interceptor {
  const value = `Bearer ${token}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', value);
        next(metadata, listener);
      },
    });
}

/** Channel credentials and interceptors for `settings`. */
export function channelSetup(settings: ConnectionSettings): { credentials: ChannelCredentials; interceptors: Interceptor[] } {
  if (!settings.tls) {
    return {
      credentials: grpcCredentials.createInsecure(),
      interceptors: settings.token ? [bearerInterceptor(settings.token)] : [],
    };
  }
  let credentials = grpcCredentials.createSsl(settings.ca ?? null, settings.key ?? null, settings.cert ?? null);
  if (settings.token) {
    const value = `Bearer ${settings.token}`;
    credentials = credentials.compose(
      grpcCredentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new Metadata();
        metadata.set('authorization', value);
        callback(null, metadata);
      }),
    );
  }
  return { credentials, interceptors: [] };
}

/**
 * The channel to the control API at `address` ("host:port"; "https://host:port"
 * means TLS and "http://" is dropped, as the matgto CLI reads --server): the
 * address without scheme, whether it uses TLS, its credentials and interceptors.
 * `credentials` of one's own replace the ones `tls`/`tlsCa`/`tlsCert`/`tlsKey`
 * make (TypeError with those); the token is still sent.
 */
export function controlChannel(
  address: string,
  options: ConnectionOptions & { credentials?: ChannelCredentials },
): { address: string; tls: boolean; credentials: ChannelCredentials; interceptors: Interceptor[] } {
  const scheme = /^(https?):\/\//i.exec(address);
  const target = scheme ? address.slice(scheme[0].length).replace(/\/+$/, '') : address;
  if (scheme?.[1]!.toLowerCase() === 'https') {
    if (options.tls === false) throw new TypeError(`tls: false (plaintext) contradicts the address ${address}`);
    if (!options.credentials) options = { ...options, tls: true };
  }
  if (options.credentials) {
    if (options.tls !== undefined || options.tlsCa !== undefined || options.tlsCert !== undefined || options.tlsKey !== undefined) {
      throw new TypeError('credentials replace tls, tlsCa, tlsCert and tlsKey: give one or the other');
    }
    const { token } = resolveConnection(target, { token: options.token, tls: false });
    return { address: target, tls: false, credentials: options.credentials, interceptors: token ? [bearerInterceptor(token)] : [] };
  }
  const settings = resolveConnection(target, options);
  return { address: target, tls: settings.tls, ...channelSetup(settings) };
}
