/**
 * undici's ProxyAgent sends `Proxy-Authorization` only for a URL with both a
 * user and a password. A session's `proxyUrl` has both ("http://ID:matgto@…");
 * a hand-written "http://ID@host:port" has a user only: send
 * `Basic base64("ID:")` for it (the server reads the user alone).
 * Internal (used by the testing entry), not exported from the package index.
 */
export function proxyCredential(uri: string): { uri: string; token?: string } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { uri };
  }
  if (!url.username || url.password) return { uri };
  const token = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:`).toString('base64')}`;
  url.username = '';
  return { uri: url.toString(), token };
}
