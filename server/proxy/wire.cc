#include "server/proxy/wire.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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

}  // namespace

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
  for (absl::string_view h : kHopByHop) {
    if (core::EqualsIgnoreCase(name, h)) return true;
  }
  if (connection_tokens.empty()) return false;
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

UpstreamRequest ToUpstream(const core::HttpRequest& request,
                           const core::UrlParts& url) {
  UpstreamRequest out;
  out.method_string(request.method);
  std::string target = url.path;
  if (url.has_query) {
    target += '?';
    target += url.query;
  }
  out.target(target);
  out.version(11);
  const std::string tokens = ConnectionTokens(request.headers);
  bool has_host = false;
  for (const core::Header& h : request.headers) {
    if (IsHopByHop(h.name, tokens)) continue;
    if (core::EqualsIgnoreCase(h.name, "host")) has_host = true;
    out.insert(h.name, h.value);
  }
  if (!has_host) {
    out.set(http::field::host, url.port == core::DefaultPort(url.scheme)
                                   ? (url.host.find(':') != std::string::npos
                                          ? "[" + url.host + "]"
                                          : url.host)
                                   : core::HostPort(url.host, url.port));
  }
  out.keep_alive(true);
  out.body() = http::span_body<const char>::value_type(request.body.data(),
                                                       request.body.size());
  return out;
}

core::HttpResponse ToCore(http::response<http::string_body>&& response) {
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

WireResponse ToWire(const core::HttpResponse& response, int client_version,
                    bool keep_alive) {
  WireResponse out;
  out.result(static_cast<unsigned>(response.status));
  if (!response.reason.empty()) out.reason(response.reason);
  out.version(client_version);
  const std::string tokens = ConnectionTokens(response.headers);
  bool framed = false;
  for (const core::Header& h : response.headers) {
    // A 407 is this proxy's own challenge: its Proxy-Authenticate is for
    // this hop (RFC 9110 11.7.1).
    if (IsHopByHop(h.name, tokens) &&
        !(response.status == 407 &&
          core::EqualsIgnoreCase(h.name, "proxy-authenticate"))) {
      continue;
    }
    // HTTP/1.0 clients cannot read chunked framing: they get a length.
    if (client_version < 11 &&
        core::EqualsIgnoreCase(h.name, "transfer-encoding")) {
      continue;
    }
    if (core::EqualsIgnoreCase(h.name, "content-length") ||
        core::EqualsIgnoreCase(h.name, "transfer-encoding")) {
      framed = true;
    }
    out.insert(h.name, h.value);
  }
  out.body() = http::span_body<const char>::value_type(response.body.data(),
                                                       response.body.size());
  // A response an upstream delimited by closing its connection gets a
  // Content-Length so the client connection can stay open.
  if (!framed && !core::ResponseHasNoBody("", response.status)) {
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

}  // namespace matgto::proxy
