// The node:test helpers (@matgto/client/testing) against a scripted fake
// control server: naming, owner, session per test, miss failure and warning.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { MatgtoClient, type Miss, type SessionSummary } from '@matgto/client';
import {
  ReplayMissError,
  defaultCassetteName,
  defaultOwner,
  explainMisses,
  failingMisses,
  useCassette,
  withCassette,
  type TestContextLike,
} from '@matgto/client/testing';
import { Mode, SessionInfo as PbSessionInfo, StopRecordingResponse, UseCassetteResponse } from '../dist/gen/matgto/v1/control.js';
import { grpcError, startFakeControl, type FakeControl } from './fake-control.js';

const noMatch: Miss = {
  method: 'GET',
  url: 'http://127.0.0.1:9/never',
  reason: 'no-match',
  closest: [
    {
      interactionIndex: 0,
      method: 'GET',
      url: 'http://127.0.0.1:9/text',
      differences: [{ field: 'path', recorded: '/text', live: '/never' }],
    },
  ],
};
const exhausted: Miss = { method: 'POST', url: 'http://127.0.0.1:9/echo', reason: 'exhausted', closest: [] };
const wsMismatch: Miss = { method: 'GET', url: 'ws://127.0.0.1:9/ws', reason: 'ws-mismatch', closest: [] };
const passedThrough: Miss = { method: 'GET', url: 'http://127.0.0.1:9/live', reason: 'no-match, passed through', closest: [] };
const recorded: Miss = { method: 'GET', url: 'http://127.0.0.1:9/new', reason: 'no-match, recorded', closest: [] };

function fakeT(name: string, fullName?: string, filePath?: string) {
  const hooks: Array<() => unknown> = [];
  const diagnostics: string[] = [];
  const t: TestContextLike = {
    name,
    fullName,
    filePath,
    after: (fn) => void hooks.push(fn),
    diagnostic: (m) => void diagnostics.push(m),
  };
  return { t, hooks, diagnostics };
}

describe('default cassette names and owners', () => {
  const cwd = process.cwd();

  test('file relative to the working directory, without extension, then suites and test', () => {
    const { t } = fakeT('gets one', 'users > gets one', join(cwd, 'test', 'api.test.js'));
    assert.equal(defaultCassetteName(t), 'test/api.test/users/gets_one');
    assert.equal(defaultCassetteName(t, 'cassettes/node'), 'cassettes/node/test/api.test/users/gets_one');
  });

  test('same test name in two files gives two names', () => {
    const a = fakeT('t', 't', join(cwd, 'a', 'test_x.ts')).t;
    const b = fakeT('t', 't', join(cwd, 'b', 'test_x.ts')).t;
    assert.equal(defaultCassetteName(a), 'a/test_x/t');
    assert.equal(defaultCassetteName(b), 'b/test_x/t');
  });

  test('a file outside the working directory contributes its base name; file: URLs work', () => {
    assert.equal(defaultCassetteName(fakeT('x', 'x', '/elsewhere/deep/z.spec.mjs').t), 'z.spec/x');
    assert.equal(defaultCassetteName(fakeT('x', 'x', `file://${join(cwd, 'q.test.ts')}`).t), 'q.test/x');
  });

  test('characters outside the server set become _, and no segment is . or ..', () => {
    const { t } = fakeT('../../etc/passwd', 's p a c e > ü/ñ > .. > ../../etc/passwd', join(cwd, 'x.js'));
    const name = defaultCassetteName(t);
    assert.equal(name, 'x/s_p_a_c_e/___/__/.._.._etc_passwd,hdf2895ba', 'refused characters add a hash suffix');
    for (const seg of name.split('/')) {
      assert.match(seg, /^[A-Za-z0-9._\-+=@,[\]]+$/);
      assert.notEqual(seg, '..');
      assert.notEqual(seg, '.');
    }
  });

  test('very long test names are shortened with a hash, staying distinct', () => {
    const long = 'x'.repeat(300);
    const a = defaultCassetteName(fakeT(long + 'a', long + 'a', join(cwd, 'f.js')).t);
    const b = defaultCassetteName(fakeT(long + 'b', long + 'b', join(cwd, 'f.js')).t);
    assert.notEqual(a, b);
    assert.ok(a.split('/')[1]!.length <= 120);
  });

  test('the real node:test context names this test', (t) => {
    assert.equal(
      defaultCassetteName(t),
      // "node:test": the ':' makes the name lossy, hence the hash suffix.
      'build-test/testing-unit.test/default_cassette_names_and_owners/the_real_node_test_context_names_this_test,hd7590d76',
    );
  });

  test('owner: node <file> <test name> pid <pid>, at most 256 bytes', (t) => {
    assert.equal(
      defaultOwner(t),
      `node build-test/testing-unit.test.js default cassette names and owners > owner: node <file> <test name> pid <pid>, at most 256 bytes pid ${process.pid}`,
    );
    const long = fakeT('é'.repeat(300), 'é'.repeat(300), join(process.cwd(), 'f.js')).t;
    const owner = defaultOwner(long);
    assert.ok(Buffer.byteLength(owner) <= 256, `${Buffer.byteLength(owner)} bytes`);
    assert.ok(!owner.includes('\ufffd'), 'cut at a character boundary');
  });
});

