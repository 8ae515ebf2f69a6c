// Run by check-install.sh from a project outside the repository that installed
// @matgto/client (from a path, or from the `npm pack` tarball), with every
// proxy variable pointing at a dead proxy: the launcher, the client (its control
// channel must not follow them) and setProcessProxy work.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { MatgtoClient } from '@matgto/client';
import { setProcessProxy, startServer } from '@matgto/client/testing';

const dead = 'http://127.0.0.1:9'; // nothing listens there
for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'grpc_proxy']) process.env[name] = dead;
const where = createRequire(import.meta.url).resolve('@matgto/client/package.json');

const upstream = createServer((req, res) => res.end(`hello ${req.url}`));
await new Promise((res) => upstream.listen(0, '127.0.0.1', res));
const url = `http://127.0.0.1:${upstream.address().port}/smoke`;

const server = await startServer(); // $MATGTO_BIN
try {
  const client = server.client();
  assert.ok(client instanceof MatgtoClient);
  assert.equal((await client.status()).controlAddress, server.control);
  const session = await client.useCassette('smoke/node', { newSession: true });
  const proxied = await setProcessProxy({ client, proxy: session.proxy });
  assert.equal(process.env.HTTPS_PROXY, session.proxy);
  const res = await fetch(url); // Node's own fetch, through the global dispatcher
  assert.equal(await res.text(), 'hello /smoke');
  await proxied.restore();
  assert.equal(process.env.HTTPS_PROXY, dead, 'restored');
  const summary = await session.stop();
  assert.equal(summary?.session?.recorded, 1);
  client.close();
} finally {
  await server.stop();
  upstream.close();
}
console.log(`install smoke ok: @matgto/client from ${where}, node ${process.version}`);
