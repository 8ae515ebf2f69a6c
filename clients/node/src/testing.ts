// Test helpers for node:test (and runners with a similar test context): a
// session of its own per test, a cassette named after the test, its proxy
// handed to the test, and a failed test when replay could not answer.
//
// Nothing here imports node:test: the helpers take any object shaped like its
// TestContext (`name`, `fullName`, `filePath`, `after`, `diagnostic`).
import './polyfill.js';
import { createHash } from 'node:crypto';
import { basename, isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProxyAgent } from 'undici';
import type { CassetteSession } from './cassette-session.js';
import { MatgtoClient } from './client.js';
import type { FetchDispatcherOptions } from './client-options.js';
import type { CassetteMode, CassetteOptions, FaultRule, Miss, SessionSummary } from './types.js';

/** The parts of node:test's `TestContext` the helpers use. */
export interface TestContextLike {
  readonly name: string;
  /** "suite > test" (node:test >= 20.16 / 22.3). */
  readonly fullName?: string;
  /** The test file (newer node:test); else `process.argv[1]`, the file `node --test` runs. */
  readonly filePath?: string;
  /** Registers a hook run after the test; an error it throws fails the test. */
  after?(fn: () => unknown): void;
  /** Prints a line with the test's result. */
  diagnostic?(message: string): void;
}

/** What a helper does when replay could not answer a request of the test. */
export type OnReplayMiss = 'fail' | 'warn';

/** Options of {@link useCassette} and {@link withCassette}. */
export interface CassetteTestOptions extends CassetteOptions {
  /** Cassette name. Default: the test file (relative to the working directory, without extension) + the test's full name; see {@link defaultCassetteName}. */
  name?: string;
  /** Prepended to the default name (`'cassettes'` gives `cassettes/test/api.test/suite/test`). Not applied to `name`. */
  prefix?: string;
  /** Default `auto`: replay when the cassette exists, record it otherwise. */
  mode?: CassetteMode;
  /** The client to use. Default: one shared client per `address`. */
  client?: MatgtoClient;
  /** Control address for the shared client. Default: `$MATGTO_SERVER`, else 127.0.0.1:8889. */
  address?: string;
  /** Lease of the test's session (default 30 s), renewed in the background every third of it. */
  leaseMs?: number;
  /** Shown by `status()`. Default: `node <file> <test name> pid <pid>`. */
  owner?: string;
  /**
   * `'fail'` (default): a request replay could not answer (a miss whose
   * reason is `no-match`, `exhausted` or `ws-mismatch`) fails the test, with
   * the miss explained. `'warn'`: report it with the test's diagnostics only.
   * Misses the miss policy forwarded live are never failures.
   */
  onReplayMiss?: OnReplayMiss;
  /** Options of the undici `ProxyAgent` handed to the test (`trustCa`, `agentOptions`). */
  dispatcherOptions?: Omit<FetchDispatcherOptions, 'proxy'>;
  /**
   * Fault rules set on the test's session before it is handed to the test
   * (more can be added with `handle.session.addFaults()`).
   */
  faults?: FaultRule | readonly FaultRule[];
  /** Seed of the session's generator for probabilistic faults (default: the server's; see `session.faultSeed`). */
  faultSeed?: number | bigint;
}

/** What a test gets: its session, its proxy, and an agent for `fetch`. */
export interface CassetteHandle {
  /** The cassette name. */
  readonly name: string;
  readonly session: CassetteSession;
  /** The session's proxy URL, `http://` + its own listener: for any HTTP client (`HTTP_PROXY`, `--proxy`...). */
  readonly proxy: string;
  /** An undici `ProxyAgent` for `proxy`: `fetch(url, { dispatcher })`. Closed when the cassette stops. */
  readonly dispatcher: ProxyAgent;
  readonly client: MatgtoClient;
  /**
   * Stops the session now (later calls return the same promise): closes the
   * dispatcher, ends the session (saving a recording) and checks its misses.
   * Rejects with {@link ReplayMissError} on a failing miss (unless
   * `onReplayMiss: 'warn'`), with SessionLostError when the session's lease ran out.
   */
  stop(): Promise<SessionSummary | undefined>;
}

