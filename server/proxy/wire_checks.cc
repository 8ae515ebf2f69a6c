// The checks wire.h declares for what a client sends before anything is
// forwarded: the framing of a request header, the scheme of a target, the
// session credential of a Proxy-Authorization, a CONNECT target. (Apart
// from wire.cc, which converts messages: the same header, another job.)
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/proxy/wire.h"

namespace matgto::proxy {
namespace {

// The comma-separated elements of every `name` field, trimmed (empty
// elements kept, so that "chunked,,x" can be told apart).
template <class Fields>
std::vector<std::string> Elements(const Fields& fields, http::field name) {
  std::vector<std::string> out;
  const auto [first, last] = fields.equal_range(name);
  for (auto f = first; f != last; ++f) {
    for (absl::string_view e : absl::StrSplit(
             absl::string_view(f->value().data(), f->value().size()), ',')) {
      out.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(e)));
    }
  }
  return out;
}

}  // namespace

std::optional<RequestRefusal> CheckRequestHeader(
    const http::request_header<ClientFields>& header) {
  if (header.count(http::field::host) > 1) {
    return RequestRefusal{400, "bad-request",
                          "matgto: the request has more than one Host header "
                          "(RFC 9112 3.2)"};
  }
  if (header.count(http::field::transfer_encoding) == 0) return std::nullopt;
  std::vector<std::string> codings =
      Elements(header, http::field::transfer_encoding);
  const std::string listed = absl::StrJoin(codings, ", ");
  if (header.version() < 11) {
    return RequestRefusal{
        400, "bad-transfer-encoding",
        absl::StrCat("matgto: an HTTP/1.0 request cannot carry "
                     "Transfer-Encoding (got '",
                     listed, "'; RFC 9112 6.1)")};
  }
  int chunked = 0;
  bool other = false;
  for (const std::string& c : codings) {
    // A coding may carry parameters ("gzip;q=1" is not valid here, but a
    // token is what is compared).
    absl::string_view token =
        absl::StripAsciiWhitespace(absl::string_view(c).substr(0, c.find(';')));
    if (token.empty()) {
      return RequestRefusal{
          400, "bad-transfer-encoding",
          absl::StrCat("matgto: empty coding in Transfer-Encoding '", listed,
                       "'")};
    }
    if (token == "chunked") {
      ++chunked;
    } else {
      other = true;
    }
  }
  const absl::string_view last = codings.back();
  if (last != "chunked" || chunked > 1) {
    return RequestRefusal{
        400, "bad-transfer-encoding",
        absl::StrCat("matgto: Transfer-Encoding '", listed,
                     "' does not end in a single 'chunked', so the request "
                     "body length cannot be determined (RFC 9112 6.3)")};
  }
  if (other) {
    return RequestRefusal{
        501, "transfer-coding-unsupported",
        absl::StrCat("matgto: transfer codings other than 'chunked' are not "
                     "supported (got '",
                     listed, "')")};
  }
  return std::nullopt;
}

std::string TargetScheme(absl::string_view target) {
  // RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  if (target.empty() || !absl::ascii_isalpha(target[0])) return "";
  for (size_t i = 1; i < target.size(); ++i) {
    const char c = target[i];
    if (c == ':') {
      // "host:443" is authority-form, not a scheme.
      if (target.substr(i, 3) != "://") return "";
      return absl::AsciiStrToLower(target.substr(0, i));
    }
    if (!absl::ascii_isalnum(c) && c != '+' && c != '-' && c != '.') break;
  }
  return "";
}

std::string ProxyCredential(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return "";
  const size_t space = value.find(' ');
  if (space != absl::string_view::npos &&
      core::EqualsIgnoreCase(value.substr(0, space), "basic")) {
    std::string decoded;
    if (absl::Base64Unescape(
            absl::StripAsciiWhitespace(value.substr(space + 1)), &decoded)) {
      const size_t colon = decoded.find(':');
      std::string user = decoded.substr(0, colon);
      if (!user.empty()) return user;
    }
  }
  return std::string(value);
}

bool ParseConnectTarget(absl::string_view target, std::string& host,
                        uint16_t& port) {
  size_t colon = target.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == target.size()) {
    return false;
  }
  uint32_t p = 0;
  if (!absl::SimpleAtoi(target.substr(colon + 1), &p) || p == 0 || p > 65535) {
    return false;
  }
  absl::string_view h = target.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  if (h.empty()) return false;
  host = absl::AsciiStrToLower(h);
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace matgto::proxy
