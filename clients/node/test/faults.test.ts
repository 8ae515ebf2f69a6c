// Faults and latency (issue 16) against the real matgto binary ($MATGTO_BIN):
// a node:http upstream on 127.0.0.1, Node's built-in fetch through each
// session's undici dispatcher.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ProxyAgent } from 'undici';
import {
  CassetteNotFoundError,
  InvalidArgumentError,
  LatencyMode,
  MatgtoClient,
  type CassetteSession,
  type Fault,
  type FaultRule,
} from '@matgto/client';
import { useCassette, withCassette } from '@matgto/client/testing';
import { startServer, type RunningServer } from './helpers.js';

interface Got {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/** Node's built-in fetch through `dispatcher`, timed from the call to the end of the body. */
async function get(dispatcher: ProxyAgent, url: string, init: { method?: string; body?: string; signal?: AbortSignal } = {}): Promise<Got> {
  const t0 = performance.now();
  // A stalled body fails the test in 10 s rather than at the server's idle timeout.
  const signal = init.signal ?? AbortSignal.timeout(10_000);
  const res = await globalThis.fetch(url, { dispatcher, method: init.method ?? 'GET', body: init.body, signal } as unknown as RequestInit);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of res.body ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
  } catch (err) {
    const got = Buffer.concat(chunks);
    const framing = res.headers.get('content-length') ? `content-length ${res.headers.get('content-length')}` : `transfer-encoding ${res.headers.get('transfer-encoding') ?? '(none)'}`;
    throw new Error(
      `${init.method ?? 'GET'} ${url}: the body stopped after ${got.length} bytes (${JSON.stringify(got.toString('latin1').slice(0, 60))}; ` +
        `status ${res.status}, ${framing}): ${(err as Error).name}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { status: res.status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 };
}

/** What a client with retries does: on 503 wait Retry-After seconds (at most 3) and try again, up to `attempts` times. */
async function getWithRetry(dispatcher: ProxyAgent, url: string, attempts = 5): Promise<{ final: Got; tries: Got[] }> {
  const tries: Got[] = [];
  for (;;) {
    const r = await get(dispatcher, url);
    tries.push(r);
    if (r.status !== 503 || tries.length >= attempts) return { final: r, tries };
    const wait = Math.min(3, Number(r.headers.get('retry-after') ?? '0'));
    await new Promise((res) => setTimeout(res, wait * 1000));
  }
}

/** The error a rejected promise carries (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error & { cause?: { code?: string } }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { cause?: { code?: string } };
  }
  assert.fail('expected a rejection');
}

interface Upstream {
  url: string;
  hits: number;
  close(): Promise<void>;
}

/**
 * 127.0.0.1 upstream; every answer differs, so a replayed one can only come
 * from the cassette. /slow?ms=N answers after N ms; /big?kb=N sends N KiB;
 * /chunked answers with Transfer-Encoding: chunked (two chunks); anything
 * else: 200 with the path, a counter and a random id. Except /chunked, every
 * answer has a Content-Length (the chunked case has a test of its own).
 */
async function startUpstream(): Promise<Upstream> {
  const state = { hits: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const n = ++state.hits;
      const u = new URL(req.url ?? '/', 'http://upstream');
      const answer = (text: string) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      };
      if (u.pathname === '/slow') {
        setTimeout(() => answer(`slow ${n} ${randomUUID()}`), Number(u.searchParams.get('ms') ?? '0'));
      } else if (u.pathname === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' }); // no length: Node sends it chunked
        res.write(`chunked ${n} first half, `);
        setTimeout(() => res.end(`second half ${randomUUID()}`), 20);
      } else if (u.pathname === '/big') {
        const body = randomBytes(Number(u.searchParams.get('kb') ?? '1') * 1024);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
        res.end(body);
      } else {
        answer(`${req.method} ${u.pathname} ${n} ${randomUUID()}`);
      }
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

describe('faults and latency (real server)', () => {
  let server: RunningServer;
  let client: MatgtoClient;
  let up: Upstream;
  const savedServerEnv = process.env.MATGTO_SERVER;
  const open: Array<{ session: CassetteSession; dispatcher: ProxyAgent }> = [];

  /** A new session (closed after the suite) and a dispatcher for it. */
  async function session(name: string, options: Parameters<MatgtoClient['useCassette']>[1] = {}) {
    const s = await client.useCassette(name, { newSession: true, leaseMs: 0, ...options });
    const dispatcher = await s.fetchDispatcher();
    open.push({ session: s, dispatcher });
    return { s, dispatcher };
  }

  async function close(s: CassetteSession, dispatcher: ProxyAgent) {
    await dispatcher.destroy();
    return s.stop();
  }

  before(async () => {
    server = await startServer();
    client = new MatgtoClient(server.ready.control, { timeoutMs: 15_000 });
    up = await startUpstream();
    process.env.MATGTO_SERVER = server.ready.control;
  });

  after(async () => {
    for (const o of open) {
      await o.dispatcher.destroy().catch(() => undefined);
      await o.session.stop().catch(() => undefined);
    }
    if (savedServerEnv === undefined) delete process.env.MATGTO_SERVER;
    else process.env.MATGTO_SERVER = savedServerEnv;
    client?.close();
    await up?.close();
    await server?.stop();
  });

  test('two injected 503s with firstN 2, then a retry reaches the recorded answer', async () => {
    const rec = await session('faults/retry', { mode: 'record' });
    const order = await get(rec.dispatcher, `${up.url}/orders/1`);
    const user = await get(rec.dispatcher, `${up.url}/users/1`);
    assert.equal(order.status, 200);
    await close(rec.s, rec.dispatcher);

    const hits = up.hits;
    // onExhausted 'error': had an injected 503 used up the recorded answer, the retry would get a 599.
    const { s, dispatcher } = await session('faults/retry', { mode: 'replay', onExhausted: 'error' });
    const rules = await s.addFaults({ status: 503, headers: { 'Retry-After': '1' }, body: 'try later', firstN: 2, url: '/orders/.*' });
    assert.equal(rules.length, 1);
    assert.match(rules[0]!.id, /^f[0-9]+$/);
    assert.deepEqual({ ...rules[0], id: 'x' }, { id: 'x', url: '/orders/.*', firstN: 2, status: 503, headers: { 'Retry-After': '1' }, body: 'try later', applied: 0 });
    assert.deepEqual(s.faults, rules);

    const { final, tries } = await getWithRetry(dispatcher, `${up.url}/orders/1`);
    assert.deepEqual(tries.map((r) => r.status), [503, 503, 200]);
    assert.equal(tries[0]!.headers.get('retry-after'), '1');
    assert.equal(tries[0]!.body, 'try later');
    assert.equal(final.body, order.body, 'the third try gets the recorded answer');
    assert.ok(tries[2]!.ms < 1000);
    const other = await get(dispatcher, `${up.url}/users/1`);
    assert.equal(other.status, 200, 'a URL the rule does not match is not hit');
    assert.equal(other.body, user.body);
    assert.equal(up.hits, hits, 'replay reached no upstream');

    const now = await s.info();
    assert.equal(now?.faults[0]?.applied, 2);
    const summary = await close(s, dispatcher);
    assert.deepEqual(summary?.session?.misses, []);
  });

  test('a status fault while recording is answered by matgto: nothing forwarded, nothing recorded', async () => {
    const { s, dispatcher } = await session('faults/record-status', { mode: 'record' });
    await s.addFaults({ status: 502, firstN: 1 });
    const hits = up.hits;
    const injected = await get(dispatcher, `${up.url}/text`);
    assert.equal(injected.status, 502);
    assert.equal(up.hits, hits, 'not forwarded');
    const real = await get(dispatcher, `${up.url}/text`);
    assert.equal(real.status, 200);
    assert.equal(up.hits, hits + 1);
    // A fault that only changes how the client got the real answer is recorded as such.
    const [delay] = (await s.addFaults({ delayMs: 50, firstN: 1, url: '/delayed' })).filter((f) => f.delayMs !== undefined);
    const delayed = await get(dispatcher, `${up.url}/delayed`);
    assert.equal(delayed.status, 200);
    const summary = await close(s, dispatcher);
    assert.equal(summary?.session?.recorded, 2);
    const cassette = await client.getCassette('faults/record-status');
    assert.equal(cassette.interactions.length, 2, 'the injected 502 is not in the cassette');
    assert.equal(cassette.interactions[0]?.http?.response?.status, 200);
    assert.equal(cassette.interactions[0]?.fault, '', 'no fault touched the first exchange');
    assert.equal(cassette.interactions[1]?.http?.response?.status, 200);
    assert.ok(cassette.interactions[1]?.fault.includes(delay!.id), `Interaction.fault names the delay rule: ${JSON.stringify(cassette.interactions[1]?.fault)}`);
  });

  test('a reset is a connection error for fetch: TypeError caused by ECONNRESET', async () => {
    const { s, dispatcher } = await session('faults/reset', { mode: 'passthrough' });
    await s.addFaults({ reset: 'before-headers', firstN: 1 });
    const err = await rejection(get(dispatcher, `${up.url}/text`));
    assert.ok(err instanceof TypeError, `${err}`);
    assert.equal(err.cause?.code, 'ECONNRESET', `cause: ${String(err.cause)}`);
    assert.equal((await get(dispatcher, `${up.url}/text`)).status, 200, 'firstN 1: the next request goes through');

    await s.clearFaults();
    await s.addFaults({ reset: 'after-headers', firstN: 1 });
    const t0 = performance.now();
    const res = await globalThis.fetch(`${up.url}/big?kb=16`, { dispatcher } as unknown as RequestInit);
    assert.equal(res.status, 200, 'the headers arrived');
    const bodyErr = await rejection(res.arrayBuffer());
    assert.ok(bodyErr instanceof TypeError, `${bodyErr}`);
    assert.ok(performance.now() - t0 < 5000);

    await s.clearFaults();
    await s.addFaults({ reset: 'mid-body', firstN: 1 });
    const mid = await globalThis.fetch(`${up.url}/big?kb=64`, { dispatcher } as unknown as RequestInit);
    assert.equal(mid.status, 200);
    assert.equal(mid.headers.get('content-length'), String(64 * 1024));
    let received = 0;
    const reader = mid.body!.getReader();
    const midErr = await rejection(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received += value.length;
        }
      })(),
    );
    assert.ok(midErr instanceof TypeError, `${midErr}`);
    assert.ok(received > 0 && received < 64 * 1024, `part of the body arrived (${received} bytes)`);
    const info = await s.info();
    assert.equal(info?.faults[0]?.applied, 1);
    await close(s, dispatcher);
  });

  test('hang is a client timeout (AbortSignal.timeout); clearFaults restores', async () => {
    const { s, dispatcher } = await session('faults/hang', { mode: 'passthrough' });
    await s.addFaults({ hang: true });
    const t0 = performance.now();
    const err = await rejection(get(dispatcher, `${up.url}/text`, { signal: AbortSignal.timeout(700) }));
    const waited = performance.now() - t0;
    assert.equal(err.name, 'TimeoutError', `${err}`);
    assert.ok(waited >= 650, `gave up after ${waited} ms`);
    assert.deepEqual(await s.clearFaults(), []);
    assert.deepEqual(s.faults, []);
    const ok = await get(dispatcher, `${up.url}/text`, { signal: AbortSignal.timeout(5000) });
    assert.equal(ok.status, 200);

    // By id: the other rule stays; an unknown id is NOT_FOUND.
    const rules = await s.addFaults([{ status: 500, url: '/a$' }, { status: 501, url: '/b$' }]);
    assert.equal(rules.length, 2);
    const left = await s.clearFaults(rules[0]!.id);
    assert.deepEqual(left.map((f) => f.id), [rules[1]!.id]);
    assert.equal((await get(dispatcher, `${up.url}/a`)).status, 200);
    assert.equal((await get(dispatcher, `${up.url}/b`)).status, 501);
    const notFound = await rejection(s.clearFaults('f999999'));
    assert.ok(notFound instanceof CassetteNotFoundError, `${notFound}`);
    assert.equal(notFound.rpc, 'ClearFaults');
    await close(s, dispatcher);
  });

  test('delay, method match and everyNth', async () => {
    const { s, dispatcher } = await session('faults/delay', { mode: 'passthrough' });
    await s.addFaults({ delayMs: 500, method: 'GET', url: '/slowed' });
    const slowed = await get(dispatcher, `${up.url}/slowed`);
    const post = await get(dispatcher, `${up.url}/slowed`, { method: 'POST', body: 'x' });
    assert.equal(slowed.status, 200);
    assert.ok(slowed.ms >= 480, `delayed ${slowed.ms} ms`);
    assert.ok(post.ms < slowed.ms - 200, `a POST is not delayed (${post.ms} ms vs ${slowed.ms} ms)`);
    await s.clearFaults();

    await s.addFaults({ status: 500, everyNth: 3, url: '/nth' });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await get(dispatcher, `${up.url}/nth`)).status);
    assert.deepEqual(statuses, [200, 200, 500, 200, 200, 500, 200]);
    await close(s, dispatcher);
  });

  test('probabilistic faults: the same seed gives the same sequence; status shows applied counts and the seed', async () => {
    const sequence = async (seed?: bigint | number) => {
      const { s, dispatcher } = await session(`faults/prob-${randomUUID().slice(0, 8)}`, { mode: 'passthrough' });
      const set = await client.setFaults(s.id, [{ status: 500, probability: 0.5 }], seed === undefined ? {} : { seed });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) statuses.push((await get(dispatcher, `${up.url}/p`)).status);
      const st = await client.status();
      const mine = st.sessions.find((x) => x.id === s.id);
      await close(s, dispatcher);
      return { statuses, set, mine };
    };
    const a = await sequence(42);
    const b = await sequence(42n);
    assert.equal(a.set.seed, 42n);
    assert.equal(a.mine?.faultSeed, 42n, 'status reports the seed');
    assert.deepEqual(a.statuses, b.statuses, 'same seed, same sequence');
    const injected = a.statuses.filter((x) => x === 500).length;
    assert.ok(injected > 0 && injected < 16, `both outcomes occur: ${a.statuses}`);
    assert.equal(a.mine?.faults[0]?.applied, injected, 'status counts the hits');
    assert.equal(a.mine?.faults[0]?.probability, 0.5);

    // The server's own seed, read back and set again, replays the sequence.
    const c = await sequence();
    assert.equal(typeof c.mine?.faultSeed, 'bigint');
    assert.equal(c.set.seed, c.mine?.faultSeed);
    const d = await sequence(c.set.seed);
    assert.deepEqual(d.statuses, c.statuses, `seed ${c.set.seed} re-runs the sequence`);
  });

  test('a bandwidth limit paces the body', async () => {
    const { s, dispatcher } = await session('faults/bandwidth', { mode: 'passthrough' });
    await s.addFaults({ bandwidth: 32 * 1024 });
    const t0 = performance.now();
    const res = await globalThis.fetch(`${up.url}/big?kb=64`, { dispatcher, signal: AbortSignal.timeout(15_000) } as unknown as RequestInit);
    const body = Buffer.from(await res.arrayBuffer());
    const ms = performance.now() - t0;
    assert.equal(body.length, 64 * 1024);
    // 64 KiB at 32 KiB/s: about 2 s (a test of the mechanism, not a benchmark).
    assert.ok(ms >= 1500 && ms < 8000, `took ${ms} ms`);
    await close(s, dispatcher);
  });

  test('paced answers (delay, bandwidth, replay latency) keep a chunked body whole', async () => {
    const checks: string[] = [];
    const check = async (what: string, dispatcher: ProxyAgent, expected?: string) => {
      try {
        const r = await get(dispatcher, `${up.url}/chunked`, { signal: AbortSignal.timeout(5000) });
        assert.equal(r.headers.get('transfer-encoding'), 'chunked');
        assert.match(r.body, /^chunked [0-9]+ first half, second half [-0-9a-f]{36}$/);
        if (expected !== undefined) assert.equal(r.body, expected);
        return r.body;
      } catch (err) {
        checks.push(`${what}: ${(err as Error).message}`);
        return undefined;
      }
    };
    const live = await session('faults/chunked-live', { mode: 'passthrough' });
    await check('no fault (control)', live.dispatcher);
    await live.s.addFaults({ delayMs: 100, firstN: 1 });
    await check('delay fault', live.dispatcher);
    await live.s.addFaults({ bandwidth: 64 * 1024, firstN: 1 });
    await check('bandwidth fault', live.dispatcher);
    await close(live.s, live.dispatcher);

    const rec = await session('faults/chunked-replay', { mode: 'record' });
    const recorded = await check('recording', rec.dispatcher);
    await close(rec.s, rec.dispatcher);
    const fixed = await session('faults/chunked-replay', { mode: 'replay', latency: { fixedMs: 100 } });
    await check('replay with fixed latency', fixed.dispatcher, recorded);
    await close(fixed.s, fixed.dispatcher);
    const asRec = await session('faults/chunked-replay', { mode: 'replay', latency: 'as-recorded' });
    await check('replay as recorded', asRec.dispatcher, recorded);
    await close(asRec.s, asRec.dispatcher);
    assert.deepEqual(checks, []);
  });

  test('faults on the default session', async () => {
    const def = await client.useCassette('faults/default', { mode: 'passthrough' });
    const dispatcher = await client.fetchDispatcher();
    try {
      const set = await client.setFaults(undefined, { status: 418, firstN: 1 });
      assert.equal(set.faults.length, 1);
      assert.equal((await get(dispatcher, `${up.url}/tea`)).status, 418);
      assert.equal((await get(dispatcher, `${up.url}/tea`)).status, 200);
      assert.equal((await client.sessionInfo())?.faults[0]?.applied, 1);
      assert.deepEqual(await client.clearFaults('default'), []);
    } finally {
      await dispatcher.destroy();
      await def.stop();
    }
  });

  test('a websocket fault is accepted and listed with its fields; HTTP requests do not hit it', async () => {
    const { s, dispatcher } = await session('faults/websocket', { mode: 'passthrough' });
    const added = await s.addFaults([
      { websocket: { dropAfterMessages: 2, messageDelayMs: 300 }, url: '/ws' },
      { websocket: { messageDelayMs: 1500 }, firstN: 1 },
      { websocket: { dropAfterMessages: 7 }, method: 'GET' },
    ]);
    const expected: Fault[] = [
      { id: 'f1', url: '/ws', websocket: { dropAfterMessages: 2, messageDelayMs: 300 }, applied: 0 },
      { id: 'f2', firstN: 1, websocket: { messageDelayMs: 1500 }, applied: 0 },
      { id: 'f3', method: 'GET', websocket: { dropAfterMessages: 7 }, applied: 0 },
    ];
    assert.deepEqual(added, expected);
    assert.deepEqual(s.faults, expected);
    // A plain HTTP request is not an upgrade: it passes untouched and no rule counts it.
    assert.equal((await get(dispatcher, `${up.url}/ws`)).status, 200);
    const listed = (await s.info())?.faults;
    assert.deepEqual(listed, expected);
    const fromStatus = (await client.status()).sessions.find((x) => x.id === s.id)?.faults;
    assert.deepEqual(fromStatus, expected);
    assert.deepEqual(await s.clearFaults('f2'), [expected[0], expected[2]]);
    await close(s, dispatcher);
  });

  test('bad rules are INVALID_ARGUMENT (InvalidArgumentError); an unknown session NOT_FOUND', async () => {
    const { s, dispatcher } = await session('faults/bad', { mode: 'passthrough' });
    const bad: Array<[string, FaultRule]> = [
      ['an RE2 pattern that does not compile', { status: 503, url: '(' }],
      ['a probability above 1', { status: 503, probability: 1.5 }],
      ['a status outside 100..999', { status: 42 }],
      ['a websocket fault that neither drops nor delays', { websocket: {} }],
      ['a websocket fault with both zero', { websocket: { dropAfterMessages: 0, messageDelayMs: 0 } }],
    ];
    for (const [what, rule] of bad) {
      const err = await rejection(s.addFaults(rule));
      assert.ok(err instanceof InvalidArgumentError, `${what}: ${err}`);
      assert.equal(err.rpc, 'SetFaults');
    }
    assert.deepEqual((await s.info())?.faults, [], 'no bad rule was added');
    const gone = await rejection(client.setFaults('s-00000000000000ff', { hang: true }));
    assert.ok(gone instanceof CassetteNotFoundError, `${gone}`);
    await close(s, dispatcher);
  });

  test('a 300 ms fixed latency slows a replayed request; another session on the cassette is not slowed', async () => {
    const rec = await session('latency/fixed', { mode: 'record' });
    const recorded = await get(rec.dispatcher, `${up.url}/text`);
    await close(rec.s, rec.dispatcher);

    const slow = await session('latency/fixed', { mode: 'replay', latency: { fixedMs: 300 } });
    const fast = await session('latency/fixed', { mode: 'replay' });
    assert.deepEqual(slow.s.options.latency, { fixedMs: 300 });
    const [a, b] = await Promise.all([get(slow.dispatcher, `${up.url}/text`), get(fast.dispatcher, `${up.url}/text`)]);
    assert.equal(a.body, recorded.body);
    assert.equal(b.body, recorded.body);
    assert.ok(a.ms >= 280, `the slowed replay took ${a.ms} ms`);
    assert.ok(a.ms < 3000, `the slowed replay took ${a.ms} ms`);
    assert.ok(b.ms < a.ms - 150, `the other session answered in ${b.ms} ms (slowed: ${a.ms} ms)`);
    await close(slow.s, slow.dispatcher);
    await close(fast.s, fast.dispatcher);
  });

  test('latency recorded as a cassette option; as-recorded with a scale', async () => {
    const rec = await session('latency/stored', { mode: 'record', latency: { fixedMs: 300 } });
    const slowUp = await get(rec.dispatcher, `${up.url}/slow?ms=400`);
    assert.ok(slowUp.ms >= 380, `the upstream took ${slowUp.ms} ms`);
    await close(rec.s, rec.dispatcher);
    const cassette = await client.getCassette('latency/stored');
    assert.equal(cassette.options?.latency?.mode, LatencyMode.LATENCY_FIXED, 'stored with the cassette');

    const stored = await session('latency/stored', { mode: 'replay' });
    const r1 = await get(stored.dispatcher, `${up.url}/slow?ms=400`);
    assert.ok(r1.ms >= 280 && r1.ms < 380 + 300, `stored fixed 300 ms: ${r1.ms} ms`);
    await close(stored.s, stored.dispatcher);

    const asRec = await session('latency/stored', { mode: 'replay', latency: 'as-recorded' });
    const r2 = await get(asRec.dispatcher, `${up.url}/slow?ms=400`);
    assert.ok(r2.ms >= 360, `as recorded (about 400 ms): ${r2.ms} ms`);
    await close(asRec.s, asRec.dispatcher);

    const quarter = await session('latency/stored', { mode: 'replay', latency: { asRecorded: { scale: 0.25 } } });
    assert.deepEqual(quarter.s.options.latency, { asRecorded: { scale: 0.25 } });
    const r3 = await get(quarter.dispatcher, `${up.url}/slow?ms=400`);
    assert.ok(r3.ms >= 80 && r3.ms < 350, `scale 0.25 (about 100 ms, as recorded 400 ms): ${r3.ms} ms`);
    await close(quarter.s, quarter.dispatcher);

    const fastest = await session('latency/stored', { mode: 'replay', latency: 'fast' });
    const r4 = await get(fastest.dispatcher, `${up.url}/slow?ms=400`);
    assert.ok(r4.ms < 250, `fast overrides the stored 300 ms: ${r4.ms} ms`);
    await close(fastest.s, fastest.dispatcher);
  });

  test('the test helper: faults and latency on the test\'s session', async (t) => {
    await withCassette(t, 'helper/faults', { mode: 'record' }, async (h) => {
      await get(h.dispatcher, `${up.url}/text`);
    });
    const h = await useCassette(t, 'helper/faults', { mode: 'replay', latency: { fixedMs: 300 }, faults: { status: 503, firstN: 1 }, faultSeed: 3 });
    assert.equal(h.session.faultSeed, 3n);
    assert.equal(h.session.faults.length, 1);
    const first = await get(h.dispatcher, `${up.url}/text`);
    assert.equal(first.status, 503);
    const second = await get(h.dispatcher, `${up.url}/text`);
    assert.equal(second.status, 200);
    assert.ok(second.ms >= 280, `the replay took ${second.ms} ms`);
    await h.session.addFaults({ reset: true });
    const err = await rejection(get(h.dispatcher, `${up.url}/text`));
    assert.ok(err instanceof TypeError);
    assert.deepEqual(await h.session.clearFaults(), []);
    await h.stop();
  });
});
