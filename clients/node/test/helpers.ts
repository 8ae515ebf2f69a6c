import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The tests' servers come from the public launcher (run-tests.sh sets $MATGTO_BIN).
export { startServer, type LocalServer as RunningServer } from '@matgto/client/testing';

export interface Upstream {
  url: string;
  /** Requests the upstream has answered. */
  hits: number;
  close(): Promise<void>;
}

/**
 * A real HTTP upstream on 127.0.0.1 whose answers differ on every call, so a
 * replayed answer can only come from the cassette:
 *   GET /text  -> text with a call counter and a random id
 *   GET /bin   -> 512 random bytes
 *   POST /echo -> the request body plus a random id, as JSON
 * (the query string is ignored for routing). With `tls`, it speaks HTTPS.
 */
export async function startUpstream(tls?: { cert: string; key: string }): Promise<Upstream> {
  const state = { hits: 0 };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.hits++;
      const n = state.hits;
      const path = new URL(req.url ?? '/', 'http://upstream').pathname;
      if (req.method === 'GET' && path === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-call': String(n) });
        res.end(`call ${n} ${randomUUID()}\n`);
      } else if (req.method === 'GET' && path === '/bin') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(randomBytes(512));
      } else if (req.method === 'POST' && path === '/echo') {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ got: Buffer.concat(chunks).toString('utf8'), id: randomUUID(), n }));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`not found ${randomUUID()}`);
      }
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createServer(handler);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

/** A 127.0.0.1 port with nothing listening on it. */
export async function deadPort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

export interface Pki {
  /** PEM of a throw-away CA (for the server's --upstream-ca-file). */
  caFile: string;
  /** A leaf certificate for 127.0.0.1 signed by that CA, and its key (PEM text). */
  cert: string;
  key: string;
}

/** Makes a CA and a 127.0.0.1 leaf with the openssl CLI; undefined when openssl is missing. */
export function makePki(): Pki | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'matgto-node-pki-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=matgto node client test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return {
    caFile: join(dir, 'ca.pem'),
    cert: readFileSync(join(dir, 'leaf.pem'), 'utf8'),
    key: readFileSync(join(dir, 'leaf.key'), 'utf8'),
  };
}
