// Type-checked by check-install.sh in the project that installed the tarball:
// the package's declarations resolve from outside the repository (NodeNext).
import { MatgtoClient, type SessionSummary } from '@matgto/client';
import { setProcessProxy, startServer, useCassette, type LocalServer, type ProcessProxy } from '@matgto/client/testing';

export async function consumer(): Promise<SessionSummary | undefined> {
  const server: LocalServer = await startServer({ args: ['--max-sessions', '2'] });
  const client: MatgtoClient = server.client({ timeoutMs: 5000 });
  const session = await client.useCassette('consumer', { newSession: true });
  const proxied: ProcessProxy = await setProcessProxy({ client, proxy: session.proxy });
  await proxied.restore();
  void useCassette;
  return session.stop();
}
