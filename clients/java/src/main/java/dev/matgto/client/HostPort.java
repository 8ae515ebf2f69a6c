package dev.matgto.client;

import java.net.InetSocketAddress;

/** Parsing of "host:port" and "[v6]:port" addresses as the server reports them. */
final class HostPort {
  private HostPort() {}

  /**
   * Parses {@code address}. A wildcard host (0.0.0.0, ::, empty) is replaced by {@code
   * fallbackHost}, the host the control connection uses, or by the loopback address of its own
   * family (127.0.0.1, ::1) when that is a wildcard too.
   */
  static InetSocketAddress parse(String address, String fallbackHost) {
    if (address == null || address.isBlank()) {
      throw new MatgtoException(
          io.grpc.Status.Code.INTERNAL, "server reported no proxy address", null);
    }
    String a = address.trim();
    int colon = a.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("address without port: " + address);
    }
    String host = a.substring(0, colon);
    int port;
    try {
      port = Integer.parseInt(a.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad port in address: " + address, e);
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    if (wildcard(host)) {
      host = wildcard(fallbackHost) ? loopbackFor(host) : fallbackHost;
    }
    return new InetSocketAddress(host, port);
  }

  /**
   * {@code http://host:port} for {@code address} as the server reports it, a wildcard host replaced
   * as in {@link #parse}; the host is kept as written (IPv6 bracketed), never resolved.
   */
  static String httpUrl(String address, String fallbackHost) {
    InetSocketAddress parsed = parse(address, fallbackHost); // validates; resolves nothing we use
    String a = address.trim();
    String host = a.substring(0, a.lastIndexOf(':'));
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    if (wildcard(host)) {
      host = wildcard(fallbackHost) ? loopbackFor(host) : fallbackHost;
    }
    if (host.contains(":")) {
      host = "[" + host + "]";
    }
    return "http://" + host + ":" + parsed.getPort();
  }

  /** ::1 for an IPv6 wildcard (an IPv6-only listener is not reachable on 127.0.0.1), else 127.0.0.1. */
  private static String loopbackFor(String wildcardHost) {
    return wildcardHost.contains(":") ? "::1" : "127.0.0.1";
  }

  /** Whether {@code host} (unbracketed) is empty or an unspecified address (0.0.0.0, ::). */
  private static boolean wildcard(String host) {
    if (host == null) {
      return true;
    }
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    return h.isEmpty() || h.equals("0.0.0.0") || h.equals("::") || h.matches("[0:]+");
  }

  /** The host part of a gRPC target such as "127.0.0.1:8889" or "dns:///h:1" (best effort). */
  static String hostOf(String target) {
    String t = target;
    int slashes = t.lastIndexOf('/');
    if (slashes >= 0) {
      t = t.substring(slashes + 1);
    }
    int colon = t.lastIndexOf(':');
    String host = colon >= 0 ? t.substring(0, colon) : t;
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return host;
  }
}
