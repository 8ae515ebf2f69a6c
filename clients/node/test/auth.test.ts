// A secured control API against real servers ($MATGTO_BIN): TLS, mTLS and
// scoped bearer tokens. One TLS and one mTLS server serve every test here
// (same token file); the shutdown test starts its own. Certificates are made
// at test time with the openssl CLI: a CA, a server certificate for 127.0.0.1
// and localhost, a client certificate.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MatgtoClient,
  PermissionDeniedError,
  ServerUnavailableError,
  UnauthenticatedError,
  type MatgtoClientOptions,
} from '@matgto/client';
import { withCassette } from '@matgto/client/testing';
import { startServer, type RunningServer } from './helpers.js';

const TOKENS = { read: 'read-token-0123456789', write: 'write-token-0123456789', admin: 'admin-token-0123456789', team: 'team-a-token-0123456789' };

interface ControlPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  tokens: string;
}

/** CA, server (127.0.0.1, localhost) and client certificates, and a token file; undefined without openssl. */
function makeControlPki(): ControlPki | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'matgto-node-auth-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=matgto control test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    const exts: Record<string, string> = {
      server: 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
      client: 'extendedKeyUsage=clientAuth\n',
    };
    for (const [name, ext] of Object.entries(exts)) {
      openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=matgto test ${name}`);
      writeFileSync(join(dir, `${name}.ext`), ext);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `# token scope [name-prefix]\n${TOKENS.read} read\n${TOKENS.write} write\n${TOKENS.admin} admin\n${TOKENS.team} write team-a/\n`);
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    tokens,
  };
}

const pki = makeControlPki();
const skip = pki ? false : 'openssl is not installed: the TLS/mTLS tests need it to make certificates';

function securedServer(mtls: boolean): Promise<RunningServer> {
  const p = pki!;
  const args = ['--control-tls-cert', p.serverCert, '--control-tls-key', p.serverKey, '--auth-tokens', p.tokens];
  if (mtls) args.push('--control-client-ca', p.ca);
  return startServer({ args });
}

/** Runs `body` with a client of `server` that trusts the test CA and sends `token`. */
async function withClient(server: RunningServer, token: string, options: MatgtoClientOptions, body: (c: MatgtoClient) => Promise<void>) {
  const client = new MatgtoClient(server.ready.control, { token, tlsCa: pki!.ca, timeoutMs: 10_000, ...options });
  try {
    await body(client);
  } finally {
    client.close();
  }
}