/** Miss reasons that fail a test: the proxy answered 599 or closed the WebSocket. */
export const FAILING_MISS_REASONS: readonly string[] = ['no-match', 'exhausted', 'ws-mismatch'];

/** The misses of `summary` that fail a test (see {@link FAILING_MISS_REASONS}). */
export function failingMisses(summary: SessionSummary | undefined): Miss[] {
  return (summary?.session?.misses ?? []).filter((m) => FAILING_MISS_REASONS.includes(m.reason));
}

function quote(value: string, max = 160): string {
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…" (${value.length} chars)` : text;
}

/**
 * A readable explanation of `misses`: each request (method, URL, reason),
 * its closest recorded candidates and the fields that differ.
 */
export function explainMisses(misses: readonly Miss[], context: { cassette?: string; sessionId?: string } = {}): string {
  const where = [context.cassette ? `cassette "${context.cassette}"` : '', context.sessionId ? `session ${context.sessionId}` : '']
    .filter(Boolean)
    .join(', ');
  const lines = [
    `matgto: ${misses.length} request${misses.length === 1 ? '' : 's'} found no recorded answer${where ? ` (${where})` : ''}:`,
  ];
  misses.forEach((m, i) => {
    lines.push(`  ${i + 1}. ${m.method} ${m.url} — ${m.reason}`);
    if (m.closest.length === 0) {
      lines.push('     no recorded request to compare with');
    }
    for (const c of m.closest.slice(0, 2)) {
      lines.push(`     closest recorded: #${c.interactionIndex} ${c.method} ${c.url}`);
      for (const d of c.differences) {
        lines.push(`       ${d.field}: recorded ${quote(d.recorded)}, live ${quote(d.live)}`);
      }
    }
    if (m.closest.length > 2) lines.push(`     (${m.closest.length - 2} more candidates)`);
  });
  return lines.join('\n');
}

/** A test's requests that replay could not answer (thrown by the helpers unless `onReplayMiss: 'warn'`). */
export class ReplayMissError extends Error {
  readonly cassette: string;
  readonly sessionId: string;
  readonly misses: Miss[];
  readonly summary: SessionSummary | undefined;

  constructor(cassette: string, sessionId: string, misses: Miss[], summary: SessionSummary | undefined) {
    super(explainMisses(misses, { cassette, sessionId }));
    this.name = 'ReplayMissError';
    this.cassette = cassette;
    this.sessionId = sessionId;
    this.misses = misses;
    this.summary = summary;
  }
}

const NAME_CHAR = /[A-Za-z0-9._\-+=@,[\]]/;

/** One segment of a cassette name: characters outside the server's set become `_`; never empty, `.` or `..`. */
function sanitizeSegment(raw: string): string {
  let out = '';
  for (const ch of raw) out += NAME_CHAR.test(ch) ? ch : '_';
  if (out === '' || /^\.+$/.test(out)) out = out.replace(/\./g, '_') || '_';
  if (out.length > 120) {
    out = `${out.slice(0, 100)}-${createHash('sha256').update(raw).digest('hex').slice(0, 12)}`;
  }
  return out;
}

function testFile(t: TestContextLike): string {
  let file = t.filePath || process.argv[1] || 'test';
  if (file.startsWith('file:')) file = fileURLToPath(file);
  return file;
}

/** The test file relative to the working directory (its base name when outside it), with `/` separators. */
function relativeTestFile(t: TestContextLike): string {
  const file = testFile(t);
  const rel = isAbsolute(file) ? relative(process.cwd(), file) : file;
  const shown = rel === '' || rel.startsWith('..') || isAbsolute(rel) ? basename(file) : rel;
  return shown.split(sep).join('/');
}

/** The test's name with its suites: `t.fullName` ("suite > test") when the runner has it, else `t.name`. */
function testPath(t: TestContextLike): string[] {
  const full = t.fullName || t.name || 'test';
  return full.split(' > ');
}