describe('miss explanations', () => {
  test('failing reasons: no-match, exhausted, ws-mismatch; forwarded misses are not failures', () => {
    const summary = { session: { misses: [noMatch, passedThrough, exhausted, recorded, wsMismatch] } } as unknown as SessionSummary;
    assert.deepEqual(failingMisses(summary), [noMatch, exhausted, wsMismatch]);
    assert.deepEqual(failingMisses(undefined), []);
  });

  test('names method, URL, reason, the closest candidate and its differing fields', () => {
    const text = explainMisses([noMatch, exhausted], { cassette: 'c/x', sessionId: 's-1' });
    assert.equal(
      text,
      [
        'matgto: 2 requests found no recorded answer (cassette "c/x", session s-1):',
        '  1. GET http://127.0.0.1:9/never — no-match',
        '     closest recorded: #0 GET http://127.0.0.1:9/text',
        '       path: recorded "/text", live "/never"',
        '  2. POST http://127.0.0.1:9/echo — exhausted',
        '     no recorded request to compare with',
      ].join('\n'),
    );
  });
});

/** A fake server whose sessions report `misses` when stopped. */
async function fakeWithMisses(): Promise<{ fake: FakeControl; setMisses(m: Miss[]): void }> {
  let misses: Miss[] = [];
  let n = 0;
  const fake = await startFakeControl({
    useCassette: (req: { name: string; lease?: unknown }) =>
      UseCassetteResponse.fromPartial({
        session: PbSessionInfo.fromPartial({
          id: `s-${String(++n).padStart(16, '0')}`,
          cassette: req.name,
          mode: Mode.REPLAY,
          requestedMode: Mode.AUTO,
          proxyAddress: `127.0.0.1:${40000 + n}`,
          lease: req.lease as never,
        }),
      }),
    stopRecording: (req: { session: string }) =>
      StopRecordingResponse.fromPartial({
        summary: { session: { id: req.session, cassette: 'x', mode: Mode.REPLAY, misses }, endReason: 'stopped' },
      }),
  });
  return { fake, setMisses: (m) => (misses = m) };
}

