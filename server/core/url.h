// Absolute URL handling for recorded requests, built on Boost.URL.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace matgto::core {

// The parts of an absolute http(s)/ws(s) URL that matching compares.
struct UrlParts {
  std::string scheme;  // lower case
  std::string host;    // lower case; IPv6 without brackets
  uint16_t port = 0;   // explicit or the scheme's default
  std::string path;    // "/" when empty
  std::string query;   // without '?'; empty when absent
  bool has_query = false;
};

// Parses an absolute URL. INVALID_ARGUMENT when it is not absolute or its
// scheme is not http, https, ws or wss.
absl::StatusOr<UrlParts> ParseAbsoluteUrl(absl::string_view url);

// The canonical string form: lower-case scheme and host, the default port
// left out, an empty path written as "/". Path and query are kept byte for
// byte (no percent-decoding), so two requests differ only when their bytes do.
std::string FormatUrl(const UrlParts& parts);
// The same into `out` (replacing what it held, keeping its capacity).
void FormatUrlTo(const UrlParts& parts, std::string& out);

// The port a scheme implies: 80 for http/ws, 443 for https/wss, else 0.
uint16_t DefaultPort(absl::string_view scheme);

// "host:port" with IPv6 hosts bracketed, for connecting and for Host headers.
std::string HostPort(absl::string_view host, uint16_t port);

}  // namespace matgto::core
