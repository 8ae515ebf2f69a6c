// The public launcher (startServer), a control channel that ignores the proxy
// variables, and setProcessProxy / useProcessProxy, against real servers.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetch as undiciFetch, getGlobalDispatcher } from 'undici';
import { MatgtoClient, ServerUnavailableError } from '@matgto/client';
import { findBinary, setProcessProxy, startServer, useCassette, useProcessProxy, type LocalServer } from '@matgto/client/testing';
import { makePki, startUpstream, type Upstream } from './helpers.js';

const DEAD_PROXY = 'http://127.0.0.1:9'; // nothing listens on the discard port
const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'grpc_proxy', 'ALL_PROXY', 'all_proxy'];
const BIN = process.env.MATGTO_BIN!;

/** Sets `vars` for the test, restoring them after it. */
function withEnv(t: { after(fn: () => void): void }, vars: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) if (x === undefined) delete process.env[k];
    else process.env[k] = x;
  };
  set(vars);
  t.after(() => set(saved));
}

describe('startServer', () => {
  test('picks its ports, answers, and cleans up', async () => {
    const server = await startServer({ binary: BIN });
    const client = server.client();
    try {
      assert.match(server.control, /^127\.0\.0\.1:\d+$/);
      assert.notEqual(server.control, '127.0.0.1:8889');
      assert.equal(server.pid, server.proc.pid);
      assert.equal(server.proxyUrl, `http://${server.proxy}`);
      const st = await client.status();
      assert.equal(st.controlAddress, server.control);
      assert.equal(st.proxyAddress, server.proxy);
      assert.ok(existsSync(join(server.workdir, 'ca')), 'a throw-away CA, never ~/.matgto/ca');
    } finally {
      client.close();
      await server.stop();
    }
    assert.ok(server.proc.exitCode !== null || server.proc.signalCode !== null);
    assert.equal(existsSync(server.workdir), false, 'the temporary folder goes with the server');
    await server.stop(); // idempotent
  });

  test('takes flags, and the binary from $MATGTO_BIN or PATH', async (t) => {
    const bin = mkdtempSync(join(tmpdir(), 'matgto-node-bin-'));
    t.after(() => rmSync(bin, { recursive: true, force: true }));
    symlinkSync(BIN, join(bin, 'matgto'));
    withEnv(t, { MATGTO_BIN: undefined, PATH: bin });
    assert.equal(findBinary(), join(bin, 'matgto'));
    await using server = await startServer({ args: ['--max-sessions', '3'] });
    const client = server.client();
    assert.equal((await client.status()).maxSessions, 3);
    client.close();
    process.env.PATH = join(bin, 'empty');
    assert.throws(() => findBinary(), /set \$MATGTO_BIN, or put matgto on PATH/);
    process.env.MATGTO_BIN = join(bin, 'nope');
    await assert.rejects(startServer(), /nope \(from \$MATGTO_BIN\) is not an executable file/);
  });

  test('a server that cannot start says why', async () => {
    await assert.rejects(startServer({ binary: BIN, args: ['--bogus'] }), (err: Error) => {
      assert.match(err.message, /exited \(code \d+\) before writing its ready file/);
      assert.match(err.message, /--bogus/);
      return true;
    });
  });
});