/**
 * The default cassette name of test `t`: its file relative to the working
 * directory without the extension, then each suite and the test name, every
 * part a segment: `test/api.test.js`, `describe('users')`, `test('gets one')`
 * give `test/api.test/users/gets_one`. Characters outside the server's
 * cassette-name set become `_`; a name where that replaced anything but
 * spaces (or longer than the server's 200 bytes) gets `,h` + 8 hex digits of
 * the FNV-1a hash of the original appended, so that two test names differing
 * only in such characters (`a:b`, `a;b`) keep different cassettes.
 */
export function defaultCassetteName(t: TestContextLike, prefix = ''): string {
  const file = relativeTestFile(t).replace(/\.[cm]?[jt]sx?$/, '');
  const head = [...prefix.split('/'), ...file.split('/')].filter((s) => s !== '');
  const tests = testPath(t);
  const kept = tests.filter((s) => s !== '');
  const cleaned = [...head, ...kept].map(sanitizeSegment);
  const name = cleaned.join('/');
  const changed = kept.length !== tests.length || [...head, ...kept].some(lossy);
  if (!changed && name.length <= MAX_NAME_BYTES) return name;
  // As the Go and Rust clients: names that differ only in refused characters
  // ("a:b", "a;b") keep different cassettes. Sanitized names are ASCII.
  const suffix = `,h${fnv32a([...head, ...tests].join('/')).toString(16).padStart(8, '0')}`;
  return name.slice(0, MAX_NAME_BYTES - suffix.length).replace(/\/+$/, '') + suffix;
}

/**
 * Whether sanitizing `segment` loses more than its spaces (which become `_`,
 * as Go's t.Name() does, and get no hash suffix: test names are sentences).
 * Over-long segments carry a hash of their own.
 */
function lossy(segment: string): boolean {
  return /[^A-Za-z0-9._\-+=@,[\] ]/.test(segment) || /^\.*$/.test(segment);
}

/** The longest cassette name the server accepts, in bytes. */
const MAX_NAME_BYTES = 200;

/** 32-bit FNV-1a of the UTF-8 bytes of `text`. */
function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** `node <file> <test name> pid <pid>`, cut to the server's 256 bytes. */
export function defaultOwner(t: TestContextLike): string {
  const owner = `node ${relativeTestFile(t)} ${t.fullName || t.name} pid ${process.pid}`;
  const bytes = Buffer.from(owner, 'utf8');
  if (bytes.length <= 256) return owner;
  // Cut at a character boundary.
  let end = 256;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

const sharedClients = new Map<string, MatgtoClient>();

function clientFor(opts: CassetteTestOptions): MatgtoClient {
  if (opts.client) return opts.client;
  const address = opts.address || process.env.MATGTO_SERVER || '';
  let client = sharedClients.get(address);
  if (!client) {
    client = new MatgtoClient(address || undefined);
    sharedClients.set(address, client);
  }
  return client;
}

async function closeAgent(agent: ProxyAgent): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = agent.close().then(() => true);
  const late = new Promise<boolean>((res) => {
    timer = setTimeout(() => res(false), 2000);
    timer.unref();
  });
  if (!(await Promise.race([closed, late]))) await agent.destroy().catch(() => undefined);
  clearTimeout(timer);
}

/**
 * Opens a new session for test `t` with its cassette (mode `auto` unless
 * set; named after the test unless `name` is given) and stops it after the
 * test (`t.after`), failing the test on a replay miss. Send the test's
 * traffic to `handle.proxy` or through `handle.dispatcher`:
 *
 * ```ts
 * test('gets a user', async (t) => {
 *   const { dispatcher } = await useCassette(t);
 *   const res = await fetch('http://127.0.0.1:3000/users/1', { dispatcher });
 * });
 * ```
 */
export async function useCassette(t: TestContextLike, nameOrOptions?: string | CassetteTestOptions, maybeOptions?: CassetteTestOptions): Promise<CassetteHandle> {
  if (typeof t?.after !== 'function') {
    throw new TypeError('useCassette(t) needs the test context (node:test `t`, with t.after); use withCassette(t, fn) otherwise');
  }
  const handle = await openCassette(t, nameOrOptions, maybeOptions);
  t.after(() => handle.stop());
  return handle;
}

