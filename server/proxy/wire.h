// Conversions between Beast HTTP messages and matgto's core values, and the
// hop-by-hop rules of a forward proxy (RFC 9110 7.6.1).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/core/http.h"
#include "server/core/url.h"

namespace matgto::proxy {

namespace http = boost::beast::http;

using ClientRequest = http::request<http::string_body>;
using UpstreamRequest = http::request<http::span_body<const char>>;
using WireResponse = http::response<http::span_body<const char>>;

// True for headers that belong to one hop and are not forwarded:
// Connection, Keep-Alive, Proxy-Connection, Proxy-Authorization, TE,
// Trailer, Upgrade, and any name listed in `connection_tokens`.
bool IsHopByHop(absl::string_view name, absl::string_view connection_tokens);

// The session credential a `Proxy-Authorization` value carries: the user of
// `Basic base64(user:password)` (the password is ignored); the whole value
// when it is not Basic or does not decode, so that it names no session.
// Empty for an empty value.
std::string ProxyCredential(absl::string_view proxy_authorization);

// The host (lower case, IPv6 without brackets) and port of a CONNECT
// request's "host:port" or "[v6]:port" target; false when it is not one.
// (Here rather than in connection.cc so the fuzz targets reach it.)
bool ParseConnectTarget(absl::string_view target, std::string& host,
                        uint16_t& port);

// Moves a parsed client request into a core request for absolute URL `url`.
core::HttpRequest ToCore(ClientRequest&& request, std::string url);

// The request sent upstream for `request` (origin-form target, hop-by-hop
// headers removed, keep-alive). The body is referenced, not copied: `request`
// must outlive the returned message.
UpstreamRequest ToUpstream(const core::HttpRequest& request,
                           const core::UrlParts& url);

// Moves an upstream response into a core response.
core::HttpResponse ToCore(http::response<http::string_body>&& response);

// The message written to the client for `response` (hop-by-hop headers
// removed, framing fixed up, keep-alive as the client asked). References the
// body of `response`, which must outlive the returned message.
WireResponse ToWire(const core::HttpResponse& response, int client_version,
                    bool keep_alive);

}  // namespace matgto::proxy
