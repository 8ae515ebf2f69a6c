#include "connect_util.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "matgto/errors.h"

namespace matgto::internal {

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string()
                      : std::string(absl::StripAsciiWhitespace(v));
}

std::string ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InvalidArgument("Connect", absl::StatusCode::kInvalidArgument,
                          absl::StrCat("cannot read the ", what, " ", path));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool IsLoopbackTarget(std::string_view target) {
  if (target.starts_with("unix:") || target.starts_with("unix-abstract:")) {
    return true;
  }
  for (std::string_view p : {"dns:", "ipv4:", "ipv6:", "passthrough:"}) {
    if (target.starts_with(p)) target.remove_prefix(p.size());
  }
  if (size_t slash = target.rfind('/'); slash != std::string_view::npos) {
    target.remove_prefix(slash + 1);
  }
  std::string host(target);
  if (!host.empty() && host[0] == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  absl::AsciiStrToLower(&host);
  if (host == "localhost" || absl::EndsWith(host, ".localhost") ||
      host == "::1") {
    return true;
  }
  // 127.0.0.0/8, written as a dotted quad.
  if (!absl::StartsWith(host, "127.")) return false;
  return host.find_first_not_of("0123456789.") == std::string::npos &&
         std::count(host.begin(), host.end(), '.') == 3;
}

std::string DefaultOwner() {
  return absl::StrCat("c++ ", program_invocation_short_name, " pid ", getpid());
}

std::string Truncate(std::string s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

}  // namespace matgto::internal