describe('secured control API', { skip }, () => {
  let tls: RunningServer;
  let mtls: RunningServer;
  const cert = () => ({ tlsCert: pki!.clientCert, tlsKey: pki!.clientKey });

  before(async () => {
    [tls, mtls] = await Promise.all([securedServer(false), securedServer(true)]);
  });
  after(async () => {
    await Promise.all([tls?.stop(), mtls?.stop()]);
  });

  test('a read token lists but may not record', async () => {
    await withClient(tls, TOKENS.read, {}, async (client) => {
      assert.equal((await client.status()).apiVersion, 1);
      await client.listCassettes();
      await assert.rejects(client.startRecording('auth/read-may-not', { newSession: true }), (err: unknown) => {
        assert.ok(err instanceof PermissionDeniedError, String(err));
        assert.equal(err.codeName, 'PERMISSION_DENIED');
        return true;
      });
      await assert.rejects(client.deleteCassette('auth/read-may-not'), PermissionDeniedError);
    });
  });

  test('a write token records but may not shut down', async () => {
    await withClient(tls, TOKENS.write, {}, async (client) => {
      const session = await client.useCassette('auth/written', { mode: 'record', newSession: true, leaseMs: 0 });
      assert.match(session.id, /^s-/);
      await session.stop();
      await assert.rejects(client.shutdown(), PermissionDeniedError);
    });
    assert.equal(tls.proc.exitCode, null);
    // What write recorded, read replays (and may stop: the session only replays).
    await withClient(tls, TOKENS.read, {}, async (client) => {
      const session = await client.replay('auth/written', { newSession: true, leaseMs: 0 });
      assert.equal(session.mode, 'replay');
      await session.stop();
    });
  });

  test('a name prefix limits a token', async () => {
    await withClient(tls, TOKENS.team, {}, async (client) => {
      const session = await client.useCassette('team-a/ok', { mode: 'record', newSession: true, leaseMs: 0 });
      await session.stop();
      await assert.rejects(client.startRecording('team-b/not-mine', { newSession: true }), PermissionDeniedError);
    });
  });

  test('a wrong or missing token is UNAUTHENTICATED', async () => {
    await withClient(tls, 'not-a-token', {}, async (client) => {
      await assert.rejects(client.status(), (err: unknown) => {
        assert.ok(err instanceof UnauthenticatedError, String(err));
        assert.equal(err.codeName, 'UNAUTHENTICATED');
        return true;
      });
    });
    await withClient(tls, '', {}, async (client) => {
      await assert.rejects(client.listCassettes(), UnauthenticatedError);
    });
  });

  test('watching events needs a token', async () => {
    await withClient(tls, '', {}, async (client) => {
      // Refused here, or at the latest on the first next().
      await assert.rejects(async () => {
        const events = await client.watchEvents();
        try {
          await events.next();
        } finally {
          events.close();
        }
      }, UnauthenticatedError);
    });
    await withClient(tls, TOKENS.read, {}, async (client) => {
      const events = await client.watchEvents(); // a read token may watch
      assert.equal(events.closed, false);
      events.close();
    });
    await withClient(tls, TOKENS.team, {}, async (client) => {
      await assert.rejects(async () => {
        const events = await client.watchEvents({ cassette: 'team-b/x' });
        try {
          await events.next();
        } finally {
          events.close();
        }
      }, PermissionDeniedError);
    });
  });

  test('settings from the environment', async () => {
    const saved = { token: process.env.MATGTO_TOKEN, ca: process.env.MATGTO_TLS_CA };
    process.env.MATGTO_TOKEN = TOKENS.read;
    process.env.MATGTO_TLS_CA = pki!.ca;
    const client = new MatgtoClient(tls.ready.control);
    try {
      assert.equal(client.tls, true);
      await client.listCassettes();
    } finally {
      client.close();
      for (const [k, v] of [['MATGTO_TOKEN', saved.token], ['MATGTO_TLS_CA', saved.ca]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('the test helper takes the settings from the environment', async (t) => {
    const saved = { token: process.env.MATGTO_TOKEN, ca: process.env.MATGTO_TLS_CA };
    process.env.MATGTO_TOKEN = TOKENS.team;
    process.env.MATGTO_TLS_CA = pki!.ca;
    try {
      await withCassette(t, 'team-a/node-helper', { mode: 'record', address: tls.ready.control }, async (handle) => {
        assert.match(handle.session.id, /^s-/);
      });
    } finally {
      for (const [k, v] of [['MATGTO_TOKEN', saved.token], ['MATGTO_TLS_CA', saved.ca]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('a plaintext client cannot talk to a TLS server', async () => {
    const client = new MatgtoClient(tls.ready.control, { token: TOKENS.read, timeoutMs: 5_000 });
    try {
      await assert.rejects(client.status(), ServerUnavailableError);
    } finally {
      client.close();
    }
  });

  test('mTLS refuses a client without a certificate', async () => {
    await withClient(mtls, TOKENS.admin, { timeoutMs: 5_000 }, async (client) => {
      await assert.rejects(client.status(), ServerUnavailableError);
    });
  });

  test('mTLS accepts a client certificate, and scopes still apply', async () => {
    await withClient(mtls, TOKENS.read, cert(), async (client) => {
      await client.listCassettes();
      await assert.rejects(client.startRecording('auth/mtls-read', { newSession: true }), PermissionDeniedError);
    });
    await withClient(mtls, TOKENS.write, cert(), async (client) => {
      const session = await client.useCassette('auth/mtls-written', { mode: 'record', newSession: true, leaseMs: 0 });
      await session.stop();
    });
    await withClient(mtls, 'wrong', cert(), async (client) => {
      await assert.rejects(client.status(), UnauthenticatedError);
    });
  });

  test('an admin token shuts the server down', async () => {
    const own = await securedServer(true);
    try {
      await withClient(own, TOKENS.admin, cert(), async (client) => {
        await client.shutdown();
      });
      assert.equal(await own.exited, 0);
    } finally {
      await own.stop();
    }
  });
});
