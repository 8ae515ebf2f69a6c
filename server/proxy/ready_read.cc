#include "server/proxy/ready_read.h"

#include <cstdint>

#include "server/core/http.h"

namespace matgto::proxy {

bool EndsARequestHead(std::string_view bytes) {
  return bytes.ends_with("\r\n\r\n");
}

bool EndsAWholeResponse(std::string_view bytes) {
  const size_t blank = bytes.find("\r\n\r\n");
  if (blank == std::string_view::npos) return false;
  // "HTTP/1.1 200 ...": a final status (an interim one, 1xx, is followed by
  // another response).
  constexpr std::string_view kVersion = "HTTP/1.1 ";
  if (!bytes.starts_with(kVersion) || blank < kVersion.size() + 3 ||
      bytes[kVersion.size()] < '2' || bytes[kVersion.size()] > '5') {
    return false;
  }
  // Each field line "name:value\r\n" after the status line, up to the
  // blank line.
  const std::string_view fields = bytes.substr(0, blank + 2);
  bool has_length = false;
  uint64_t length = 0;
  for (size_t at = fields.find("\r\n") + 2; at < fields.size();) {
    const size_t eol = fields.find("\r\n", at);
    const std::string_view line = fields.substr(at, eol - at);
    at = eol + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const absl::string_view name(line.data(), colon);
    if (core::EqualsIgnoreCase(name, "transfer-encoding")) return false;
    if (!core::EqualsIgnoreCase(name, "content-length")) continue;
    if (has_length) return false;  // two of them: Beast decides
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    // (At most 15 digits: no overflow, and far beyond a read.)
    if (value.empty() || value.size() > 15) return false;
    for (const char c : value) {
      if (c < '0' || c > '9') return false;
      length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    has_length = true;
  }
  return has_length && bytes.size() - (blank + 4) == length;
}

}  // namespace matgto::proxy
