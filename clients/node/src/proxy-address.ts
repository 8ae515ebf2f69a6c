// The proxy URL a test's HTTP client uses for a session.
import type { SessionInfo } from './sessions.js';

/**
 * The proxy URL a test hands its HTTP client for `session`: `http://` + the
 * session's own listener (no credential needed). For the default session,
 * the shared proxy port.
 */
export function sessionProxy(session: Pick<SessionInfo, 'proxyAddress'>, controlAddress?: string): string {
  return `http://${usableProxyAddress(session.proxyAddress, controlAddress)}`;
}

const UNSPECIFIED_HOSTS = new Set(['', '0.0.0.0', '::']);

function splitHostPort(address: string): [string, string] {
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    return [address.slice(1, end), address.slice(end + 1).replace(/^:/, '')];
  }
  const colons = address.split(':').length - 1;
  if (colons === 1) return [address.slice(0, address.indexOf(':')), address.slice(address.indexOf(':') + 1)];
  return [address, ''];
}

/**
 * `proxyAddress` as the server reports it, except that an unspecified host
 * (`0.0.0.0`, `::`) becomes the host of the control address (the loopback
 * address of its family, `127.0.0.1` or `::1`, when that is unspecified too or
 * not given); IPv6 hosts keep brackets.
 */
export function usableProxyAddress(proxyAddress: string, controlAddress?: string): string {
  let [host, port] = splitHostPort(proxyAddress);
  if (!UNSPECIFIED_HOSTS.has(host)) return proxyAddress;
  const target = (controlAddress ?? '').replace(/^(dns|ipv4|ipv6):/, '').replace(/^[a-z]+:\/\//, '');
  const [ctl] = splitHostPort(target.slice(target.lastIndexOf('/') + 1));
  // Both unspecified: the loopback address of the proxy's own family (an
  // IPv6-only listener is not reachable on 127.0.0.1).
  if (!UNSPECIFIED_HOSTS.has(ctl)) host = ctl;
  else host = host.includes(':') ? '::1' : '127.0.0.1';
  if (host.includes(':')) host = `[${host}]`;
  return port ? `${host}:${port}` : host;
}
