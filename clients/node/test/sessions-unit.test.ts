// Sessions (issue 9) in the client, against a scripted fake control server:
// request fields, SessionInfo/status mapping, lease renewal and loss.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { fetch } from 'undici';
import {
  DEFAULT_LEASE_MS,
  MatgtoClient,
  ResourceExhaustedError,
  ServerUnavailableError,
  SessionLostError,
  sessionProxy,
  toMatgtoError,
} from '@matgto/client';
import {
  GetStatusResponse,
  Mode,
  RenewSessionResponse,
  SessionInfo as PbSessionInfo,
  StopRecordingResponse,
  UseCassetteResponse,
} from '../dist/gen/matgto/v1/control.js';
import { deadPort } from './helpers.js';
import { grpcError, startFakeControl, waitFor, type FakeControl } from './fake-control.js';

const here = dirname(fileURLToPath(import.meta.url));

function pbSession(id: string, extra: Partial<PbSessionInfo> = {}): PbSessionInfo {
  return PbSessionInfo.fromPartial({
    id,
    cassette: 'c',
    mode: Mode.RECORD,
    requestedMode: Mode.AUTO,
    proxyAddress: '127.0.0.1:40001',
    proxyUrl: `http://${id}@127.0.0.1:8888`,
    ...extra,
  });
}

/** A fake whose cassette calls open session `id` with the requested lease echoed back. */
function opening(id: string) {
  return (req: { lease?: { seconds: number; nanos: number }; name: string; newSession: boolean }) =>
    UseCassetteResponse.fromPartial({
      session: pbSession(req.newSession ? id : 'default', { cassette: req.name, lease: req.lease }),
    });
}

describe('session fields of cassette calls', () => {
  let fake: FakeControl;
  let client: MatgtoClient;
  before(async () => {
    fake = await startFakeControl({
      useCassette: opening('s-00000000000000aa'),
      startRecording: opening('s-00000000000000bb'),
      replay: opening('s-00000000000000cc'),
      stopRecording: () => StopRecordingResponse.fromPartial({ summary: { endReason: 'stopped' } }),
    });
    client = new MatgtoClient(fake.address);
  });
  after(() => {
    client.close();
    fake.stop();
  });

  test('a new session gets the default 30 s lease and a pid owner', async () => {
    const s = await client.useCassette('a', { newSession: true });
    const req = fake.requests('useCassette').at(-1);
    assert.equal(req.newSession, true);
    assert.equal(req.session, '');
    assert.deepEqual(req.lease, { seconds: 30, nanos: 0 });
    assert.equal(DEFAULT_LEASE_MS, 30_000);
    assert.equal(req.owner, `node pid ${process.pid}`);
    assert.equal(req.mode, Mode.AUTO);
    assert.equal(s.id, 's-00000000000000aa');
    assert.equal(s.proxy, 'http://127.0.0.1:40001');
    assert.equal(s.leaseMs, 30_000);
    await s.stop();
    assert.equal(fake.requests('stopRecording').at(-1).session, 's-00000000000000aa');
  });

  test('leaseMs and owner are sent; leaseMs 0 means no lease', async () => {
    const a = await client.startRecording('b', { newSession: true, leaseMs: 1500, owner: 'me' });
    let req = fake.requests('startRecording').at(-1);
    assert.deepEqual(req.lease, { seconds: 1, nanos: 500_000_000 });
    assert.equal(req.owner, 'me');
    await a.stop();
    const b = await client.replay('b', { newSession: true, leaseMs: 0 });
    req = fake.requests('replay').at(-1);
    assert.equal(req.newSession, true);
    assert.equal(req.lease, undefined);
    assert.equal(b.leaseMs, undefined);
    await b.stop();
  });

  test('`session` names an open session; nothing set means the default session', async () => {
    await client.replay('c', { session: 's-1234' });
    let req = fake.requests('replay').at(-1);
    assert.equal(req.session, 's-1234');
    assert.equal(req.newSession, false);
    assert.equal(req.lease, undefined);
    assert.equal(req.owner, '');
    const d = await client.useCassette('d');
    req = fake.requests('useCassette').at(-1);
    assert.equal(req.session, '');
    assert.equal(req.newSession, false);
    assert.equal(d.id, 'default');
    await d.stop();
    assert.equal(fake.requests('stopRecording').at(-1).session, '', 'the default session is stopped without an id');
  });

  test('stopRecording({ session }) names the session', async () => {
    const summary = await client.stopRecording({ session: 's-99' });
    assert.equal(fake.requests('stopRecording').at(-1).session, 's-99');
    assert.equal(summary.endReason, 'stopped');
  });

  test('inconsistent session options throw TypeError before any call', async () => {
    const before = fake.calls.length;
    await assert.rejects(client.useCassette('x', { newSession: true, session: 's-1' }), TypeError);
    await assert.rejects(client.startRecording('x', { leaseMs: 1000 }), /new sessions only/);
    await assert.rejects(client.replay('x', { owner: 'me' }), /new sessions only/);
    await assert.rejects(client.useCassette('x', { newSession: true, leaseMs: -1 }), /non-negative/);
    await assert.rejects(client.useCassette('x', { newSession: true, leaseMs: Number.NaN }), TypeError);
    assert.equal(fake.calls.length, before, 'nothing was sent');
  });

  test('RESOURCE_EXHAUSTED (too many sessions) maps to ResourceExhaustedError', async () => {
    fake.on('useCassette', () => grpcError(status.RESOURCE_EXHAUSTED, 'fake: 256 sessions open (--max-sessions)'));
    try {
      await assert.rejects(client.useCassette('x', { newSession: true }), (err: unknown) => {
        assert.ok(err instanceof ResourceExhaustedError, `got ${String(err)}`);
        assert.match(err.message, /max-sessions/);
        return true;
      });
    } finally {
      fake.on('useCassette', opening('s-00000000000000aa'));
    }
  });
});

