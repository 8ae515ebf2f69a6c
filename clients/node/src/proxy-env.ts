// Point the whole process at a matgto proxy for the duration of a test, then
// put everything back: undici's global dispatcher (what Node's built-in
// `fetch` and undici's use when given no dispatcher) and the proxy / CA
// environment variables child processes and env-reading libraries follow.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { getGlobalDispatcher, ProxyAgent, setGlobalDispatcher, type Dispatcher } from 'undici';
import { MatgtoClient } from './client.js';
import { UnimplementedError } from './errors.js';
import { proxyCredential } from './proxy-credential.js';

/** The proxy variables set (both spellings: tools read one or the other). */
export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'] as const;
/** Variables naming a CA bundle, set for child processes (curl, Python, Node children, OpenSSL). */
export const CA_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'] as const;

/** What {@link setProcessProxy} points the process at. */
export type ProxyTarget =
  | string
  | MatgtoClient
  | { readonly client: MatgtoClient; readonly proxy: string }
  | { readonly proxyUrl: string; readonly client?: () => MatgtoClient };

export interface ProcessProxyOptions {
  /**
   * The CA to trust for HTTPS through the proxy. `'auto'` (default): the
   * server's CA when the target has a client and the server intercepts HTTPS;
   * `true`: require it; `false`: none; or a PEM (string or Buffer).
   */
  ca?: boolean | 'auto' | string | Buffer;
  /** `NO_PROXY` while set. Default: unset, so loopback upstreams go through the proxy too. */
  noProxy?: string;
  /** Also set the environment variables (default true); `false`: the global dispatcher only. */
  env?: boolean;
}

/** The process's proxy settings while set; `restore()` (or `await using`) puts the old ones back. */
export interface ProcessProxy extends AsyncDisposable {
  /** The proxy URL in use. */
  readonly proxy: string;
  /** The undici `ProxyAgent` installed as the global dispatcher. */
  readonly dispatcher: ProxyAgent;
  /** The CA bundle file the CA variables name, if a CA is trusted. */
  readonly caFile: string | undefined;
  /** Restores the previous global dispatcher and variables, closes the agent, removes the CA file. Idempotent. */
  restore(): Promise<void>;
}

interface Resolved {
  proxy: string;
  client: MatgtoClient | undefined;
  /** A client made here (for a LocalServer), closed once the CA is fetched. */
  own: boolean;
}

async function resolveTarget(target: ProxyTarget): Promise<Resolved> {
  if (typeof target === 'string') return { proxy: target.includes('://') ? target : `http://${target}`, client: undefined, own: false };
  if (target instanceof MatgtoClient) return { proxy: await target.proxyUrl(), client: target, own: false };
  if ('proxy' in target && target.client instanceof MatgtoClient) return { proxy: target.proxy, client: target.client, own: false };
  if ('proxyUrl' in target && typeof target.proxyUrl === 'string') {
    // A LocalServer: its shared proxy, and a client of its own for the CA.
    const make = (target as { client?: unknown }).client;
    const client = typeof make === 'function' ? (make as () => MatgtoClient)() : undefined;
    return { proxy: target.proxyUrl, client, own: client !== undefined };
  }
  throw new TypeError('setProcessProxy: the target must be a proxy URL, a MatgtoClient, a useCassette handle or a LocalServer');
}

async function caPem(ca: ProcessProxyOptions['ca'], client: MatgtoClient | undefined): Promise<string | undefined> {
  if (ca === false) return undefined;
  if ((typeof ca === 'string' && ca !== 'auto') || Buffer.isBuffer(ca)) return ca.toString();
  if (!client) {
    if (ca === true) throw new TypeError('ca: true needs a target with a client to fetch the CA from; pass the PEM');
    return undefined;
  }
  try {
    return await client.caCertificate();
  } catch (err) {
    if (ca !== true && err instanceof UnimplementedError) return undefined; // no HTTPS interception
    throw err;
  }
}

/**
 * Points the process at a matgto proxy until `restore()`: installs an undici
 * `ProxyAgent` (trusting the server's CA) as the global dispatcher, so
 * `fetch(url)` with no dispatcher (Node's built-in and undici's) goes through
 * the proxy, and sets `HTTP_PROXY`/`HTTPS_PROXY` (both spellings),
 * `NODE_EXTRA_CA_CERTS`/`SSL_CERT_FILE`/`REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE`
 * (a temporary PEM file), `NO_PROXY`, and clears `ALL_PROXY`, for child
 * processes and libraries that read them. Restores exactly what was there
 * (unset variables are unset again).
 *
 * `target`: a {@link useCassette} handle (its session's proxy), a
 * `MatgtoClient` (the shared proxy), `{ client, proxy: session.proxy }`, a
 * `LocalServer`, or a URL. Process-wide: not for tests running concurrently
 * in one process. This process's own TLS stack reads `NODE_EXTRA_CA_CERTS`
 * only at startup: its HTTPS trust comes from the dispatcher.
 */
export async function setProcessProxy(target: ProxyTarget, options: ProcessProxyOptions = {}): Promise<ProcessProxy> {
  const { proxy, client, own } = await resolveTarget(target);
  let pem: string | undefined;
  try {
    pem = await caPem(options.ca ?? 'auto', client);
  } finally {
    if (own) client?.close();
  }
  const dispatcher = new ProxyAgent({
    proxyTunnel: false,
    ...proxyCredential(proxy),
    ...(pem ? { requestTls: { ca: [...rootCertificates, pem] } } : {}),
  });
  let caDir: string | undefined;
  let caFile: string | undefined;
  if (pem) {
    caDir = mkdtempSync(join(tmpdir(), 'matgto-ca-'));
    caFile = join(caDir, 'matgto-ca.pem');
    writeFileSync(caFile, pem);
  }
  const wanted: Record<string, string | undefined> = {};
  if (options.env !== false) {
    for (const name of PROXY_VARIABLES) wanted[name] = proxy;
    wanted.NO_PROXY = wanted.no_proxy = options.noProxy || undefined;
    wanted.ALL_PROXY = wanted.all_proxy = undefined;
    if (caFile) for (const name of CA_VARIABLES) wanted[name] = caFile;
  }
  const saved = Object.fromEntries(Object.keys(wanted).map((name) => [name, process.env[name]]));
  const previous: Dispatcher = getGlobalDispatcher();
  const setEnv = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  setEnv(wanted);
  setGlobalDispatcher(dispatcher);
  let restoring: Promise<void> | undefined;
  const restore = (): Promise<void> =>
    (restoring ??= (async () => {
      setGlobalDispatcher(previous);
      setEnv(saved);
      if (caDir) rmSync(caDir, { recursive: true, force: true });
      await dispatcher.close().catch(() => dispatcher.destroy());
    })());
  return { proxy, dispatcher, caFile, restore, [Symbol.asyncDispose]: restore };
}

/**
 * {@link setProcessProxy} for test `t`, restored after it (`t.after`):
 *
 * ```ts
 * test('uses fetch as is', async (t) => {
 *   const cassette = await useCassette(t);
 *   await useProcessProxy(t, cassette);
 *   await fetch('https://api.example/users/1'); // recorded / replayed
 * });
 * ```
 */
export async function useProcessProxy(
  t: { after(fn: () => unknown): void },
  target: ProxyTarget,
  options?: ProcessProxyOptions,
): Promise<ProcessProxy> {
  if (typeof t?.after !== 'function') throw new TypeError('useProcessProxy(t, ...) needs the test context (with t.after)');
  const handle = await setProcessProxy(target, options);
  t.after(() => handle.restore());
  return handle;
}