describe('with a server', () => {
  let server: LocalServer;
  let upstream: Upstream;
  let pkiDir: string | undefined;
  before(async () => {
    const pki = makePki();
    assert.ok(pki, 'openssl is needed for the HTTPS upstream');
    pkiDir = dirname(pki.caFile);
    server = await startServer({ binary: BIN, args: ['--upstream-ca-file', pki.caFile] });
    upstream = await startUpstream();
    tlsUpstream = await startUpstream({ cert: pki.cert, key: pki.key });
  });
  let tlsUpstream: Upstream;
  after(async () => {
    await server?.stop();
    await upstream?.close();
    await tlsUpstream?.close();
    if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
  });

  test('the control channel ignores HTTP(S)_PROXY and grpc_proxy', async (t) => {
    withEnv(t, { ...Object.fromEntries(PROXY_VARS.map((v) => [v, DEAD_PROXY])), NO_PROXY: undefined, no_proxy: undefined });
    const client = new MatgtoClient(server.control, { timeoutMs: 5000 });
    try {
      assert.equal((await client.status()).controlAddress, server.control);
      const s = await client.useCassette('launcher/no-proxy', { newSession: true });
      await s.stop();
    } finally {
      client.close();
    }
    // The check can fail: with gRPC's proxy support on, the same variables send it to the dead proxy.
    const proxied = new MatgtoClient(server.control, { timeoutMs: 3000, channelOptions: { 'grpc.enable_http_proxy': 1 } });
    try {
      await assert.rejects(proxied.status(), ServerUnavailableError);
    } finally {
      proxied.close();
    }
  });

  test('setProcessProxy sends fetch without a dispatcher through the session, then restores', async (t) => {
    withEnv(t, { HTTP_PROXY: 'http://before:1', https_proxy: undefined, NO_PROXY: '*', ALL_PROXY: 'http://all:1', SSL_CERT_FILE: undefined });
    const envBefore = { ...process.env };
    const dispatcherBefore = getGlobalDispatcher();
    const client = server.client();
    t.after(() => client.close());
    const hitsBefore = [upstream.hits, tlsUpstream.hits];
    const session = await client.useCassette('launcher/process-proxy', { newSession: true });
    const proxied = await setProcessProxy({ client, proxy: session.proxy });
    try {
      assert.equal(proxied.proxy, session.proxy);
      assert.equal(process.env.HTTPS_PROXY, session.proxy);
      assert.equal(process.env.http_proxy, session.proxy);
      assert.equal(process.env.NO_PROXY, undefined);
      assert.equal(process.env.ALL_PROXY, undefined);
      assert.ok(proxied.caFile && existsSync(proxied.caFile));
      assert.equal(process.env.NODE_EXTRA_CA_CERTS, proxied.caFile);
      assert.equal(process.env.REQUESTS_CA_BUNDLE, proxied.caFile);
      assert.equal(getGlobalDispatcher(), proxied.dispatcher);
      assert.equal((await fetch(`${upstream.url}/text`)).status, 200); // Node's fetch
      assert.equal((await undiciFetch(`${upstream.url}/text`)).status, 200); // undici's
      assert.equal((await fetch(`${tlsUpstream.url}/text`)).status, 200); // HTTPS, the matgto CA trusted
    } finally {
      await proxied.restore();
    }
    const summary = await session.stop();
    assert.equal(summary?.session?.recorded, 3);
    assert.deepEqual([upstream.hits, tlsUpstream.hits], [hitsBefore[0]! + 2, hitsBefore[1]! + 1]);
    assert.deepEqual({ ...process.env }, envBefore, 'every variable is back, unset ones unset');
    assert.equal(getGlobalDispatcher(), dispatcherBefore);
    assert.equal(existsSync(proxied.caFile!), false, 'the CA file is removed');
    await proxied.restore(); // idempotent
  });

  test('useProcessProxy restores after the test; a URL target sets no CA', async (t) => {
    const dispatcherBefore = getGlobalDispatcher();
    const envBefore = { ...process.env };
    process.env.MATGTO_SERVER = server.control;
    t.after(() => {
      delete process.env.MATGTO_SERVER;
    });
    await t.test('inner', async (t2) => {
      const cassette = await useCassette(t2, 'launcher/use-process-proxy');
      const proxied = await useProcessProxy(t2, cassette);
      assert.equal(proxied.proxy, cassette.proxy);
      assert.equal((await fetch(`${upstream.url}/text`)).status, 200);
    });
    assert.equal(getGlobalDispatcher(), dispatcherBefore);
    assert.deepEqual({ ...process.env, MATGTO_SERVER: undefined }, { ...envBefore, MATGTO_SERVER: undefined });

    const byServer = await setProcessProxy(server); // the shared proxy, the CA through a client of its own
    try {
      assert.equal(byServer.proxy, server.proxyUrl);
      assert.ok(byServer.caFile && existsSync(byServer.caFile));
    } finally {
      await byServer.restore();
    }

    const byUrl = await setProcessProxy(server.proxy, { noProxy: 'localhost' });
    try {
      assert.equal(byUrl.proxy, server.proxyUrl);
      assert.equal(byUrl.caFile, undefined);
      assert.equal(process.env.NO_PROXY, 'localhost');
    } finally {
      await byUrl.restore();
    }
    await assert.rejects(setProcessProxy(server.proxyUrl, { ca: true }), /ca: true needs a target with a client/);
  });
});