describe('SessionInfo, SessionSummary and status mapping', () => {
  test('every new field is exposed', async () => {
    const opened = new Date('2026-12-01T10:00:00.000Z');
    const expires = new Date('2026-12-01T10:00:30.000Z');
    const ended = new Date('2026-12-01T10:05:00.000Z');
    const info = pbSession('s-0123456789abcdef', {
      owner: 'node test/x.test.js t pid 1',
      openedAt: opened,
      age: { seconds: 12, nanos: 345_000_000 },
      lease: { seconds: 30, nanos: 0 },
      leaseExpiresAt: expires,
    });
    const fake = await startFakeControl({
      getStatus: () =>
        GetStatusResponse.fromPartial({
          version: '0.1.0',
          apiVersion: 1,
          proxyAddress: '127.0.0.1:8888',
          session: pbSession('default', { proxyAddress: '127.0.0.1:8888', proxyUrl: '' }),
          sessions: [pbSession('default', { proxyAddress: '127.0.0.1:8888' }), info],
          endedSessions: [
            { session: pbSession('s-1111111111111111'), endReason: 'lease-expired', endedAt: ended, savedPath: '/c/x.pb', saveError: '' },
            { session: pbSession('s-2222222222222222'), endReason: 'stopped', saveError: 'disk full' },
          ],
          maxSessions: 256,
        }),
    });
    const client = new MatgtoClient(fake.address);
    try {
      const st = await client.status();
      assert.equal(st.maxSessions, 256);
      assert.equal(st.session?.id, 'default');
      assert.deepEqual(st.sessions.map((s) => s.id), ['default', 's-0123456789abcdef']);
      const s = st.sessions[1]!;
      assert.equal(s.proxyAddress, '127.0.0.1:40001');
      assert.equal(s.proxyUrl, 'http://s-0123456789abcdef@127.0.0.1:8888');
      assert.equal(s.owner, 'node test/x.test.js t pid 1');
      assert.deepEqual(s.openedAt, opened);
      assert.equal(s.ageMs, 12_345);
      assert.equal(s.leaseMs, 30_000);
      assert.deepEqual(s.leaseExpiresAt, expires);
      assert.equal(sessionProxy(s), 'http://127.0.0.1:40001');
      assert.equal(st.sessions[0]!.leaseMs, undefined, 'no lease: undefined');
      assert.equal(st.endedSessions.length, 2);
      assert.equal(st.endedSessions[0]!.endReason, 'lease-expired');
      assert.deepEqual(st.endedSessions[0]!.endedAt, ended);
      assert.equal(st.endedSessions[0]!.savedPath, '/c/x.pb');
      assert.equal(st.endedSessions[0]!.session?.id, 's-1111111111111111');
      assert.equal(st.endedSessions[1]!.saveError, 'disk full');
      assert.equal(st.endedSessions[1]!.endedAt, undefined);
    } finally {
      client.close();
      fake.stop();
    }
  });
});

