// Integration tests against the real matgto binary ($MATGTO_BIN).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fetch, type ProxyAgent } from 'undici';
import {
  CassetteNotFoundError,
  CorruptCassetteError,
  FailedPreconditionError,
  InvalidArgumentError,
  MatgtoClient,
  type SessionInfo,
} from '@matgto/client';
import { deadPort, startServer, startUpstream, type RunningServer, type Upstream } from './helpers.js';

interface Got {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function get(dispatcher: ProxyAgent, url: string, init: { method?: string; body?: string } = {}): Promise<Got> {
  const res = await fetch(url, { dispatcher, method: init.method ?? 'GET', body: init.body });
  return { status: res.status, headers: res.headers as unknown as Headers, body: Buffer.from(await res.arrayBuffer()) };
}

describe('matgto server', () => {
  let server: RunningServer;
  let client: MatgtoClient;
  let dispatcher: ProxyAgent;
  let upstream: Upstream;

  before(async () => {
    server = await startServer();
    client = new MatgtoClient(server.ready.control, { timeoutMs: 15_000 });
    dispatcher = await client.fetchDispatcher();
    upstream = await startUpstream();
  });

  after(async () => {
    await dispatcher?.close();
    client?.close();
    await upstream?.close();
    await server?.stop();
  });

  test('status() reports api version 1 and the ready-file addresses', async () => {
    const st = await client.status();
    assert.equal(st.apiVersion, 1);
    assert.match(st.version, /^\d+\.\d+\.\d+/);
    assert.equal(st.proxyAddress, server.ready.proxy);
    assert.equal(st.controlAddress, server.ready.control);
    assert.equal(server.ready.pid, server.proc.pid, 'ready file pid');
    assert.equal(st.session, undefined);
    assert.equal(await client.proxyUrl(), `http://${server.ready.proxy}`);
  });

  test('proxy answers 503 no-cassette while no cassette is in use', async () => {
    const r = await get(dispatcher, `${upstream.url}/text`);
    assert.equal(r.status, 503, r.body.toString());
    assert.equal(r.headers.get('x-matgto-error'), 'no-cassette');
  });

  test('records through the proxy, then replays byte-identical bodies without the upstream', async () => {
    const rec = await startUpstream();
    const name = 'it/roundtrip';
    const started = await client.startRecording(name);
    assert.equal(started.cassette, name);
    assert.equal(started.mode, 'record');

    const recorded = [
      await get(dispatcher, `${rec.url}/text`),
      await get(dispatcher, `${rec.url}/bin`),
      await get(dispatcher, `${rec.url}/echo`, { method: 'POST', body: 'hello matgto' }),
    ];
    assert.equal(rec.hits, 3, 'every recorded request reached the upstream');
    assert.deepEqual(recorded.map((r) => r.status), [200, 200, 201]);
    assert.match(recorded[0]!.body.toString(), /^call 1 /);
    assert.equal(recorded[1]!.body.length, 512);
    assert.equal(JSON.parse(recorded[2]!.body.toString()).got, 'hello matgto');

    const live = await (await fetch(`${rec.url}/text`)).text();
    assert.notEqual(live, recorded[0]!.body.toString(), 'the upstream answers differently on every call');

    const summary = await client.stopRecording();
    assert.ok(summary.savedPath, 'StopRecording reports where the recording was saved');
    assert.ok(existsSync(summary.savedPath), `${summary.savedPath} exists`);
    assert.equal(summary.session?.cassette, name);
    assert.equal(summary.session?.recorded, 3);
    assert.equal((await client.status()).session, undefined);

    await rec.close();

    const replaying = await client.replay(name);
    assert.equal(replaying.mode, 'replay');
    assert.equal(replaying.interactions, 3);
    const replayed = [
      await get(dispatcher, `${rec.url}/text`),
      await get(dispatcher, `${rec.url}/bin`),
      await get(dispatcher, `${rec.url}/echo`, { method: 'POST', body: 'hello matgto' }),
    ];
    for (let i = 0; i < recorded.length; i++) {
      assert.equal(replayed[i]!.status, recorded[i]!.status, `status of request ${i}`);
      assert.ok(replayed[i]!.body.equals(recorded[i]!.body), `body of request ${i} is byte-identical`);
    }
    assert.equal(replayed[0]!.headers.get('x-call'), '1');

    const miss = await get(dispatcher, `${rec.url}/never-recorded`);
    assert.equal(miss.status, 599);
    assert.equal(miss.headers.get('x-matgto-error'), 'no-match');
    assert.doesNotThrow(() => JSON.parse(miss.body.toString()), 'miss body is JSON');

    const st = await client.status();
    assert.equal(st.session?.cassette, name);
    assert.equal(st.session?.replayed, 3);
    assert.equal(st.session?.missed, 1);
    assert.equal(st.session?.misses[0]?.url, `${rec.url}/never-recorded`);

    const end = await client.stopRecording();
    assert.equal(end.session?.mode, 'replay');
    assert.equal(end.session?.replayed, 3);
  });

  test("replay('nope') rejects with CassetteNotFoundError", async () => {
    await assert.rejects(client.replay('nope'), (err: unknown) => {
      assert.ok(err instanceof CassetteNotFoundError, `got ${String(err)}`);
      assert.equal(err.code, 5);
      assert.equal(err.codeName, 'NOT_FOUND');
      assert.ok(err.serverMessage.length > 0, 'server sends a message');
      return true;
    });
  });

  for (const call of ['startRecording', 'replay', 'useCassette'] as const) {
    test(`${call}('../x') rejects with InvalidArgumentError`, async () => {
      await assert.rejects(client[call]('../x'), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`);
        assert.equal(err.codeName, 'INVALID_ARGUMENT');
        return true;
      });
    });
  }

  test('stopRecording() while idle rejects with FailedPreconditionError', async () => {
    assert.equal((await client.status()).session, undefined);
    await assert.rejects(client.stopRecording(), (err: unknown) => {
      assert.ok(err instanceof FailedPreconditionError, `got ${String(err)}`);
      assert.ok(err.serverMessage.length > 0);
      return true;
    });
  });

  test('withCassette records on first use, replays on the next, and always stops', async () => {
    const seen: SessionInfo[] = [];
    const first = await client.withCassette('it/with', async (s) => {
      seen.push(s);
      return (await get(dispatcher, `${upstream.url}/text`)).body;
    });
    assert.equal((await client.status()).session, undefined, 'stopped after fn');
    const hits = upstream.hits;
    const second = await client.withCassette(
      'it/with',
      async (s) => {
        seen.push(s);
        return (await get(dispatcher, `${upstream.url}/text`)).body;
      },
      { mode: 'auto' },
    );
    assert.equal((await client.status()).session, undefined, 'stopped after fn');
    assert.deepEqual(seen.map((s) => [s.requestedMode, s.mode]), [['auto', 'record'], ['auto', 'replay']]);
    assert.equal(upstream.hits, hits, 'replay did not reach the upstream');
    assert.ok(second.equals(first), 'replayed body is byte-identical');

    await assert.rejects(
      client.withCassette('it/with-throws', async () => {
        throw new Error('fn failed');
      }, { mode: 'record' }),
      /fn failed/,
    );
    assert.equal((await client.status()).session, undefined, 'stopped after a throwing fn');
  });

  test('await using a cassette session stops it at scope end', async () => {
    {
      await using session = await client.useCassette('it/using', { mode: 'passthrough' });
      assert.equal(session.mode, 'passthrough');
      assert.equal((await client.status()).session?.cassette, 'it/using');
      const r = await get(dispatcher, `${upstream.url}/text`);
      assert.equal(r.status, 200);
    }
    assert.equal((await client.status()).session, undefined);
  });

  test('a dead upstream while recording answers 502 upstream-unreachable', async () => {
    await client.startRecording('it/dead-upstream');
    try {
      const r = await get(dispatcher, `http://127.0.0.1:${await deadPort()}/x`);
      assert.equal(r.status, 502, r.body.toString());
      assert.equal(r.headers.get('x-matgto-error'), 'upstream-unreachable');
    } finally {
      await client.stopRecording();
    }
  });

  test('replay of a corrupt cassette file rejects with CorruptCassetteError', async () => {
    await client.useCassette('it/corrupt', { mode: 'record' });
    await get(dispatcher, `${upstream.url}/text`);
    const { savedPath } = await client.stopRecording();
    assert.ok(savedPath && existsSync(savedPath), `saved at ${savedPath}`);
    writeFileSync(savedPath, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    await assert.rejects(client.replay('it/corrupt'), (err: unknown) => {
      assert.ok(err instanceof CorruptCassetteError, `got ${String(err)}`);
      assert.equal(err.codeName, 'DATA_LOSS');
      return true;
    });
  });

  test('caCertificate() returns the PEM of a CA', async () => {
    const pem = await client.caCertificate();
    assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
    assert.match(pem.trimEnd(), /-----END CERTIFICATE-----$/);
    const cert = new X509Certificate(pem);
    assert.equal(cert.ca, true, 'the certificate is a CA');
    assert.equal(cert.checkIssued(cert), true, 'self-signed');
  });

  test('shutdown() makes the server exit after saving the active recording', async () => {
    await client.startRecording('it/saved-on-shutdown');
    const r = await get(dispatcher, `${upstream.url}/text`);
    assert.equal(r.status, 200);
    await client.shutdown(1000);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      server.exited,
      new Promise((res) => (timer = setTimeout(() => res('timeout'), 15_000))),
    ]);
    clearTimeout(timer);
    assert.equal(code, 0, `exit code (logs:\n${server.logs()})`);

    // A new server on the same cassette directory replays it.
    const again = await startServer({ cassetteDir: server.cassetteDir });
    const c2 = new MatgtoClient(again.ready.control);
    const d2 = await c2.fetchDispatcher();
    try {
      const s = await c2.replay('it/saved-on-shutdown');
      assert.equal(s.interactions, 1);
      const replayed = await get(d2, `${upstream.url}/text`);
      assert.ok(replayed.body.equals(r.body), 'body saved at shutdown replays byte-identical');
    } finally {
      await d2.close();
      c2.close();
      await again.stop();
    }
  });
});
