#include "server/proxy/ready_read.h"

#include <cstdint>
#include <cstring>

#include "server/core/http.h"

namespace matgto::proxy {

bool EndsARequestHead(std::string_view bytes) {
  return bytes.ends_with("\r\n\r\n");
}

bool EndsAWholeResponse(std::string_view bytes) {
  // "HTTP/1.1 200 ...": a final status (an interim one, 1xx, is followed by
  // another response).
  constexpr std::string_view kVersion = "HTTP/1.1 ";
  if (!bytes.starts_with(kVersion) || bytes.size() < kVersion.size() + 3 ||
      bytes[kVersion.size()] < '2' || bytes[kVersion.size()] > '5') {
    return false;
  }
  // Line by line (each found with memchr) to the blank line. Only a field
  // whose name starts with C or T can matter: the others (and the status
  // line) are stepped over without looking for their colon.
  bool has_length = false;
  uint64_t length = 0;
  size_t at = 0;
  for (;;) {
    const void* lf = std::memchr(bytes.data() + at, '\n', bytes.size() - at);
    if (lf == nullptr) return false;  // a header block cut short
    const size_t eol =
        static_cast<size_t>(static_cast<const char*>(lf) - bytes.data());
    if (eol == at || bytes[eol - 1] != '\r') return false;  // a bare LF
    const std::string_view line = bytes.substr(at, eol - 1 - at);
    at = eol + 1;
    if (line.empty()) break;  // the blank line: the body follows
    const char first = static_cast<char>(line[0] | 0x20);
    if (first != 'c' && first != 't') continue;
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
  return has_length && bytes.size() - at == length;
}

}  // namespace matgto::proxy
