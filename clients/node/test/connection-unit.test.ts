// Connection options (token, TLS, mTLS) without a matgto server: the mapping
// of options and environment to settings, and the bearer header a plaintext
// channel sends (seen by a fake control server on 127.0.0.1).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MatgtoClient, isLoopbackTarget, resolveConnection } from '@matgto/client';
import { startFakeControl, type FakeControl } from './fake-control.js';

const dir = mkdtempSync(join(tmpdir(), 'matgto-node-conn-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

test('nothing configured: plaintext, no token', () => {
  const s = resolveConnection('127.0.0.1:8889', {}, {});
  assert.equal(s.tls, false);
  assert.equal(s.token, undefined);
  assert.equal(s.explicitPlaintext, false);
});

test('the token option wins over $MATGTO_TOKEN; an empty token sends none', () => {
  const env = { MATGTO_TOKEN: 'from-env' };
  assert.equal(resolveConnection('127.0.0.1:1', {}, env).token, 'from-env');
  assert.equal(resolveConnection('127.0.0.1:1', { token: 'arg' }, env).token, 'arg');
  assert.equal(resolveConnection('127.0.0.1:1', { token: '' }, env).token, undefined);
});

test('$MATGTO_TLS_CA turns TLS on and is read', () => {
  const s = resolveConnection('central:8889', {}, { MATGTO_TLS_CA: file('ca.pem', 'CA PEM'), MATGTO_TOKEN: 't' });
  assert.equal(s.tls, true);
  assert.equal(s.ca?.toString(), 'CA PEM');
  assert.equal(s.cert, undefined);
  assert.equal(s.token, 't');
});

test('client certificate and key from options (paths or Buffers)', () => {
  const s = resolveConnection('central:8889', { tlsCert: file('c.pem', 'CERT'), tlsKey: Buffer.from('KEY'), tlsCa: Buffer.from('ROOTS') }, {});
  assert.equal(s.tls, true);
  assert.deepEqual([s.ca?.toString(), s.cert?.toString(), s.key?.toString()], ['ROOTS', 'CERT', 'KEY']);
});

test('tls: true alone uses the system roots', () => {
  const s = resolveConnection('central:443', { tls: true }, {});
  assert.equal(s.tls, true);
  assert.equal(s.ca, undefined);
});

test('tls: false is explicit plaintext: TLS variables ignored, a remote token allowed', () => {
  const s = resolveConnection('central:8889', { tls: false }, { MATGTO_TLS_CA: '/nonexistent/ca.pem', MATGTO_TOKEN: 't' });
  assert.equal(s.tls, false);
  assert.equal(s.explicitPlaintext, true);
  assert.equal(s.token, 't');
  assert.throws(() => resolveConnection('central:8889', { tls: false, tlsCa: Buffer.from('x') }, {}), /cannot be combined/);
});

test('a token is not sent in plaintext to a remote host', () => {
  assert.throws(() => resolveConnection('central:8889', { token: 't' }, {}), /refusing to send the token in plaintext to central:8889/);
  for (const target of ['127.0.0.1:1', 'localhost:1', '[::1]:1', 'ipv4:127.0.0.2:1', 'unix:/tmp/s']) {
    assert.equal(resolveConnection(target, { token: 't' }, {}).token, 't', target);
  }
  assert.throws(() => new MatgtoClient('10.1.2.3:8889', { token: 't' }), /refusing/);
});

test('certificate and key go together', () => {
  assert.throws(() => resolveConnection('h:1', { tlsCert: Buffer.from('C') }, {}), /needs its key/);
  assert.throws(() => resolveConnection('h:1', {}, { MATGTO_TLS_KEY: '/k' }), /needs its key/);
});

test('an unreadable file is named with its variable', () => {
  assert.throws(() => resolveConnection('h:1', {}, { MATGTO_TLS_CA: join(dir, 'nope.pem') }), /TLS CA file ".*nope.pem" \(from \$MATGTO_TLS_CA\)/);
});

test('an https:// address means TLS; http:// is dropped', () => {
  const saved = process.env.MATGTO_TLS_CA;
  delete process.env.MATGTO_TLS_CA;
  try {
    const secure = new MatgtoClient('https://central.example:8889/', { token: '' });
    assert.equal(secure.address, 'central.example:8889');
    assert.equal(secure.tls, true);
    secure.close();
    const plain = new MatgtoClient('http://127.0.0.1:1', { token: '' });
    assert.equal(plain.address, '127.0.0.1:1');
    assert.equal(plain.tls, false);
    plain.close();
    assert.throws(() => new MatgtoClient('https://central.example:8889', { tls: false }), /contradicts/);
  } finally {
    if (saved !== undefined) process.env.MATGTO_TLS_CA = saved;
  }
});

test('loopback targets', () => {
  assert.ok(isLoopbackTarget('127.0.0.1:8889') && isLoopbackTarget('dns:///localhost:1'));
  assert.ok(!isLoopbackTarget('10.0.0.1:8889') && !isLoopbackTarget('matgto.internal:8889'));
});

describe('the bearer header on a plaintext channel', () => {
  let fake: FakeControl;
  before(async () => {
    fake = await startFakeControl({ listCassettes: () => ({ cassettes: [] }) });
  });
  after(() => fake.stop());

  test('every call carries authorization: Bearer TOKEN', async () => {
    const client = new MatgtoClient(fake.address, { token: 'tok-123' });
    try {
      await client.listCassettes();
    } finally {
      client.close();
    }
    const auth = fake.calls.map((c) => c.metadata.authorization);
    assert.deepEqual(auth, ['Bearer tok-123', 'Bearer tok-123']);
  });

  test('no token: no authorization header', async () => {
    fake.calls.length = 0;
    const saved = process.env.MATGTO_TOKEN;
    delete process.env.MATGTO_TOKEN;
    const client = new MatgtoClient(fake.address);
    try {
      await client.status();
    } finally {
      client.close();
      if (saved !== undefined) process.env.MATGTO_TOKEN = saved;
    }
    assert.equal(fake.calls[0]?.metadata.authorization, undefined);
  });
});
