// The live event stream (WatchEvents) against the real matgto binary and a
// real upstream: exchanges, a miss with its explanation, closing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetch } from 'undici';
import { EventStream, ExchangeResult, MatgtoClient, ModeMessage, type Event } from '@matgto/client';
import { startServer, startUpstream, type RunningServer, type Upstream } from './helpers.js';

/** The first `want` exchange/miss events; closes the stream after `ms` so that a missing event fails instead of hanging. */
async function collect(events: EventStream, want: number, ms = 15_000): Promise<Event[]> {
  const timer = setTimeout(() => events.close(), ms);
  const got: Event[] = [];
  try {
    for await (const event of events) {
      if (event.exchange || event.miss) got.push(event);
      if (got.length === want) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

describe('watchEvents', () => {
  let server: RunningServer;
  let upstream: Upstream;
  let client: MatgtoClient;

  before(async () => {
    [server, upstream] = await Promise.all([startServer(), startUpstream()]);
    client = new MatgtoClient(server.ready.control, { timeoutMs: 10_000 });
  });
  after(async () => {
    client?.close();
    await Promise.all([server?.stop(), upstream?.close()]);
  });

  test('a session sees its recorded and replayed exchanges and its miss', async () => {
    const url = `${upstream.url}/text?token=secret-abc&page=2`;
    const rec = await client.useCassette('ev/text', { mode: 'record', newSession: true, leaseMs: 0 });
    {
      await using events = await rec.events();
      const res = await fetch(url, { dispatcher: await rec.fetchDispatcher() });
      assert.equal(res.status, 200);
      await res.text();
      const [recorded] = await collect(events, 1);
      assert.equal(recorded?.exchange?.result, ExchangeResult.RESULT_RECORDED);
      assert.equal(recorded?.exchange?.session, rec.id);
    }
    await rec.stop();

    const s = await client.replay('ev/text', { newSession: true, leaseMs: 0 });
    const other = await client.replay('ev/text', { newSession: true, leaseMs: 0 }); // filtered out
    const hitsBefore = upstream.hits;
    let got: Event[];
    {
      await using events = await s.events();
      for (const [session, path, status] of [[other, url, 200], [s, url, 200], [s, `${upstream.url}/not-recorded`, 599]] as const) {
        const res = await fetch(path, { dispatcher: await session.fetchDispatcher() });
        assert.equal(res.status, status);
        await res.text();
      }
      got = await collect(events, 3);
      assert.equal(events.dropped, 0);
    }
    await Promise.all([s.stop(), other.stop()]);
    assert.equal(upstream.hits, hitsBefore);

    const exchanges = got.flatMap((e) => (e.exchange ? [e.exchange] : []));
    const misses = got.flatMap((e) => (e.miss ? [e.miss] : []));
    assert.deepEqual(new Set([...exchanges, ...misses].map((e) => e.session)), new Set([s.id]));
    const replayed = exchanges[0]!;
    assert.equal(replayed.method, 'GET');
    assert.equal(replayed.status, 200);
    assert.equal(replayed.result, ExchangeResult.RESULT_REPLAYED);
    assert.equal(replayed.url, `${upstream.url}/text?token=[REDACTED]&page=[REDACTED]`);
    assert.equal(replayed.cassette, 'ev/text');
    assert.equal(replayed.mode, ModeMessage.REPLAY);
    assert.equal(misses.length, 1, JSON.stringify(got));
    const miss = misses[0]!;
    assert.equal(miss.miss?.reason, 'no-match');
    assert.match(miss.miss?.url ?? '', /\/not-recorded$/);
    assert.match(miss.explanation, /\/not-recorded/);
    assert.match(miss.explanation, /\/text/);
    const missed = exchanges.filter((x) => x.result === ExchangeResult.RESULT_MISSED);
    assert.equal(missed.length, 1);
    assert.equal(missed[0]!.status, 599);
    assert.equal(missed[0]!.error, 'no-match');
    assert.ok(got.every((e) => e.dropped === 0 && e.time instanceof Date));
  });

  test('close() and an AbortSignal end a waiting iteration', async () => {
    const events = await client.watchEvents({ cassette: 'ev/nothing-happens-here' });
    const pending = events.next();
    events.close();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.ok(events.closed);
    events.close(); // idempotent

    const controller = new AbortController();
    const watched = await client.watchEvents({ cassette: 'ev/nothing-happens-here', signal: controller.signal });
    const seen: Event[] = [];
    const loop = (async () => {
      for await (const event of watched) seen.push(event);
    })();
    setTimeout(() => controller.abort(), 50);
    await loop; // ends without an error
    assert.deepEqual(seen, []);
    await assert.rejects(client.watchEvents({ signal: controller.signal }), { name: 'AbortError' });
    assert.equal((await client.status()).apiVersion, 1); // the client still works
  });
});
