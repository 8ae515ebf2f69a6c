// Sessions (issue 9) against the real matgto binary ($MATGTO_BIN): many
// node:test tests at once on one server, each in a session of its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { fetch, type ProxyAgent } from 'undici';
import {
  CassetteNotFoundError,
  FailedPreconditionError,
  MatgtoClient,
  ResourceExhaustedError,
  SessionLostError,
} from '@matgto/client';
import { ReplayMissError, defaultOwner, useCassette, withCassette, type CassetteHandle } from '@matgto/client/testing';
import { startServer, startUpstream, type RunningServer, type Upstream } from './helpers.js';
import { waitFor } from './fake-control.js';

const here = dirname(fileURLToPath(import.meta.url));
const N = 8;

interface Got {
  status: number;
  headers: Headers;
  body: string;
}

async function send(dispatcher: ProxyAgent, url: string, init: { method?: string; body?: string } = {}): Promise<Got> {
  const res = await fetch(url, { dispatcher, method: init.method ?? 'GET', body: init.body });
  return { status: res.status, headers: res.headers as unknown as Headers, body: await res.text() };
}

/** As `send`, with Node's built-in `fetch` (not undici's), given the ProxyAgent as dispatcher. */
async function sendNodeFetch(dispatcher: ProxyAgent, url: string, init: { method?: string; body?: string } = {}): Promise<Got> {
  const res = await globalThis.fetch(url, { dispatcher, method: init.method ?? 'GET', body: init.body } as unknown as RequestInit);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Resolves once `n` callers arrived; rejects after `ms` (the tests did not run at the same time). */
function barrier(n: number, ms: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return async () => {
    if (++arrived === n) release();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`only ${arrived} of ${n} tests were running at once`)), ms);
    });
    try {
      await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Whether something accepts TCP connections at "host:port". */
function listening(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((res) => {
    const s = connect(Number(port), host!);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** The requests test `i` sends: all of them name `i`, and every answer differs. */
function exchanges(base: string, i: number): Array<[string, { method?: string; body?: string }]> {
  return [
    [`${base}/text?test=${i}&k=0`, {}],
    [`${base}/text?test=${i}&k=1`, {}],
    [`${base}/echo?test=${i}`, { method: 'POST', body: `body of test ${i}` }],
  ];
}

describe('sessions (real server)', () => {
  let server: RunningServer;
  let client: MatgtoClient;
  let upstream: Upstream;
  const savedServerEnv = process.env.MATGTO_SERVER;

  before(async () => {
    server = await startServer();
    client = new MatgtoClient(server.ready.control, { timeoutMs: 15_000 });
    upstream = await startUpstream();
    // The helpers' shared client finds the server the way a test suite's would.
    process.env.MATGTO_SERVER = server.ready.control;
  });

  after(async () => {
    if (savedServerEnv === undefined) delete process.env.MATGTO_SERVER;
    else process.env.MATGTO_SERVER = savedServerEnv;
    client?.close();
    await upstream?.close();
    await server?.stop();
  });

  describe('concurrent tests', () => {
    const names: string[] = [];
    const bodies: string[][] = [];
    const proxies = new Set<string>();
    let upstreamUrl = '';

    describe('record', { concurrency: N }, () => {
      const allOpen = barrier(N, 20_000);
      const allListed = barrier(N, 20_000);
      for (let i = 0; i < N; i++) {
        test(`test ${i}`, async (t) => {
          upstreamUrl = upstream.url;
          const h = await useCassette(t); // default name, mode auto, a new session
          names[i] = h.name;
          proxies.add(h.proxy);
          assert.equal(h.session.mode, 'record', 'auto records a cassette that does not exist');
          await allOpen();
          // Every test's session is open now; each is listed with its owner.
          const st = await client.status();
          const mine = st.sessions.find((s) => s.id === h.session.id);
          assert.ok(mine, `session ${h.session.id} is listed`);
          assert.equal(mine.owner, defaultOwner(t));
          assert.ok(st.sessions.length >= N, `${st.sessions.length} sessions open`);
          await allListed();
          bodies[i] = [];
          for (const [url, init] of exchanges(upstream.url, i)) {
            const r = await sendNodeFetch(h.dispatcher, url, init);
            assert.equal(r.status, url.includes('/echo') ? 201 : 200, r.body);
            bodies[i]!.push(r.body);
          }
        });
      }
    });

    test('each cassette holds exactly its own exchanges', async () => {
      assert.equal(proxies.size, N, 'every test had a proxy of its own');
      // '(' and ')' are refused characters: the name carries a hash of the original.
      assert.equal(names[3], 'build-test/sessions.test/sessions__real_server_/concurrent_tests/record/test_3,h1213d873');
      assert.equal(new Set(names).size, N);
      for (let i = 0; i < N; i++) {
        const cassette = await client.getCassette(names[i]!);
        const http = cassette.interactions.map((x) => x.http);
        assert.equal(http.length, 3, `cassette ${names[i]} has ${http.length} interactions`);
        assert.deepEqual(
          http.map((x) => `${x?.request?.method} ${x?.request?.url}`),
          exchanges(upstreamUrl, i).map(([url, init]) => `${init.method ?? 'GET'} ${url}`),
          `cassette ${names[i]} holds test ${i}'s requests, in order`,
        );
        assert.deepEqual(http.map((x) => Buffer.from(x!.response!.body).toString()), bodies[i], `test ${i}'s answers`);
      }
    });

    test('the upstream goes away', async () => {
      await upstream.close();
      const gone = await fetch(`${upstreamUrl}/text`).then(() => 'reachable', () => 'unreachable');
      assert.equal(gone, 'unreachable');
    });

    describe('replay without the upstream', { concurrency: N }, () => {
      const allOpen = barrier(N, 20_000);
      for (let i = 0; i < N; i++) {
        test(`test ${i}`, async (t) => {
          await withCassette(t, names[i]!, { mode: 'replay' }, async (h) => {
            assert.equal(h.session.mode, 'replay');
            assert.equal(h.session.interactions, 3);
            await allOpen();
            const got: string[] = [];
            for (const [url, init] of exchanges(upstreamUrl, i)) {
              const r = await sendNodeFetch(h.dispatcher, url, init);
              assert.equal(r.status, url.includes('/echo') ? 201 : 200, r.body);
              got.push(r.body);
            }
            assert.deepEqual(got, bodies[i], `test ${i} gets its own recorded answers`);
          });
        });
      }
    });
  });

  test('test files run in parallel processes (--test-concurrency) share the server, a session each', async () => {
    const up = await startUpstream();
    const outDir = mkdtempSync(join(tmpdir(), 'matgto-node-parallel-'));
    try {
      const files = ['a', 'b', 'c'].map((x) => join(here, 'fixtures', `parallel-${x}.fixture.js`));
      const child = spawn(process.execPath, ['--test', '--test-concurrency=3', '--test-reporter=tap', ...files], {
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')),
          MATGTO_SERVER: server.ready.control,
          FIXTURE_UPSTREAM: up.url,
          FIXTURE_OUT: outDir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
      assert.equal(code, 0, out);
      const results = readdirSync(outDir).map(
        (f) => JSON.parse(readFileSync(join(outDir, f), 'utf8')) as { cassette: string; url: string; body: string; pid: number },
      );
      assert.equal(results.length, 6, out);
      assert.equal(new Set(results.map((r) => r.pid)).size, 3, 'three test processes');
      assert.deepEqual(
        results.map((r) => r.cassette).sort(),
        ['a', 'b', 'c'].flatMap((x) => ['one', 'two'].map((n) => `build-test/fixtures/parallel-${x}.fixture/parallel/${n}`)),
      );
      for (const r of results) {
        const cassette = await client.getCassette(r.cassette);
        assert.deepEqual(
          cassette.interactions.map((i) => [i.http?.request?.url, Buffer.from(i.http!.response!.body).toString()]),
          [[r.url, r.body]],
          `${r.cassette} holds exactly its own exchange`,
        );
      }
    } finally {
      await up.close();
      rmSync(outDir, { recursive: true, force: true });
    }
  });

  describe('session API', () => {
    let up: Upstream;
    before(async () => {
      up = await startUpstream();
    });
    after(async () => {
      await up.close();
    });

    test('a new session: id, own listener, proxy URL, owner, lease; stop closes it', async () => {
      const s = await client.useCassette('api/new', { newSession: true, owner: 'node api test', mode: 'record' });
      let summary: Awaited<ReturnType<typeof s.stop>>;
      try {
        assert.match(s.id, /^s-[0-9a-f]{16}$/);
        assert.match(s.proxyAddress, /^127\.0\.0\.1:\d+$/);
        assert.notEqual(s.proxyAddress, server.ready.proxy, 'a listener of its own');
        assert.equal(s.proxy, `http://${s.proxyAddress}`);
        assert.equal(s.proxyUrl, `http://${s.id}:matgto@${server.ready.proxy}`);
        assert.equal(s.owner, 'node api test');
        assert.equal(s.leaseMs, 30_000);
        assert.ok(s.leaseExpiresAt && s.leaseExpiresAt.getTime() > Date.now() + 20_000, `expires ${s.leaseExpiresAt?.toISOString()}`);
        assert.ok(s.openedAt && Math.abs(s.openedAt.getTime() - Date.now()) < 10_000, `opened ${s.openedAt?.toISOString()}`);

        const st = await client.status();
        assert.equal(st.maxSessions, 256);
        assert.equal(st.session, undefined, 'the default session is untouched');
        const listed = st.sessions.find((x) => x.id === s.id);
        assert.ok(listed);
        assert.equal(listed.cassette, 'api/new');
        assert.equal(listed.owner, 'node api test');
        assert.equal(listed.leaseMs, 30_000);

        const d = await s.fetchDispatcher();
        try {
          const r = await send(d, `${up.url}/text`);
          assert.equal(r.status, 200);
        } finally {
          await d.close();
        }
        // The shared port still serves the (idle) default session.
        const shared = await client.fetchDispatcher();
        try {
          const r = await send(shared, `${up.url}/text`);
          assert.equal(r.status, 503);
          assert.equal(r.headers.get('x-matgto-error'), 'no-cassette');
        } finally {
          await shared.close();
        }
        const renewed = await client.renewSession(s.id);
        assert.ok(renewed && renewed.getTime() > Date.now() + 20_000);
      } finally {
        summary = await s.stop();
      }
      assert.equal(summary?.endReason, 'stopped');
      assert.ok(summary?.endedAt instanceof Date);
      assert.equal(summary?.saveError, '');
      assert.equal(summary?.session?.id, s.id);
      assert.equal(summary?.session?.recorded, 1);
      assert.ok(summary?.savedPath && existsSync(summary.savedPath), `saved at ${summary?.savedPath}`);
      assert.equal(await listening(s.proxyAddress), false, 'its port is closed');
      const st = await client.status();
      assert.ok(!st.sessions.some((x) => x.id === s.id));
      const ended = st.endedSessions.find((x) => x.session?.id === s.id);
      assert.equal(ended?.endReason, 'stopped');
    });

    test('the shared port with the session as proxy user reaches the session; an unknown one gets 407', async () => {
      await client.withCassette(
        'api/credential',
        async (s) => {
          const viaCredential = await client.fetchDispatcher({ proxy: s.proxyUrl });
          try {
            const r = await send(viaCredential, `${up.url}/text`);
            assert.equal(r.status, 200, r.body);
          } finally {
            await viaCredential.close();
          }
          // undici turns a 407 into an error: ask with node:http to see the answer.
          const [host, port] = server.ready.proxy.split(':');
          const unknown = await new Promise<{ status?: number; error?: string | string[] }>((res, rej) => {
            const req = httpRequest(
              {
                host,
                port: Number(port),
                path: `${up.url}/text`,
                headers: { 'proxy-authorization': `Basic ${Buffer.from('s-00000000deadbeef:').toString('base64')}` },
                agent: false,
              },
              (r) => {
                r.resume();
                r.on('end', () => res({ status: r.statusCode, error: r.headers['x-matgto-error'] }));
              },
            );
            req.on('error', rej);
            req.end();
          });
          assert.deepEqual(unknown, { status: 407, error: 'unknown-session' });
          const st = await client.status();
          assert.equal(st.sessions.find((x) => x.id === s.id)?.recorded, 1);
        },
        { newSession: true, mode: 'record' },
      );
    });

    test('another cassette in an open session replaces the first; the default session is "default" on the shared port', async () => {
      const first = await client.useCassette('api/replace-a', { newSession: true, mode: 'record' });
      const second = await client.useCassette('api/replace-b', { session: first.id, mode: 'record' });
      try {
        assert.equal(second.id, first.id);
        assert.equal(second.proxyAddress, first.proxyAddress, 'same session, same listener');
        assert.equal(second.cassette, 'api/replace-b');
        const st = await client.status();
        assert.equal(st.sessions.find((x) => x.id === first.id)?.cassette, 'api/replace-b');
        const replaced = st.endedSessions.find((x) => x.session?.id === first.id);
        assert.equal(replaced?.endReason, 'replaced');
        assert.equal(replaced?.session?.cassette, 'api/replace-a');
        assert.equal(await first.stop(), undefined, 'the replaced cassette no longer stops the session');
        assert.ok((await client.status()).sessions.some((x) => x.id === first.id));
      } finally {
        await second.stop();
      }
      const d = await client.useCassette('api/default', { mode: 'passthrough' });
      try {
        assert.equal(d.id, 'default');
        assert.equal(d.proxyAddress, server.ready.proxy);
        assert.equal((await client.status()).sessions[0]?.id, 'default', 'listed first');
      } finally {
        await d.stop();
      }
    });

    test('unknown sessions: NOT_FOUND', async () => {
      await assert.rejects(client.renewSession('s-0000000000000000'), CassetteNotFoundError);
      await assert.rejects(client.stopRecording({ session: 's-0000000000000000' }), CassetteNotFoundError);
      await assert.rejects(client.useCassette('x', { session: 's-0000000000000000' }), CassetteNotFoundError);
    });

    test('a second session recording the same cassette: FAILED_PRECONDITION naming the holder', async () => {
      const a = await client.startRecording('api/held', { newSession: true });
      try {
        await assert.rejects(client.startRecording('api/held', { newSession: true }), (err: unknown) => {
          assert.ok(err instanceof FailedPreconditionError, `got ${String(err)}`);
          assert.ok(err.serverMessage.includes(a.id), `message names ${a.id}: ${err.serverMessage}`);
          return true;
        });
      } finally {
        await a.stop();
      }
    });

    test('sessions replaying one cassette each have their own used state', async () => {
      await client.withCassette('api/shared-replay', async (s) => {
        const d = await s.fetchDispatcher();
        try {
          await send(d, `${up.url}/text`);
          await send(d, `${up.url}/text`);
        } finally {
          await d.close();
        }
      }, { newSession: true, mode: 'record' });
      const cassette = await client.getCassette('api/shared-replay');
      const recorded = cassette.interactions.map((x) => Buffer.from(x.http!.response!.body).toString());
      const a = await client.replay('api/shared-replay', { newSession: true });
      const b = await client.replay('api/shared-replay', { newSession: true });
      const da = await a.fetchDispatcher();
      const db = await b.fetchDispatcher();
      try {
        assert.equal((await send(da, `${up.url}/text`)).body, recorded[0]);
        assert.equal((await send(db, `${up.url}/text`)).body, recorded[0], 'b starts at the first answer too');
        assert.equal((await send(da, `${up.url}/text`)).body, recorded[1]);
        assert.equal((await send(db, `${up.url}/text`)).body, recorded[1]);
      } finally {
        await da.close();
        await db.close();
        await a.stop();
        await b.stop();
      }
    });

    test('a short lease stays alive while the client renews it', async () => {
      const s = await client.useCassette('api/renewed', { newSession: true, leaseMs: 1500, mode: 'record' });
      await new Promise((r) => setTimeout(r, 4500));
      assert.equal(s.lost, false);
      assert.ok((await client.status()).sessions.some((x) => x.id === s.id), 'still open after three lease lengths');
      const summary = await s.stop();
      assert.equal(summary?.endReason, 'stopped');
    });

    test('a process that stops renewing: the server ends the session after the lease and saves it', async () => {
      const dying = new MatgtoClient(server.ready.control);
      const s = await dying.useCassette('api/abandoned', { newSession: true, leaseMs: 1000, mode: 'record' });
      const d = await s.fetchDispatcher();
      const r = await send(d, `${up.url}/text`);
      await d.close();
      dying.close(); // no more renewals, as if the process had died
      let ended: Awaited<ReturnType<MatgtoClient['status']>>['endedSessions'][number] | undefined;
      const deadline = Date.now() + 10_000;
      while (!ended && Date.now() < deadline) {
        ended = (await client.status()).endedSessions.find((x) => x.session?.id === s.id);
        if (!ended) await new Promise((res) => setTimeout(res, 200));
      }
      assert.ok(ended, 'listed under endedSessions within 10 s');
      assert.equal(ended.endReason, 'lease-expired');
      assert.ok(ended.savedPath, 'what it recorded was saved');
      const cassette = await client.getCassette('api/abandoned');
      assert.equal(cassette.interactions.length, 1);
      assert.equal(Buffer.from(cassette.interactions[0]!.http!.response!.body).toString(), r.body);
      assert.equal(await listening(s.proxyAddress), false, 'its port is closed');
    });

    test('a stalled process loses its session; stop() reports it', async () => {
      const s = await client.useCassette('api/stalled', { newSession: true, leaseMs: 1000, mode: 'record' });
      // Block the event loop longer than the lease: no renewal can run.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
      await waitFor(() => s.lost, 5000, 'the renewal to find the session gone');
      await assert.rejects(s.stop(), (err: unknown) => {
        assert.ok(err instanceof SessionLostError, `got ${String(err)}`);
        assert.equal(err.sessionId, s.id);
        assert.equal(err.summary?.endReason, 'lease-expired');
        assert.match(err.message, /was lost: the server ended it \(lease-expired/);
        return true;
      });
    });

    test('beyond --max-sessions: RESOURCE_EXHAUSTED', async () => {
      const small = await startServer({ args: ['--max-sessions', '2'] });
      const c = new MatgtoClient(small.ready.control);
      try {
        assert.equal((await c.status()).maxSessions, 2);
        const a = await c.useCassette('m/a', { newSession: true, mode: 'passthrough' });
        const b = await c.useCassette('m/b', { newSession: true, mode: 'passthrough' });
        await assert.rejects(c.useCassette('m/c', { newSession: true, mode: 'passthrough' }), ResourceExhaustedError);
        await a.stop();
        const again = await c.useCassette('m/c', { newSession: true, mode: 'passthrough' });
        await again.stop();
        await b.stop();
      } finally {
        c.close();
        await small.stop();
      }
    });
  });

  describe('replay misses fail the test', () => {
    let up: Upstream;
    const name = 'misses/base';
    before(async () => {
      up = await startUpstream();
      await client.withCassette(name, async (s) => {
        const d = await s.fetchDispatcher();
        try {
          assert.equal((await send(d, `${up.url}/text`)).status, 200);
        } finally {
          await d.close();
        }
      }, { newSession: true, mode: 'record' });
    });
    after(async () => {
      await up.close();
    });

    test('no-match: the error explains the miss', async (t) => {
      await assert.rejects(
        withCassette(t, name, { mode: 'replay' }, async (h) => {
          const r = await send(h.dispatcher, `${up.url}/never`);
          assert.equal(r.status, 599);
        }),
        (err: unknown) => {
          assert.ok(err instanceof ReplayMissError, `got ${String(err)}`);
          assert.equal(err.misses.length, 1);
          assert.ok(err.message.includes(`GET ${up.url}/never — no-match`), err.message);
          assert.ok(err.message.includes(`closest recorded: #0 GET ${up.url}/text`), err.message);
          assert.match(err.message, /path: recorded "\/text", live "\/never"/);
          return true;
        },
      );
    });

    test('exhausted (onExhausted error) fails too', async (t) => {
      await assert.rejects(
        withCassette(t, name, { mode: 'replay', onExhausted: 'error' }, async (h) => {
          assert.equal((await send(h.dispatcher, `${up.url}/text`)).status, 200);
          const second = await send(h.dispatcher, `${up.url}/text`);
          assert.equal(second.status, 599);
          assert.equal(second.headers.get('x-matgto-error'), 'exhausted');
        }),
        (err: unknown) => {
          assert.ok(err instanceof ReplayMissError, `got ${String(err)}`);
          assert.ok(err.message.includes(`GET ${up.url}/text — exhausted`), err.message);
          return true;
        },
      );
    });

    test("onReplayMiss: 'warn' only warns", async (t) => {
      const warnings: string[] = [];
      const tw = { name: t.name, fullName: t.fullName, diagnostic: (m: string) => void warnings.push(m) };
      const summary = await withCassette(tw, name, { mode: 'replay', onReplayMiss: 'warn' }, async (h: CassetteHandle) => {
        assert.equal((await send(h.dispatcher, `${up.url}/never`)).status, 599);
        return h.stop();
      });
      assert.equal(summary?.session?.missed, 1);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.includes(`GET ${up.url}/never — no-match`), warnings[0]);
    });

    test('a miss the miss policy forwarded is not a failure', async (t) => {
      await withCassette(t, name, { mode: 'replay', onMiss: 'passthrough' }, async (h) => {
        assert.equal((await send(h.dispatcher, `${up.url}/never`)).status, 404, 'forwarded to the live upstream');
      });
    });

    test('useCassette(t) fails the node:test test in its after hook (child test run)', async () => {
      const fixture = join(here, 'fixtures', 'miss.fixture.js');
      const child = spawn(process.execPath, ['--test', '--test-reporter=tap', fixture], {
        // Without NODE_TEST_CONTEXT, which would make the child a worker of this run.
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')),
          MATGTO_SERVER: server.ready.control,
          FIXTURE_UPSTREAM: up.url,
          FIXTURE_CASSETTE: name,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
      assert.equal(code, 1, out);
      assert.match(out, /not ok \d+ - a replay miss fails the test/, out);
      assert.match(out, /^\s*ok \d+ - a replay miss with onReplayMiss warn passes/m, out);
      assert.ok(out.includes(`GET ${up.url}/never — no-match`), out);
      assert.match(out, /# pass 1/);
      assert.match(out, /# fail 1/);
    });
  });
});
