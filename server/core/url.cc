#include "server/core/url.h"

#include <array>
#include <boost/url/grammar/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/pct_encoded_rule.hpp>
#include <boost/url/url_view.hpp>
#include <optional>

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

// The origin of a URL a thread parsed: the bytes before its path
// ("scheme://authority") with the parts they gave (scheme, host, port).
struct RememberedOrigin {
  std::string prefix;
  UrlParts parts;
};
constexpr size_t kRememberedOrigins = 16;

// Where the path of `url` starts when it has the shape
// "scheme://authority/...", else npos. The authority ends at the first '/',
// '?' or '#' (RFC 3986 3.2), so what follows cannot change how it parses.
size_t PathStart(absl::string_view url) {
  // (Loops rather than find("://") and find_first_of: this runs for each
  // new URL, and those calls cost more than the few bytes they look at.
  // A scheme has no ':' of its own, so its end is the first one.)
  const size_t colon = url.find(':');
  if (colon == absl::string_view::npos || url.size() - colon < 3 ||
      url[colon + 1] != '/' || url[colon + 2] != '/') {
    return absl::string_view::npos;
  }
  for (size_t i = colon + 3; i < url.size(); ++i) {
    const char c = url[i];
    if (c == '/') return i;
    if (c == '?' || c == '#') break;
  }
  return absl::string_view::npos;
}

// Parses `url` whose origin (the bytes before `path_start`) is known to
// parse into `origin`, into `out`: only its path and query are left to
// read. They are read with Boost.URL's percent-encoded rule over RFC 3986's
// characters (pchar and "/" for the path, and "?" for the query), which is
// what a full parse accepts there. False when they do not parse so (`out`
// then holds some of them), which is also the case for the few characters
// Boost.URL accepts in a query beyond the RFC's ("[", "]"): the caller
// parses in full then, and gets what a first parse gets, an error included.
bool ParseAfterOrigin(absl::string_view url, size_t path_start,
                      const UrlParts& origin, UrlParts& out) {
  static constexpr auto kPathChars = boost::urls::pchars + '/';
  static constexpr auto kQueryChars = boost::urls::pchars + '/' + '?';
  const char* it = url.data() + path_start;
  const char* const end = url.data() + url.size();
  auto path = boost::urls::grammar::parse(
      it, end, boost::urls::pct_encoded_rule(kPathChars));
  if (!path) return false;
  out.path.assign(path->data(), path->size());
  out.has_query = false;
  out.query.clear();
  if (it != end) {
    if (*it != '?') return false;
    ++it;
    auto query = boost::urls::grammar::parse(
        it, end, boost::urls::pct_encoded_rule(kQueryChars));
    if (!query || it != end) return false;
    out.has_query = true;
    out.query.assign(query->data(), query->size());
  }
  out.scheme = origin.scheme;
  out.host = origin.host;
  out.port = origin.port;
  return true;
}

// A thread's remembered origins, direct-mapped by hash; the slot of the
// last one used is tried before hashing (a proxy mostly sees one origin
// after another the same).
struct Origins {
  std::array<RememberedOrigin, kRememberedOrigins> slots;
  size_t last = 0;

  RememberedOrigin& SlotFor(absl::string_view prefix) {
    if (slots[last].prefix != prefix) {
      last = absl::HashOf(prefix) % kRememberedOrigins;
    }
    return slots[last];
  }
};

}  // namespace

absl::StatusOr<UrlParts> ParseAbsoluteUrl(absl::string_view url) {
  // Each thread remembers the last URLs it parsed (direct-mapped by hash):
  // a proxy sees the same few targets over and over (a suite's handful of
  // endpoints), and a full RFC 3986 parse was about 4% of a replayed
  // request's CPU. A request's URL is parsed more than once (its target,
  // then its match), so one is kept from the first parse: copying it in
  // costs a tenth of parsing it again. Only URLs that parsed, and not long
  // ones.
  //
  // URLs that are each new (ten thousand endpoints, an id in every path)
  // still share a few origins: those are remembered too, and a new URL on a
  // known origin has only its path and query parsed (the authority's parse
  // was three quarters of the cost), straight into the URL's slot.
  if (url.size() > kRememberedUrlBytes) return Parse(url);
  thread_local std::array<Remembered, kRemembered> remembered;
  Remembered& slot = remembered[absl::HashOf(url) % kRemembered];
  if (!slot.url.empty() && slot.url == url) return slot.parts;
  // The slot holds no URL while its parts are overwritten.
  slot.url.clear();
  const size_t path_start = PathStart(url);
  RememberedOrigin* new_origin = nullptr;
  if (path_start != absl::string_view::npos) {
    thread_local Origins origins;
    const absl::string_view prefix = url.substr(0, path_start);
    RememberedOrigin& origin = origins.SlotFor(prefix);
    if (origin.prefix.empty() || origin.prefix != prefix) {
      new_origin = &origin;  // remembered below if the URL parses
    } else if (ParseAfterOrigin(url, path_start, origin.parts, slot.parts)) {
      slot.url.assign(url.data(), url.size());
      return slot.parts;
    }
  }
  absl::StatusOr<UrlParts> parts = Parse(url);
  if (parts.ok()) {
    slot.url.assign(url.data(), url.size());
    slot.parts = *parts;
    if (new_origin != nullptr) {
      new_origin->prefix.assign(url.data(), path_start);
      new_origin->parts.scheme = parts->scheme;
      new_origin->parts.host = parts->host;
      new_origin->parts.port = parts->port;
    }
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
