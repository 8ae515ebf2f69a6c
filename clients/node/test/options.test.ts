// Cassette options, cassette management and HTTPS against the real matgto binary ($MATGTO_BIN).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fetch, type ProxyAgent } from 'undici';
import {
  CHUNK_BYTES,
  Cassette,
  CassetteNotFoundError,
  CassetteOptionsMessage,
  FailedPreconditionError,
  InvalidArgumentError,
  MatgtoClient,
  cassetteOptions,
  optionsFromPb,
  type CassetteOptions,
} from '@matgto/client';
import { makePki, startServer, startUpstream, type RunningServer, type Upstream } from './helpers.js';

interface Got {
  status: number;
  body: Buffer;
}

async function send(
  dispatcher: ProxyAgent,
  url: string,
  init: { method?: string; body?: string | Buffer; json?: unknown } = {},
): Promise<Got> {
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  const headers = init.json !== undefined ? { 'content-type': 'application/json' } : undefined;
  const res = await fetch(url, { dispatcher, method: init.method ?? (body ? 'POST' : 'GET'), body, headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

describe('cassette options (no server needed)', () => {
  test('every option reaches the generated message', () => {
    const pb = cassetteOptions({
      onExhausted: 'error',
      repeat: 'reuse',
      onMiss: 'passthrough',
      match: {
        fields: ['method', 'path', 'headers'],
        headers: ['X-Tenant'],
        ignoreQueryParams: ['nonce'],
        queryOrderInsensitive: true,
        body: 'form',
        ignoreFormFields: ['csrf'],
        urlRewrites: [['/users/[0-9]+', '/users/N']],
      },
      redact: {
        headers: ['X-Key'],
        queryParams: ['token'],
        jsonPointers: ['/password'],
        formFields: ['pin'],
        bodyPatterns: ['sk_[a-z0-9]+'],
        disableDefaults: true,
      },
      storeDecoded: true,
      wsTiming: 'as-recorded',
      wsSpeed: 2.5,
      streamTiming: 'as-recorded',
      streamSpeed: 4,
    });
    assert.deepEqual(
      pb,
      CassetteOptionsMessage.fromPartial({
        onExhausted: 2,
        repeat: 2,
        onMiss: 2,
        matchRules: {
          fields: [1, 5, 7],
          headers: ['X-Tenant'],
          ignoreQueryParams: ['nonce'],
          queryOrderInsensitive: true,
          body: 3,
          ignoreFormFields: ['csrf'],
          urlRewrites: [{ pattern: '/users/[0-9]+', replacement: '/users/N' }],
        },
        redact: {
          headers: ['X-Key'],
          queryParams: ['token'],
          jsonPointers: ['/password'],
          formFields: ['pin'],
          bodyPatterns: ['sk_[a-z0-9]+'],
          disableDefaults: true,
        },
        bodyStorage: 2,
        wsTiming: 2,
        wsSpeed: 2.5,
        streamTiming: 2,
        streamSpeed: 4,
      }),
    );
    // ...and back to the friendly form.
    const back = optionsFromPb(pb);
    assert.equal(back.onMiss, 'passthrough');
    assert.equal(back.repeat, 'reuse');
    assert.deepEqual(back.match?.urlRewrites, [['/users/[0-9]+', '/users/N']]);
    assert.deepEqual(back.match?.fields, ['method', 'path', 'headers']);
    assert.equal(back.storeDecoded, true);
    assert.equal(back.wsTiming, 'as-recorded');
    assert.equal(back.streamTiming, 'as-recorded');
    assert.equal(back.streamSpeed, 4);
  });

  test('nothing set means no message; protoOptions is the base', () => {
    assert.equal(cassetteOptions({}), undefined);
    assert.equal(cassetteOptions(undefined), undefined);
    const pb = cassetteOptions({ protoOptions: { onMiss: 3, repeat: 2 }, repeat: 'sequential' });
    assert.equal(pb?.onMiss, 3);
    assert.equal(pb?.repeat, 1);
    assert.equal(cassetteOptions({ storeDecoded: false })?.bodyStorage, 1);
  });

  test('ignored JSON pointers imply a JSON body match, ignored form fields a form match', () => {
    assert.equal(cassetteOptions({ match: { ignoreJsonPointers: ['/ts'] } })?.matchRules?.body, 2);
    assert.equal(cassetteOptions({ match: { ignoreFormFields: ['csrf'] } })?.matchRules?.body, 3);
    assert.equal(cassetteOptions({ match: { body: 'exact', ignoreJsonPointers: ['/ts'] } })?.matchRules?.body, 1);
  });

  test('unknown values are refused before any call', () => {
    const bad: unknown[] = [
      { onMiss: 'sometimes' },
      { repeat: 'twice' },
      { wsTiming: 'slow' },
      { wsSpeed: 0 },
      { streamTiming: 'slow' },
      { streamSpeed: -1 },
      { match: { body: 'yaml' } },
      { match: { fields: ['cookie'] } },
      { match: { urlRewrites: [['only-a-pattern']] } },
      { redact: { headers: [1] } },
      { protoOptions: 'x' },
    ];
    for (const opts of bad) {
      assert.throws(() => cassetteOptions(opts as CassetteOptions), TypeError, JSON.stringify(opts));
    }
  });
});

describe('matching rules and cassette management', () => {
  let server: RunningServer;
  let client: MatgtoClient;
  let dispatcher: ProxyAgent;
  const upstreams: Upstream[] = [];
  /** An upstream closed by after() even when a test fails before closing it. */
  const upstream = async (): Promise<Upstream> => {
    const up = await startUpstream();
    upstreams.push(up);
    return up;
  };

  before(async () => {
    server = await startServer();
    client = new MatgtoClient(server.ready.control, { timeoutMs: 30_000 });
    dispatcher = await client.fetchDispatcher();
  });

  after(async () => {
    await Promise.all(upstreams.map((up) => up.close()));
    await dispatcher?.close();
    client?.close();
    await server?.stop();
  });

  test('a JSON body rule with an ignored pointer replays a body that differs only there', async () => {
    const up = await upstream();
    const url = `${up.url}/echo`;
    await client.startRecording('rules/json');
    const recorded = await send(dispatcher, url, { json: { item: 'pen', meta: { ts: 1, n: 2 } } });
    assert.equal(recorded.status, 201);
    await client.stopRecording();
    await up.close();
    const changed = { meta: { n: 2, ts: 999 }, item: 'pen' }; // other key order, other /meta/ts

    await client.withCassette(
      'rules/json',
      async () => assert.equal((await send(dispatcher, url, { json: changed })).status, 599, 'exact by default'),
      { mode: 'replay' },
    );

    const session = await client.replay('rules/json', { match: { body: 'json', ignoreJsonPointers: ['/meta/ts'] } });
    try {
      assert.deepEqual(session.options.match, { body: 'json', ignoreJsonPointers: ['/meta/ts'] });
      const replayed = await send(dispatcher, url, { json: changed });
      assert.equal(replayed.status, 201);
      assert.ok(replayed.body.equals(recorded.body), 'replayed from the cassette');
      const other = await send(dispatcher, url, { json: { item: 'ink', meta: { ts: 1, n: 2 } } });
      assert.equal(other.status, 599, 'only /meta/ts is ignored');
    } finally {
      await session.stop();
    }
    assert.equal(up.hits, 1);
  });

  test("onMiss 'record' appends a new episode", async () => {
    const up = await upstream();
    await client.startRecording('rules/episodes');
    const first = await send(dispatcher, `${up.url}/text?n=1`);
    await client.stopRecording();

    const session = await client.replay('rules/episodes', { onMiss: 'record' });
    assert.equal(session.options.onMiss, 'record');
    const again = await send(dispatcher, `${up.url}/text?n=1`);
    assert.ok(again.body.equals(first.body));
    assert.equal(up.hits, 1, 'a recorded request is replayed');
    const second = await send(dispatcher, `${up.url}/text?n=2`);
    assert.equal(second.status, 200);
    assert.equal(up.hits, 2, 'a miss is forwarded');
    await session.stop();

    const cassette = await client.getCassette('rules/episodes');
    assert.equal(cassette.interactions.length, 2);
    assert.deepEqual(
      cassette.interactions.map((i) => i.http?.request?.url),
      [`${up.url}/text?n=1`, `${up.url}/text?n=2`],
    );
    await up.close();
    const replayed = await client.withCassette('rules/episodes', () => send(dispatcher, `${up.url}/text?n=2`), {
      mode: 'replay',
      onMiss: 'error',
    });
    assert.ok(replayed.body.equals(second.body));
  });

  test('redact.queryParams keeps a token out of the cassette', async () => {
    const up = await upstream();
    const url = `${up.url}/text?q=pens&token=SECRET-42`;
    const session = await client.startRecording('rules/redact', { redact: { queryParams: ['token'] } });
    assert.deepEqual(session.options.redact, { queryParams: ['token'] });
    const recorded = await send(dispatcher, url);
    await client.stopRecording();

    const cassette = await client.getCassette('rules/redact');
    const request = cassette.interactions[0]!.http!.request!;
    assert.ok(!request.url.includes('SECRET-42'), request.url);
    assert.match(request.url, /q=pens/);
    assert.match(request.url, /REDACTED/);
    assert.deepEqual(cassette.options?.redact?.queryParams, ['token']);
    await up.close();
    // The live request is redacted the same way before matching.
    const again = await client.withCassette('rules/redact', () => send(dispatcher, url), { mode: 'replay' });
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(recorded.body));
  });

  test('repeat, storeDecoded, wsTiming and protoOptions reach the server', async () => {
    const up = await upstream();
    await client.startRecording('rules/reuse', { storeDecoded: true, wsTiming: 'as-recorded', wsSpeed: 2 });
    const recorded = await send(dispatcher, `${up.url}/text`);
    await client.stopRecording();
    await up.close();
    const stored = optionsFromPb((await client.getCassette('rules/reuse')).options);
    assert.equal(stored.storeDecoded, true);
    assert.equal(stored.wsTiming, 'as-recorded');
    assert.equal(stored.wsSpeed, 2);

    const session = await client.replay('rules/reuse', {
      repeat: 'reuse',
      protoOptions: CassetteOptionsMessage.fromPartial({ onExhausted: 2 }),
    });
    try {
      assert.equal(session.options.onExhausted, 'error');
      assert.equal(session.options.repeat, 'reuse');
      for (let i = 0; i < 3; i++) {
        const r = await send(dispatcher, `${up.url}/text`);
        assert.equal(r.status, 200, 'reuse: never exhausted');
        assert.ok(r.body.equals(recorded.body));
      }
    } finally {
      await session.stop();
    }
  });

  const badRules: Array<[string, CassetteOptions]> = [
    ['a bad RE2 URL rewrite', { match: { urlRewrites: [['/users/([0-9]+', '/users/N']] } }],
    ['a JSON pointer without a leading slash', { match: { body: 'json', ignoreJsonPointers: ['meta/ts'] } }],
    ['a bad RE2 redaction pattern', { redact: { bodyPatterns: ['[unclosed'] } }],
  ];
  for (const [what, options] of badRules) {
    test(`${what} rejects with InvalidArgumentError`, async () => {
      for (const start of [
        () => client.startRecording('rules/bad', options),
        () => client.useCassette('rules/bad', { mode: 'record', ...options }),
      ]) {
        await assert.rejects(start(), (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`);
          assert.equal(err.codeName, 'INVALID_ARGUMENT');
          assert.ok(err.serverMessage.length > 0);
          return true;
        });
      }
      assert.equal((await client.status()).session, undefined);
    });
  }

  test('a bad URL rewrite on replay rejects with InvalidArgumentError', async () => {
    const up = await upstream();
    await client.withCassette('rules/rewrite', () => send(dispatcher, `${up.url}/text`), { mode: 'record' });
    await assert.rejects(client.replay('rules/rewrite', { match: { urlRewrites: [['(', 'x']] } }), InvalidArgumentError);
    await up.close();
  });

  test('list, get, put (under a new name, replayed without the upstream) and delete', async () => {
    const up = await upstream();
    const big = Buffer.alloc(1536 * 1024, 'x'); // echoed back: a cassette of ~3 MiB, several chunks
    await client.startRecording('manage/orig');
    const small = await send(dispatcher, `${up.url}/text`);
    const large = await send(dispatcher, `${up.url}/echo`, { body: big });
    assert.equal(large.status, 201);
    await client.stopRecording();
    await client.withCassette('other/x', () => send(dispatcher, `${up.url}/text`), { mode: 'record' });

    const all = (await client.listCassettes()).map((c) => c.name);
    assert.ok(all.includes('manage/orig') && all.includes('other/x'), all.join(', '));
    const listed = await client.listCassettes('manage/');
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.name, 'manage/orig');
    assert.equal(listed[0]!.interactions, 2);
    assert.equal(listed[0]!.format, 'binary');
    assert.ok(listed[0]!.sizeBytes > 2 * CHUNK_BYTES, `size ${listed[0]!.sizeBytes}`);
    assert.ok(listed[0]!.updatedAt instanceof Date);
    assert.deepEqual(await client.listCassettes('nothing/'), []);

    const cassette = await client.getCassette('manage/orig');
    assert.equal(cassette.name, 'manage/orig');
    assert.equal(cassette.schemaVersion, 1);
    assert.equal(cassette.complete, true);
    assert.equal(cassette.interactions.length, 2);
    const raw = await client.getCassetteBytes('manage/orig');
    assert.ok(raw.length > 2 * CHUNK_BYTES);
    assert.deepEqual(Cassette.decode(raw), cassette);

    const copied = await client.putCassette(cassette, 'manage/copy');
    assert.equal(copied.name, 'manage/copy');
    assert.equal(copied.interactions, 2);
    assert.equal((await client.putCassette(raw, 'manage/copy-from-bytes')).interactions, 2);
    assert.equal((await client.getCassette('manage/copy')).name, 'manage/copy');

    await up.close();
    const session = await client.replay('manage/copy');
    try {
      assert.ok((await send(dispatcher, `${up.url}/text`)).body.equals(small.body));
      assert.ok((await send(dispatcher, `${up.url}/echo`, { body: big })).body.equals(large.body));
      await assert.rejects(client.deleteCassette('manage/copy'), (err: unknown) => {
        assert.ok(err instanceof FailedPreconditionError, `got ${String(err)}`);
        assert.equal(err.codeName, 'FAILED_PRECONDITION');
        return true;
      });
      await assert.rejects(client.putCassette(cassette, 'manage/copy'), FailedPreconditionError);
    } finally {
      await session.stop();
    }

    await client.deleteCassette('manage/copy');
    assert.ok(!(await client.listCassettes()).some((c) => c.name === 'manage/copy'));
    await assert.rejects(client.deleteCassette('manage/copy'), (err: unknown) => {
      assert.ok(err instanceof CassetteNotFoundError, `got ${String(err)}`);
      assert.equal(err.codeName, 'NOT_FOUND');
      return true;
    });
    await assert.rejects(client.getCassette('manage/copy'), CassetteNotFoundError);
    await assert.rejects(client.replay('manage/copy'), CassetteNotFoundError);
  });

  test('cassette management errors', async () => {
    await assert.rejects(client.getCassette('never/there'), CassetteNotFoundError);
    await assert.rejects(client.getCassette('../escape'), InvalidArgumentError);
    await assert.rejects(client.deleteCassette('../escape'), InvalidArgumentError);
    await assert.rejects(client.putCassette(Buffer.from([0x0a, 0xff, 0xff, 0xff]), 'garbage'), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`);
      assert.match(err.serverMessage, /not a valid matgto cassette/);
      return true;
    });
    await assert.rejects(client.putCassette({ schemaVersion: 1, name: 'half' }), InvalidArgumentError); // complete unset
    await assert.rejects(client.putCassette({ schemaVersion: 1, complete: true }, '../x'), InvalidArgumentError);
    await assert.rejects(client.putCassette({ schemaVersion: 1, complete: true }), TypeError);
    assert.equal((await client.listCassettes('never/')).length, 0);
  });
});

describe('HTTPS through CONNECT', () => {
  test('caCertificate() is a CA PEM that fetchDispatcher() trusts for intercepted HTTPS', async (t) => {
    const pki = makePki();
    if (!pki) {
      t.skip('openssl is not installed');
      return;
    }
    const server = await startServer({ args: ['--upstream-ca-file', pki.caFile] });
    const client = new MatgtoClient(server.ready.control);
    const up = await startUpstream({ cert: pki.cert, key: pki.key });
    const trusting = await client.fetchDispatcher({ trustCa: true });
    const untrusting = await client.fetchDispatcher({ trustCa: false });
    try {
      const pem = await client.caCertificate();
      assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
      const ca = new X509Certificate(pem);
      assert.equal(ca.ca, true, 'the certificate is a CA');

      const recorded = await client.withCassette('tls/get', () => send(trusting, `${up.url}/text`), { mode: 'record' });
      assert.equal(recorded.status, 200);
      assert.equal(up.hits, 1);
      const replayed = await client.withCassette(
        'tls/get',
        async () => {
          await assert.rejects(send(untrusting, `${up.url}/text`), (err: unknown) => {
            const cause = (err as { cause?: { code?: string; message?: string } }).cause;
            assert.match(`${cause?.code} ${cause?.message}`, /CERT|VERIFY|SIGNATURE|ISSUER/i, String(err));
            return true;
          }, 'not trusted without the CA');
          return send(trusting, `${up.url}/text`);
        },
        { mode: 'replay' },
      );
      assert.ok(replayed.body.equals(recorded.body));
      assert.equal(up.hits, 1);
      const stored = await client.getCassette('tls/get');
      assert.equal(stored.interactions[0]?.http?.request?.url, `${up.url}/text`);
    } finally {
      await trusting.close();
      await untrusting.close();
      client.close();
      await up.close();
      await server.stop();
    }
  });
});
