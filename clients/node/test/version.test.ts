import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import {
  CassetteNotFoundError,
  IncompatibleServerError,
  MatgtoClient,
  MatgtoError,
  SUPPORTED_API_VERSION,
  ServerUnavailableError,
  checkApiVersion,
} from '@matgto/client';
// The generated service definition, only to run a fake server here.
import { GetStatusResponse, ProxyControlService } from '../dist/gen/matgto/v1/control.js';
import { deadPort } from './helpers.js';

describe('checkApiVersion', () => {
  test('accepts the supported version', () => {
    assert.equal(SUPPORTED_API_VERSION, 1);
    assert.doesNotThrow(() => checkApiVersion({ apiVersion: 1, version: '0.1.0' }));
  });

  test('refuses another version with a clear message', () => {
    assert.throws(
      () => checkApiVersion({ apiVersion: 2, version: '2.3.0' }, '127.0.0.1:9'),
      (err: unknown) => {
        assert.ok(err instanceof IncompatibleServerError);
        assert.ok(err instanceof MatgtoError);
        assert.equal(err.serverApiVersion, 2);
        assert.equal(err.serverVersion, '2.3.0');
        assert.equal(err.supportedApiVersion, 1);
        assert.match(err.message, /incompatible matgto server at 127\.0\.0\.1:9 \(matgto 2\.3\.0\)/);
        assert.match(err.message, /API version 2/);
        assert.match(err.message, /supports only API version 1/);
        return true;
      },
    );
  });

  test('refuses a server that sends no api_version (0)', () => {
    assert.throws(() => checkApiVersion({ apiVersion: 0 }), (err: unknown) => {
      assert.ok(err instanceof IncompatibleServerError);
      assert.match(err.message, /no api_version/);
      return true;
    });
  });
});

/** A fake ProxyControl server whose GetStatus reports `apiVersion`. */
async function fakeServer(apiVersion: number) {
  const calls: string[] = [];
  const server = new Server();
  const unimpl = (name: string) => (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
    calls.push(name);
    cb({ code: status.NOT_FOUND, details: `fake: no cassette for ${name}` });
  };
  server.addService(ProxyControlService, {
    getStatus: (_c: ServerUnaryCall<unknown, GetStatusResponse>, cb: sendUnaryData<GetStatusResponse>) => {
      calls.push('getStatus');
      cb(
        null,
        GetStatusResponse.fromPartial({
          version: '9.9.9',
          proxyAddress: '127.0.0.1:1',
          controlAddress: '127.0.0.1:2',
          cassetteDir: '/nowhere',
          apiVersion,
        }),
      );
    },
    startRecording: unimpl('startRecording'),
    stopRecording: unimpl('stopRecording'),
    replay: unimpl('replay'),
    useCassette: unimpl('useCassette'),
    shutdown: unimpl('shutdown'),
    getCaCertificate: unimpl('getCaCertificate'),
    listCassettes: unimpl('listCassettes'),
    deleteCassette: unimpl('deleteCassette'),
    getCassette: (call: ServerWritableStream<unknown, unknown>) => {
      calls.push('getCassette');
      call.emit('error', { code: status.NOT_FOUND, details: 'fake: no cassette for getCassette' });
    },
    putCassette: (_c: ServerReadableStream<unknown, unknown>, cb: sendUnaryData<unknown>) => {
      calls.push('putCassette');
      cb({ code: status.NOT_FOUND, details: 'fake: no cassette for putCassette' });
    },
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, calls, stop: () => server.forceShutdown() };
}

describe('client version check on first use', () => {
  let v2: Awaited<ReturnType<typeof fakeServer>>;
  let v1: Awaited<ReturnType<typeof fakeServer>>;
  before(async () => {
    v2 = await fakeServer(2);
    v1 = await fakeServer(1);
  });
  after(() => {
    v2.stop();
    v1.stop();
  });

  test('refuses an api_version 2 server before sending the call', async () => {
    const client = new MatgtoClient(v2.address);
    try {
      await assert.rejects(client.replay('x'), IncompatibleServerError);
      await assert.rejects(client.startRecording('x'), IncompatibleServerError);
      await assert.rejects(client.status(), IncompatibleServerError);
      assert.ok(!v2.calls.includes('replay'), `calls: ${v2.calls.join(',')}`);
      assert.ok(!v2.calls.includes('startRecording'), `calls: ${v2.calls.join(',')}`);
      await assert.rejects(client.listCassettes(), IncompatibleServerError);
      await assert.rejects(client.getCassette('x'), IncompatibleServerError);
      await assert.rejects(client.putCassette({ name: 'x', schemaVersion: 1, complete: true }), IncompatibleServerError);
      await assert.rejects(client.deleteCassette('x'), IncompatibleServerError);
      assert.deepEqual(v2.calls.filter((c) => c !== 'getStatus'), [], `calls: ${v2.calls.join(',')}`);
      assert.equal(v2.calls[0], 'getStatus');
    } finally {
      client.close();
    }
  });

  test('talks to an api_version 1 server, checking once', async () => {
    const client = new MatgtoClient(v1.address);
    try {
      await assert.rejects(client.replay('a'), CassetteNotFoundError);
      await assert.rejects(client.replay('b'), (err: unknown) => {
        assert.ok(err instanceof CassetteNotFoundError);
        assert.equal(err.serverMessage, 'fake: no cassette for replay');
        return true;
      });
      assert.deepEqual(v1.calls, ['getStatus', 'replay', 'replay']);
      // Streaming calls map their errors too.
      await assert.rejects(client.getCassette('c'), (err: unknown) => {
        assert.ok(err instanceof CassetteNotFoundError, `got ${String(err)}`);
        assert.equal(err.rpc, 'GetCassette');
        return true;
      });
      await assert.rejects(client.putCassette({ name: 'c', schemaVersion: 1, complete: true }), (err: unknown) => {
        assert.ok(err instanceof CassetteNotFoundError, `got ${String(err)}`);
        assert.equal(err.serverMessage, 'fake: no cassette for putCassette');
        return true;
      });
      assert.deepEqual(v1.calls.slice(3), ['getCassette', 'putCassette']);
    } finally {
      client.close();
    }
  });

  test('an unreachable server gives ServerUnavailableError, and a later call retries the check', async () => {
    const client = new MatgtoClient(`127.0.0.1:${await deadPort()}`, { timeoutMs: 5000 });
    try {
      await assert.rejects(client.replay('x'), ServerUnavailableError);
      await assert.rejects(client.status(), ServerUnavailableError);
    } finally {
      client.close();
    }
  });

  test('the address defaults to MATGTO_SERVER, then 127.0.0.1:8889', () => {
    const saved = process.env.MATGTO_SERVER;
    try {
      process.env.MATGTO_SERVER = '127.0.0.1:4242';
      const a = new MatgtoClient();
      assert.equal(a.address, '127.0.0.1:4242');
      a.close();
      delete process.env.MATGTO_SERVER;
      const b = new MatgtoClient();
      assert.equal(b.address, '127.0.0.1:8889');
      b.close();
      const c = new MatgtoClient('127.0.0.1:7');
      assert.equal(c.address, '127.0.0.1:7');
      c.close();
    } finally {
      if (saved === undefined) delete process.env.MATGTO_SERVER;
      else process.env.MATGTO_SERVER = saved;
    }
  });

  test('calls after close() reject', async () => {
    const client = new MatgtoClient(v1.address);
    client.close();
    await assert.rejects(client.status(), /client is closed/);
  });
});
