#include "server/core/url.h"

#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace matgto::core {

uint16_t DefaultPort(absl::string_view scheme) {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  return 0;
}

namespace {

absl::StatusOr<UrlParts> Parse(absl::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(
      boost::core::string_view(url.data(), url.size()));
  auto view = [](boost::core::string_view s) {
    return absl::string_view(s.data(), s.size());
  };
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an absolute URL: '", url, "'"));
  }
  const boost::urls::url_view& u = *parsed;
  UrlParts parts;
  parts.scheme = absl::AsciiStrToLower(view(u.scheme()));
  if (DefaultPort(parts.scheme) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported URL scheme '", parts.scheme, "' in '", url, "'"));
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL has no host: '", url, "'"));
  }
  std::string host(u.encoded_host_address());
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  parts.host = absl::AsciiStrToLower(host);
  if (u.has_port() && !u.port().empty()) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(absl::string_view(u.port().data(), u.port().size()),
                          &port) ||
        port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad port in URL '", url, "'"));
    }
    parts.port = static_cast<uint16_t>(port);
  } else {
    parts.port = DefaultPort(parts.scheme);
  }
  parts.path = std::string(u.encoded_path());
  // After an authority a path is empty or starts with "/" (RFC 3986 3.3);
  // Boost.URL reads "http://h:x/p" or "http://h:::1/p" as host "h", an
  // empty port and the path "x/p", which would record another host.
  if (!parts.path.empty() && parts.path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port or authority in URL '", url, "'"));
  }
  // (push_back: GCC 12 warns falsely (-Wrestrict) on assigning a literal.)
  if (parts.path.empty()) parts.path.push_back('/');
  parts.has_query = u.has_query();
  parts.query = std::string(u.encoded_query());
  return parts;
}

// A URL a thread parsed, with its parts.
struct Remembered {
  std::string url;
  UrlParts parts;
};
constexpr size_t kRemembered = 64;
constexpr size_t kRememberedUrlBytes = 512;

}  // namespace

absl::StatusOr<UrlParts> ParseAbsoluteUrl(absl::string_view url) {
  // Each thread remembers the last URLs it parsed (direct-mapped by hash):
  // a proxy sees the same few targets over and over (a suite's handful of
  // endpoints), and a full RFC 3986 parse was about 4% of a replayed
  // request's CPU. A request's URL is parsed more than once (its target,
  // then its match), so one is kept from the first parse: copying it in
  // costs a tenth of parsing it again, even when every URL is new (a
  // cassette of ten thousand endpoints). Only URLs that parsed, and not
  // long ones.
  if (url.size() > kRememberedUrlBytes) return Parse(url);
  thread_local std::array<Remembered, kRemembered> remembered;
  Remembered& slot = remembered[absl::HashOf(url) % kRemembered];
  if (!slot.url.empty() && slot.url == url) return slot.parts;
  absl::StatusOr<UrlParts> parts = Parse(url);
  if (parts.ok()) {
    slot.url.assign(url.data(), url.size());
    slot.parts = *parts;
  }
  return parts;
}

std::string HostPort(absl::string_view host, uint16_t port) {
  if (host.find(':') != absl::string_view::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

std::string FormatUrl(const UrlParts& parts) {
  std::string out;
  FormatUrlTo(parts, out);
  return out;
}

void FormatUrlTo(const UrlParts& parts, std::string& out) {
  out.clear();
  absl::StrAppend(&out, parts.scheme, "://");
  if (parts.host.find(':') != std::string::npos) {
    absl::StrAppend(&out, "[", parts.host, "]");
  } else {
    absl::StrAppend(&out, parts.host);
  }
  if (parts.port != DefaultPort(parts.scheme)) {
    absl::StrAppend(&out, ":", parts.port);
  }
  absl::StrAppend(&out, parts.path);
  if (parts.has_query) absl::StrAppend(&out, "?", parts.query);
}

}  // namespace matgto::core