describe('lease renewal', () => {
  test('renews every third of the lease until stopped', async () => {
    const fake = await startFakeControl({
      useCassette: opening('s-000000000000000r'),
      renewSession: () => RenewSessionResponse.fromPartial({ leaseExpiresAt: new Date(Date.now() + 600) }),
      stopRecording: () => StopRecordingResponse.fromPartial({ summary: { endReason: 'stopped' } }),
    });
    const client = new MatgtoClient(fake.address);
    try {
      const s = await client.useCassette('r', { newSession: true, leaseMs: 600 });
      const opened = Date.now();
      await waitFor(() => fake.requests('renewSession').length >= 3, 3000, 'three renewals');
      const elapsed = Date.now() - opened;
      assert.ok(elapsed >= 3 * 200 - 50, `three renewals took ${elapsed} ms: not faster than every 200 ms`);
      assert.ok(elapsed < 3000, `three renewals took ${elapsed} ms`);
      assert.ok(fake.requests('renewSession').every((r) => r.session === 's-000000000000000r'));
      assert.equal(s.lost, false);
      await s.stop();
      const renewals = fake.requests('renewSession').length;
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(fake.requests('renewSession').length, renewals, 'no renewal after stop');
      assert.equal(await s.stop(), undefined, 'a second stop does nothing');
    } finally {
      client.close();
      fake.stop();
    }
  });

  test('renewSession(id) returns the new expiry', async () => {
    const expires = new Date('2027-01-01T00:00:00Z');
    const fake = await startFakeControl({ renewSession: () => RenewSessionResponse.fromPartial({ leaseExpiresAt: expires }) });
    const client = new MatgtoClient(fake.address);
    try {
      assert.deepEqual(await client.renewSession('s-1'), expires);
      assert.equal(fake.requests('renewSession')[0].session, 's-1');
    } finally {
      client.close();
      fake.stop();
    }
  });

  test('a renewal answered NOT_FOUND marks the session lost and stop() reports it', async () => {
    const id = 's-00000000000000ll';
    const fake = await startFakeControl({
      useCassette: opening(id),
      renewSession: () => grpcError(status.NOT_FOUND, `fake: no session ${id}`),
      stopRecording: () => grpcError(status.NOT_FOUND, `fake: no session ${id}`),
      getStatus: () =>
        GetStatusResponse.fromPartial({
          apiVersion: 1,
          endedSessions: [
            {
              session: pbSession(id, { cassette: 'lost/one' }),
              endReason: 'lease-expired',
              endedAt: new Date('2026-12-01T12:00:00Z'),
              savedPath: '/cassettes/lost/one.pb',
            },
          ],
        }),
    });
    const client = new MatgtoClient(fake.address);
    try {
      const s = await client.useCassette('lost/one', { newSession: true, leaseMs: 300 });
      await waitFor(() => s.lost, 2000, 'the session to be marked lost');
      const renewals = fake.requests('renewSession').length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(fake.requests('renewSession').length, renewals, 'renewal stops once lost');
      await assert.rejects(s.stop(), (err: unknown) => {
        assert.ok(err instanceof SessionLostError, `got ${String(err)}`);
        assert.equal(err.sessionId, id);
        assert.equal(err.cassette, 'lost/one');
        assert.equal(err.codeName, 'NOT_FOUND');
        assert.equal(err.summary?.endReason, 'lease-expired');
        assert.match(err.message, /s-00000000000000ll/);
        assert.match(err.message, /lease-expired at 2026-12-01T12:00:00\.000Z/);
        assert.match(err.message, /\/cassettes\/lost\/one\.pb/);
        assert.equal((err.cause as { codeName?: string }).codeName, 'NOT_FOUND', 'cause: the renewal error');
        return true;
      });
    } finally {
      client.close();
      fake.stop();
    }
  });

  test('a transient renewal failure does not mark the session lost', async () => {
    let n = 0;
    const fake = await startFakeControl({
      useCassette: opening('s-00000000000000tt'),
      renewSession: () => (++n === 1 ? grpcError(status.UNAVAILABLE, 'fake: restarting') : RenewSessionResponse.fromPartial({})),
      stopRecording: () => StopRecordingResponse.fromPartial({ summary: {} }),
    });
    const client = new MatgtoClient(fake.address);
    try {
      const s = await client.useCassette('t', { newSession: true, leaseMs: 300 });
      await waitFor(() => fake.requests('renewSession').length >= 3, 3000, 'three renewals');
      assert.equal(s.lost, false);
      await s.stop();
    } finally {
      client.close();
      fake.stop();
    }
  });

  test('close() stops the renewals', async () => {
    const fake = await startFakeControl({
      useCassette: opening('s-00000000000000cc'),
      renewSession: () => RenewSessionResponse.fromPartial({}),
    });
    const client = new MatgtoClient(fake.address);
    try {
      await client.useCassette('c', { newSession: true, leaseMs: 300 });
      await waitFor(() => fake.requests('renewSession').length >= 1, 2000, 'a renewal');
      client.close();
      const renewals = fake.requests('renewSession').length;
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(fake.requests('renewSession').length, renewals);
    } finally {
      fake.stop();
    }
  });

  test('the renewal timer does not keep the process alive', async () => {
    const fake = await startFakeControl({
      useCassette: opening('s-00000000000000uu'),
      renewSession: () => RenewSessionResponse.fromPartial({}),
    });
    try {
      // A process that opens a leased session and neither stops it nor closes its client.
      const dist = resolve(here, '..', 'dist', 'index.js');
      const script =
        `const { MatgtoClient } = await import(${JSON.stringify(dist)});` +
        `const c = new MatgtoClient(${JSON.stringify(fake.address)});` +
        `const s = await c.useCassette('u', { newSession: true, leaseMs: 3000 });` +
        `console.log('opened', s.id);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        new Promise<number | null>((res) => child.on('exit', (c) => res(c))),
        new Promise<string>((res) => (timer = setTimeout(() => res('still running'), 5000))),
      ]);
      clearTimeout(timer);
      if (code === 'still running') child.kill('SIGKILL');
      assert.equal(code, 0, `child: ${out}`);
      assert.match(out, /opened s-00000000000000uu/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      fake.stop();
    }
  });
});

describe('control channel and HTTP(S)_PROXY (issue 15)', () => {
  test('the control channel ignores HTTP_PROXY/HTTPS_PROXY/grpc_proxy', async () => {
    const fake = await startFakeControl();
    const saved = { http_proxy: process.env.http_proxy, HTTP_PROXY: process.env.HTTP_PROXY, https_proxy: process.env.https_proxy, grpc_proxy: process.env.grpc_proxy, no_proxy: process.env.no_proxy, NO_PROXY: process.env.NO_PROXY };
    const dead = `http://127.0.0.1:${await deadPort()}`;
    try {
      for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'grpc_proxy']) process.env[k] = dead;
      delete process.env.no_proxy;
      delete process.env.NO_PROXY;
      const client = new MatgtoClient(fake.address, { timeoutMs: 3000 });
      try {
        assert.equal((await client.status()).apiVersion, 1);
      } finally {
        client.close();
      }
      // Control: with the proxy support switched back on, the same call goes to the dead proxy.
      const proxied = new MatgtoClient(fake.address, { timeoutMs: 3000, channelOptions: { 'grpc.enable_http_proxy': 1 } });
      try {
        await assert.rejects(proxied.status(), (err: unknown) => {
          assert.ok(err instanceof ServerUnavailableError || toMatgtoError(err).code === status.DEADLINE_EXCEEDED, `got ${String(err)}`);
          return true;
        });
      } finally {
        proxied.close();
      }
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      fake.stop();
    }
  });
});