/**
 * Runs `fn` with a new session for test `t` (see {@link useCassette}) and
 * always stops it; resolves to `fn`'s result. `fn`'s own error wins; else a
 * replay miss rejects with {@link ReplayMissError} (unless `onReplayMiss: 'warn'`).
 *
 * `withCassette(t, fn)`, `withCassette(t, 'name', fn)`,
 * `withCassette(t, options, fn)`, `withCassette(t, 'name', options, fn)`.
 */
export async function withCassette<T>(t: TestContextLike, fn: (handle: CassetteHandle) => T | Promise<T>): Promise<T>;
export async function withCassette<T>(t: TestContextLike, nameOrOptions: string | CassetteTestOptions, fn: (handle: CassetteHandle) => T | Promise<T>): Promise<T>;
export async function withCassette<T>(t: TestContextLike, name: string, options: CassetteTestOptions, fn: (handle: CassetteHandle) => T | Promise<T>): Promise<T>;
export async function withCassette<T>(t: TestContextLike, ...rest: unknown[]): Promise<T> {
  const fn = rest.pop();
  if (typeof fn !== 'function') throw new TypeError('withCassette(t, [name], [options], fn): fn must be a function');
  const handle = await openCassette(t, rest[0] as string | CassetteTestOptions | undefined, rest[1] as CassetteTestOptions | undefined);
  let result: T;
  try {
    result = await (fn as (h: CassetteHandle) => T | Promise<T>)(handle);
  } catch (err) {
    await handle.stop().catch(() => undefined);
    throw err;
  }
  await handle.stop();
  return result;
}

async function openCassette(t: TestContextLike, nameOrOptions?: string | CassetteTestOptions, maybeOptions?: CassetteTestOptions): Promise<CassetteHandle> {
  const opts: CassetteTestOptions =
    typeof nameOrOptions === 'string' ? { ...maybeOptions, name: nameOrOptions } : { ...nameOrOptions, ...maybeOptions };
  const onMiss = opts.onReplayMiss ?? 'fail';
  if (onMiss !== 'fail' && onMiss !== 'warn') throw new TypeError(`onReplayMiss must be 'fail' or 'warn', not ${JSON.stringify(onMiss)}`);
  const name = opts.name ?? defaultCassetteName(t, opts.prefix);
  const client = clientFor(opts);
  const { name: _n, prefix: _p, client: _c, address: _a, onReplayMiss: _o, dispatcherOptions, faults, faultSeed, ...cassetteOptions } = opts;
  const session = await client.useCassette(name, {
    ...cassetteOptions,
    mode: opts.mode ?? 'auto',
    newSession: true,
    owner: opts.owner ?? defaultOwner(t),
  });
  let dispatcher: ProxyAgent;
  try {
    if (faults !== undefined || faultSeed !== undefined) {
      await session.addFaults(faults ?? [], faultSeed === undefined ? {} : { seed: faultSeed });
    }
    dispatcher = await session.fetchDispatcher(dispatcherOptions);
  } catch (err) {
    await session.stop().catch(() => undefined);
    throw err;
  }
  let stopped: Promise<SessionSummary | undefined> | undefined;
  const stop = (): Promise<SessionSummary | undefined> => {
    stopped ??= (async () => {
      await closeAgent(dispatcher);
      const summary = await session.stop();
      const misses = failingMisses(summary);
      if (misses.length > 0) {
        const err = new ReplayMissError(name, session.id, misses, summary);
        if (onMiss === 'fail') throw err;
        t.diagnostic?.(`warning: ${err.message}`);
      }
      return summary;
    })();
    return stopped;
  };
  return { name, session, proxy: session.proxy, dispatcher, client, stop };
}

// A local server for the test run, and the process's proxy for a test.
export { BINARY_ENV, findBinary, startServer, type LocalServer, type ReadyInfo, type StartServerOptions } from './server.js';
export {
  CA_VARIABLES,
  PROXY_VARIABLES,
  setProcessProxy,
  useProcessProxy,
  type ProcessProxy,
  type ProcessProxyOptions,
  type ProxyTarget,
} from './proxy-env.js';