describe('withCassette / useCassette (fake server)', () => {
  let f: Awaited<ReturnType<typeof fakeWithMisses>>;
  let client: MatgtoClient;
  before(async () => {
    f = await fakeWithMisses();
    client = new MatgtoClient(f.fake.address);
  });
  after(() => {
    client.close();
    f.fake.stop();
  });

  test('opens a new session (auto, default lease, owner, default name) and hands over its proxy', async (t) => {
    f.setMisses([]);
    const result = await withCassette(t, { client }, async (h) => {
      assert.equal(h.proxy, `http://${h.session.proxyAddress}`);
      assert.ok(h.dispatcher, 'a ProxyAgent');
      assert.equal(h.name, defaultCassetteName(t));
      return 42;
    });
    assert.equal(result, 42);
    const req = f.fake.requests('useCassette').at(-1);
    assert.equal(req.newSession, true);
    assert.equal(req.mode, Mode.AUTO);
    assert.deepEqual(req.lease, { seconds: 30, nanos: 0 });
    assert.equal(req.owner, defaultOwner(t));
    assert.match(req.owner, /^node build-test\/testing-unit\.test\.js .* pid \d+$/);
    assert.equal(req.name, defaultCassetteName(t));
    const stop = f.fake.requests('stopRecording').at(-1);
    assert.match(stop.session, /^s-\d{16}$/, 'the test session is stopped by id');
  });

  test('name, mode, lease and cassette options are passed on', async (t) => {
    f.setMisses([]);
    await withCassette(t, 'explicit/name', { client, mode: 'replay', leaseMs: 5000, onExhausted: 'error', owner: 'me' }, () => undefined);
    const req = f.fake.requests('useCassette').at(-1);
    assert.equal(req.name, 'explicit/name');
    assert.equal(req.mode, Mode.REPLAY);
    assert.deepEqual(req.lease, { seconds: 5, nanos: 0 });
    assert.equal(req.owner, 'me');
    assert.equal(req.options.onExhausted, 2);
  });

  test('a replay miss fails with the explanation', async (t) => {
    f.setMisses([noMatch, passedThrough]);
    await assert.rejects(
      withCassette(t, { client }, () => undefined),
      (err: unknown) => {
        assert.ok(err instanceof ReplayMissError, `got ${String(err)}`);
        assert.deepEqual(err.misses, [noMatch]);
        assert.match(err.message, /1 request found no recorded answer/);
        assert.match(err.message, /GET http:\/\/127\.0\.0\.1:9\/never — no-match/);
        assert.match(err.message, /closest recorded: #0 GET http:\/\/127\.0\.0\.1:9\/text/);
        assert.match(err.message, /path: recorded "\/text", live "\/never"/);
        assert.doesNotMatch(err.message, /passed through/);
        return true;
      },
    );
  });

  test("onReplayMiss: 'warn' reports through the test's diagnostics and does not throw", async () => {
    f.setMisses([exhausted]);
    const { t, diagnostics } = fakeT('w', 'w', join(process.cwd(), 'w.js'));
    const summary = await withCassette(t, { client, onReplayMiss: 'warn' }, async (h) => h.stop());
    assert.equal(summary?.session?.misses.length, 1);
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0]!, /^warning: matgto: 1 request found no recorded answer/);
    assert.match(diagnostics[0]!, /POST http:\/\/127\.0\.0\.1:9\/echo — exhausted/);
  });

  test('misses the miss policy forwarded are not failures', async (t) => {
    f.setMisses([passedThrough, recorded]);
    await withCassette(t, { client }, () => undefined);
  });

  test("the test's own error wins over a miss", async (t) => {
    f.setMisses([noMatch]);
    await assert.rejects(withCassette(t, { client }, () => Promise.reject(new Error('test body failed'))), /test body failed/);
  });

  test('useCassette(t) stops in an after hook that fails on a miss', async () => {
    f.setMisses([wsMismatch]);
    const { t, hooks } = fakeT('u', 'u', join(process.cwd(), 'u.js'));
    const h = await useCassette(t, { client });
    assert.equal(hooks.length, 1);
    const stopsBefore = f.fake.requests('stopRecording').length;
    await assert.rejects(Promise.resolve(hooks[0]!()), (err: unknown) => {
      assert.ok(err instanceof ReplayMissError);
      assert.match(err.message, /ws:\/\/127\.0\.0\.1:9\/ws — ws-mismatch/);
      return true;
    });
    assert.equal(f.fake.requests('stopRecording').length, stopsBefore + 1);
    await assert.rejects(h.stop(), ReplayMissError, 'stop() is idempotent: same result');
    assert.equal(f.fake.requests('stopRecording').length, stopsBefore + 1, 'stopped once');
  });

  test('useCassette without a test context refuses', async () => {
    await assert.rejects(useCassette({ name: 'x' }, { client }), /needs the test context/);
  });

  test('a session that cannot be opened fails the test with the server error', async (t) => {
    const busy = await startFakeControl({
      useCassette: () => grpcError(status.FAILED_PRECONDITION, 'fake: cassette "x" is being recorded by session s-1'),
    });
    const c = new MatgtoClient(busy.address);
    try {
      let ran = false;
      await assert.rejects(withCassette(t, 'x', { client: c }, () => void (ran = true)), /being recorded by session s-1/);
      assert.equal(ran, false);
    } finally {
      c.close();
      busy.stop();
    }
  });
});
