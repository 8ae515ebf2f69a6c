#include "server/proxy/wire.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "boost/beast/core/buffers_range.hpp"

namespace matgto::proxy {
namespace {

constexpr absl::string_view kHopByHop[] = {"connection",
                                           "keep-alive",
                                           "proxy-connection",
                                           "proxy-authorization",
                                           "proxy-authenticate",
                                           "te",
                                           "trailer",
                                           "upgrade"};

std::string ConnectionTokens(const core::Headers& headers) {
  std::string tokens;
  for (const core::Header& h : headers) {
    if (core::EqualsIgnoreCase(h.name, "connection")) {
      if (!tokens.empty()) tokens += ',';
      tokens += h.value;
    }
  }
  return tokens;
}

bool IsFraming(absl::string_view name) {
  return core::EqualsIgnoreCase(name, "content-length") ||
         core::EqualsIgnoreCase(name, "transfer-encoding");
}

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

std::string HostFor(const core::UrlParts& url) {
  if (url.port == core::DefaultPort(url.scheme)) {
    return url.host.find(':') != std::string::npos ? "[" + url.host + "]"
                                                   : url.host;
  }
  return core::HostPort(url.host, url.port);
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

bool IsHopByHop(absl::string_view name, absl::string_view connection_tokens) {
  // Every hop-by-hop name starts with one of these: most headers are told
  // apart by their first letter (this runs for each header of each
  // forwarded message).
  const char first = name.empty() ? '\0' : absl::ascii_tolower(name[0]);
  if (first == 'c' || first == 'k' || first == 'p' || first == 't' ||
      first == 'u') {
    for (absl::string_view h : kHopByHop) {
      if (core::EqualsIgnoreCase(name, h)) return true;
    }
  }
  if (connection_tokens.empty() || IsFraming(name) ||
      core::EqualsIgnoreCase(name, "host")) {
    return false;
  }
  for (absl::string_view token : absl::StrSplit(connection_tokens, ',')) {
    if (core::EqualsIgnoreCase(absl::StripAsciiWhitespace(token), name)) {
      return true;
    }
  }
  return false;
}

core::HttpRequest ToCore(ClientRequest&& request, std::string url) {
  core::HttpRequest out;
  out.method = std::string(request.method_string());
  out.url = std::move(url);
  out.version = request.version();
  out.headers.reserve(std::distance(request.begin(), request.end()));
  for (const auto& field : request) {
    out.headers.push_back(
        {std::string(field.name_string()), std::string(field.value())});
  }
  out.body = std::move(request.body());
  return out;
}

http::request<http::string_body> ToStdRequest(const ClientRequest& request) {
  http::request<http::string_body> out;
  out.method_string(request.method_string());
  out.target(request.target());
  out.version(request.version());
  for (const auto& field : request) {
    out.insert(field.name_string(), field.value());
  }
  out.body() = request.body();
  return out;
}

void ToCore(ClientRequest&& request, const core::UrlParts& url,
            core::HttpRequest& out) {
  const auto method = request.method_string();
  out.method.assign(method.data(), method.size());
  core::FormatUrlTo(url, out.url);
  out.version = request.version();
  out.headers.resize(std::distance(request.begin(), request.end()));
  auto header = out.headers.begin();
  for (const auto& field : request) {
    header->name.assign(field.name_string().data(), field.name_string().size());
    header->value.assign(field.value().data(), field.value().size());
    ++header;
  }
  out.body = std::move(request.body());
}

UpstreamRequest ToUpstream(const core::HttpRequest& request,
                           const core::UrlParts& url, FieldsAllocator fields) {
  UpstreamRequest out(std::piecewise_construct, std::make_tuple(),
                      std::make_tuple(fields));
  out.method_string(request.method);
  std::string target = url.path;
  if (url.has_query) {
    target += '?';
    target += url.query;
  }
  out.target(target);
  out.version(11);
  const std::string tokens = ConnectionTokens(request.headers);
  const std::string length = std::to_string(request.body.size());
  bool has_host = false;
  bool framed = false;
  for (const core::Header& h : request.headers) {
    if (IsHopByHop(h.name, tokens)) continue;
    if (IsFraming(h.name)) {
      // Whatever the client framed its body with, we send the body we hold
      // with one length of our own.
      if (!framed) out.insert(http::field::content_length, length);
      framed = true;
      continue;
    }
    if (core::EqualsIgnoreCase(h.name, "host")) has_host = true;
    out.insert(h.name, h.value);
  }
  if (!has_host) out.set(http::field::host, HostFor(url));
  if (!framed && !request.body.empty()) {
    out.set(http::field::content_length, length);
  }
  out.keep_alive(true);
  out.body() = http::span_body<const char>::value_type(request.body.data(),
                                                       request.body.size());
  return out;
}

core::HttpResponse ToCore(UpstreamResponse&& response) {
  core::HttpResponse out;
  out.status = static_cast<int>(response.result_int());
  out.reason = std::string(response.reason());
  out.version = response.version();
  out.headers.reserve(std::distance(response.begin(), response.end()));
  for (const auto& field : response) {
    out.headers.push_back(
        {std::string(field.name_string()), std::string(field.value())});
  }
  out.body = std::move(response.body());
  return out;
}

absl::StatusOr<WireResponse> ToWire(const core::HttpResponse& response,
                                    int client_version, bool keep_alive,
                                    bool head_request, FieldsAllocator fields) {
  if (response.status < 100 || response.status > 999) {
    return absl::InvalidArgumentError(absl::StrCat(
        "status ", response.status, " is not a three-digit HTTP status"));
  }
  if (response.status < 200 && response.status != 101) {
    return absl::InvalidArgumentError(
        absl::StrCat("status ", response.status,
                     " is an interim response, not a final one"));
  }
  const bool has_body =
      !head_request && !core::ResponseHasNoBody("", response.status);
  // The stored framing: chunked is kept for HTTP/1.1 clients (and then any
  // Content-Length goes); otherwise every stored length must be the body's.
  bool chunked = false;
  std::optional<uint64_t> stored_length;
  for (const core::Header& h : response.headers) {
    if (core::EqualsIgnoreCase(h.name, "transfer-encoding")) {
      chunked = absl::AsciiStrToLower(absl::StripAsciiWhitespace(h.value)) ==
                "chunked";
    } else if (core::EqualsIgnoreCase(h.name, "content-length")) {
      for (absl::string_view v : absl::StrSplit(h.value, ',')) {
        uint64_t n = 0;
        if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &n) ||
            (stored_length.has_value() && *stored_length != n)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "its Content-Length '", h.value, "' is not one decimal length"));
        }
        stored_length = n;
      }
    }
  }
  chunked = chunked && has_body && client_version >= 11;
  if (has_body && !chunked && stored_length.has_value() &&
      *stored_length != response.body.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "its Content-Length ", *stored_length, " disagrees with its body of ",
        response.body.size(), " bytes"));
  }

  WireResponse out(std::piecewise_construct, std::make_tuple(),
                   std::make_tuple(fields));
  out.result(static_cast<unsigned>(response.status));
  if (!response.reason.empty()) out.reason(response.reason);
  out.version(client_version);
  const std::string tokens = ConnectionTokens(response.headers);
  bool length_set = false;
  for (const core::Header& h : response.headers) {
    // A 407 is this proxy's own challenge: its Proxy-Authenticate is for
    // this hop (RFC 9110 11.7.1).
    if (IsHopByHop(h.name, tokens) &&
        !(response.status == 407 &&
          core::EqualsIgnoreCase(h.name, "proxy-authenticate"))) {
      continue;
    }
    if (core::EqualsIgnoreCase(h.name, "transfer-encoding")) {
      if (chunked) out.insert(h.name, "chunked");
      continue;
    }
    if (core::EqualsIgnoreCase(h.name, "content-length")) {
      if (chunked || length_set) continue;
      length_set = true;
      out.insert(h.name, has_body ? std::to_string(response.body.size())
                                  : std::to_string(*stored_length));
      continue;
    }
    out.insert(h.name, h.value);
  }
  out.body() = http::span_body<const char>::value_type(response.body.data(),
                                                       response.body.size());
  // A response an upstream delimited by closing its connection (or whose
  // Transfer-Encoding the client cannot read) gets a Content-Length so the
  // client connection can stay open.
  if (has_body && !chunked && !length_set) {
    out.content_length(response.body.size());
  }
  out.keep_alive(keep_alive);
  return out;
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

