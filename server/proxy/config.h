// Limits and timeouts of the proxy listener. Every read has a timeout and
// every buffer a limit; hitting one gives the client a specific status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/core/url.h"
#include "server/observe/metrics.h"

namespace matgto::proxy {

struct ProxyConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 8888;
  // Request line + headers; beyond: 431.
  uint32_t max_header_bytes = 64 * 1024;
  // Request body; beyond: 413. Response bodies from upstream; beyond: 502.
  uint64_t max_body_bytes = 64ull * 1024 * 1024;
  // A response body a recording stores when it is relayed and spooled to
  // disk (a recording with a journal: core/spool.h); beyond, the client
  // still gets it whole and it is not recorded. Bodies held in memory stay
  // under max_body_bytes.
  uint64_t max_stored_body_bytes = 1ull << 30;
  // How long a keep-alive connection may wait for its next request.
  absl::Duration idle_timeout = absl::Seconds(60);
  // How long reading one request (once its first byte arrived) may take: 408.
  absl::Duration request_timeout = absl::Seconds(30);
  // Resolving an upstream's name: 504 `dns-timeout` beyond.
  absl::Duration dns_timeout = absl::Seconds(5);
  // Open client connections per listener (the shared port, and each
  // session's own) and, on the shared port, per session credential (a
  // connection counts for its session from its first request that carries
  // one); beyond, a new one is answered 503 `too-many-connections` and
  // closed.
  uint32_t max_connections = 10000;
  // Connecting to an upstream: 502 when it fails or takes longer.
  absl::Duration upstream_connect_timeout = absl::Seconds(10);
  // Waiting for an upstream's complete response: 504 beyond.
  absl::Duration upstream_timeout = absl::Seconds(60);
  // Writing a response to a slow client.
  absl::Duration write_timeout = absl::Seconds(60);
  // WebSocket: largest message (beyond: the session is closed with 1009),
  // and how long a session may carry no frame at all.
  uint64_t ws_max_message_bytes = 16ull * 1024 * 1024;
  absl::Duration ws_idle_timeout = absl::Minutes(5);
  // How long a TLS handshake with a client may take.
  absl::Duration handshake_timeout = absl::Seconds(10);

  // Hosts whose CONNECT tunnels are relayed byte for byte, never intercepted
  // (shell globs, case-insensitive: "*.pinned.example", "10.0.0.*").
  std::vector<std::string> no_intercept;
  // Reverse mode: requests with an origin-form target ("GET /path") are
  // exchanges with this origin, for clients that cannot use a proxy.
  std::optional<core::UrlParts> reverse_upstream;
  // Reverse mode with TLS on the proxy port (certificate for the upstream's
  // host, signed by the CA).
  bool reverse_tls = false;
  // HTTP/2 with clients: intercepted TLS offers ALPN h2, and a plain
  // connection (or tunnel) that opens with the HTTP/2 preface is served as
  // h2c. Upstreams are then reached over HTTP/2 when they negotiate it.
  bool http2 = true;

  // Open connections and request durations are counted here; null: not
  // counted. Outlives every listener.
  observe::ProxyMetrics* metrics = nullptr;
};

}  // namespace matgto::proxy
