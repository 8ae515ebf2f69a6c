// Limits and timeouts of the proxy listener. Every read has a timeout and
// every buffer a limit; hitting one gives the client a specific status.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace matgto::proxy {

struct ProxyConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 8888;
  // Request line + headers; beyond: 431.
  uint32_t max_header_bytes = 64 * 1024;
  // Request body; beyond: 413. Response bodies from upstream; beyond: 502.
  uint64_t max_body_bytes = 64ull * 1024 * 1024;
  // How long a keep-alive connection may wait for its next request.
  absl::Duration idle_timeout = absl::Seconds(60);
  // How long reading one request (once its first byte arrived) may take: 408.
  absl::Duration request_timeout = absl::Seconds(30);
  // Connecting to an upstream: 502 when it fails or takes longer.
  absl::Duration upstream_connect_timeout = absl::Seconds(10);
  // Waiting for an upstream's complete response: 504 beyond.
  absl::Duration upstream_timeout = absl::Seconds(60);
  // Writing a response to a slow client.
  absl::Duration write_timeout = absl::Seconds(60);
};

}  // namespace matgto::proxy