namespace {

template <class Buffers>
void AssignBuffers(const Buffers& buffers, std::string& out) {
  out.clear();
  out.reserve(boost::beast::buffer_bytes(buffers));
  for (const auto b : boost::beast::buffers_range_ref(buffers)) {
    out.append(static_cast<const char*>(b.data()), b.size());
  }
}

}  // namespace

void HeaderBytesTo(const UpstreamRequest& message, std::string& out) {
  ClientFields::writer head(message.base(), message.version(),
                            message.method());
  AssignBuffers(head.get(), out);
}

void HeaderBytesTo(const WireResponse& message, std::string& out) {
  ClientFields::writer head(message.base(), message.version(),
                            message.result_int());
  AssignBuffers(head.get(), out);
}

std::string HeaderBytes(const UpstreamRequest& message) {
  std::string out;
  HeaderBytesTo(message, out);
  return out;
}

std::string HeaderBytes(const WireResponse& message) {
  std::string out;
  HeaderBytesTo(message, out);
  return out;
}

SerializedHeads SerializeHeads(const core::HttpResponse& response) {
  SerializedHeads heads;
  if (core::ResponseHasNoBody("", response.status)) return heads;
  for (const bool keep_alive : {true, false}) {
    absl::StatusOr<WireResponse> wire = ToWire(response, 11, keep_alive);
    if (!wire.ok() || wire->chunked()) return SerializedHeads{};
    (keep_alive ? heads.keep_alive : heads.close) = HeaderBytes(*wire);
  }
  return heads;
}

}  // namespace matgto::proxy