describe('fetchDispatcher({ proxy })', () => {
  test("a session's proxyUrl is sent as Proxy-Authorization: Basic base64('ID:')", async () => {
    const seen: Array<{ url?: string; auth?: string }> = [];
    const proxy = createServer((req, res) => {
      seen.push({ url: req.url, auth: req.headers['proxy-authorization'] });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('via fake proxy');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const { port } = proxy.address() as AddressInfo;
    const fake = await startFakeControl();
    const client = new MatgtoClient(fake.address);
    try {
      const withUser = await client.fetchDispatcher({ proxy: `http://s-0123456789abcdef@127.0.0.1:${port}`, trustCa: false });
      const plain = await client.fetchDispatcher({ proxy: `http://127.0.0.1:${port}`, trustCa: false });
      try {
        assert.equal(await (await fetch('http://upstream.invalid/a', { dispatcher: withUser })).text(), 'via fake proxy');
        await (await fetch('http://upstream.invalid/b', { dispatcher: plain })).text();
      } finally {
        await withUser.close();
        await plain.close();
      }
      assert.deepEqual(seen, [
        { url: 'http://upstream.invalid/a', auth: `Basic ${Buffer.from('s-0123456789abcdef:').toString('base64')}` },
        { url: 'http://upstream.invalid/b', auth: undefined },
      ]);
    } finally {
      client.close();
      fake.stop();
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
