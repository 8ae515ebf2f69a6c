// Conversions between Beast HTTP messages and matgto's core values, and the
// hop-by-hop rules of a forward proxy (RFC 9110 7.6.1).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/core/http.h"
#include "server/core/url.h"

namespace matgto::proxy {

namespace http = boost::beast::http;

// A client request's header fields (and start line) are allocated from a
// memory resource of its connection (a FieldsArena, below),
// reused for each request: a warm connection parses without malloc. A
// default-constructed allocator uses the default resource (new/delete).
using FieldsAllocator = std::pmr::polymorphic_allocator<char>;
using ClientFields = http::basic_fields<FieldsAllocator>;
using ClientRequest = http::request<http::string_body, ClientFields>;
// The request sent upstream uses the fields memory of its upstream
// connection (FieldsArena), reused for each exchange on it.
using UpstreamRequest =
    http::request<http::span_body<const char>, ClientFields>;

// The memory a message's Beast fields use: a buffer allocated at the first
// message and handed out again for each next one (the message before it
// is gone by then: one at a time); beyond it, new/delete until the next
// Reset. A warm connection parses and builds headers without malloc.
class FieldsArena {
 public:
  // `bytes`: the buffer, enough for a usual message's header.
  explicit FieldsArena(size_t bytes = 4096) : bytes_(bytes) {}

  FieldsAllocator Reset() {
    if (buffer_ == nullptr) buffer_ = std::make_unique<std::byte[]>(bytes_);
    resource_.emplace(buffer_.get(), bytes_, std::pmr::new_delete_resource());
    return FieldsAllocator(&*resource_);
  }

 private:
  const size_t bytes_;
  std::unique_ptr<std::byte[]> buffer_;
  std::optional<std::pmr::monotonic_buffer_resource> resource_;
};
using WireResponse = http::response<http::span_body<const char>, ClientFields>;

// True for headers that belong to one hop and are not forwarded:
// Connection, Keep-Alive, Proxy-Connection, Proxy-Authorization, TE,
// Trailer, Upgrade, and any name listed in `connection_tokens` -- except
// the framing headers (Content-Length, Transfer-Encoding) and Host, which a
// client cannot make hop-by-hop: every forwarded message is re-framed by us
// (listing them in Connection was a request-smuggling vector).
bool IsHopByHop(absl::string_view name, absl::string_view connection_tokens);

// A request refused from its header alone, before any body is read.
struct RequestRefusal {
  int status = 400;
  std::string code;  // X-Matgto-Error
  std::string message;
};

// Checks the framing and routing headers of a client request as soon as
// they are read (RFC 9112 6.1, 6.3, 3.2): a Transfer-Encoding whose final
// coding is not `chunked`, that applies `chunked` twice, or that comes in
// an HTTP/1.0 request is 400 `bad-transfer-encoding` (its body length
// cannot be known: forwarding it would let the body pass as a second
// request); codings other than `chunked` (`gzip, chunked`) are 501
// `transfer-coding-unsupported`; more than one Host is 400 `bad-request`.
std::optional<RequestRefusal> CheckRequestHeader(
    const http::request_header<ClientFields>& header);

// The scheme of an absolute-form target ("ftp" for "ftp://h/x"), lower
// case; empty when `target` does not start with "scheme://".
std::string TargetScheme(absl::string_view target);

// The Host header value for `url`'s authority (default port left out,
// IPv6 literals in brackets).
std::string HostFor(const core::UrlParts& url);
// The same into `out` (its capacity kept).
void HostForTo(const core::UrlParts& url, std::string& out);

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
// A copy with std::allocator fields (what the WebSocket layer takes).
http::request<http::string_body> ToStdRequest(const ClientRequest& request);
// The same into `out`, whose strings and header list keep their capacity
// from one request to the next; the URL formatted from `url`. With
// `host_from_url`, the client's Host header gives way to HostFor(url), last
// (where Beast's set() of the field would put it).
void ToCore(ClientRequest&& request, const core::UrlParts& url,
            bool host_from_url, core::HttpRequest& out);

// The request sent upstream for `request` (origin-form target, hop-by-hop
// headers removed, keep-alive, re-framed: whatever Content-Length or
// Transfer-Encoding the client sent is replaced by one Content-Length of the
// body we hold, at the place of the first of them; a Host is added when
// missing). The body is referenced, not copied: `request` must outlive the
// returned message.
// `fields`: where its fields live (default: new/delete).
UpstreamRequest ToUpstream(const core::HttpRequest& request,
                           const core::UrlParts& url,
                           FieldsAllocator fields = {});

// The request line and header block of ToUpstream(request, url) as
// HeaderBytesTo writes them, built straight into `out` (replaced; its
// capacity is kept) without Beast fields: what each forwarded request
// costs. Fields keep their order (Beast would move a repeated field next
// to its first occurrence).
void UpstreamHeadTo(const core::HttpRequest& request, const core::UrlParts& url,
                    std::string& out);

// The message written to the client for `response` (hop-by-hop headers
// removed, keep-alive as the client asked, re-framed: a stored
// `Transfer-Encoding: chunked` stays for HTTP/1.1 clients, any other
// Transfer-Encoding is dropped and the body gets a Content-Length).
// References the body of `response`, which must outlive the returned
// message. INVALID_ARGUMENT (the message says why) for a response that
// cannot be sent as HTTP/1.1: a status outside 100-999, an interim (1xx)
// status other than 101, or a stored Content-Length that disagrees with the
// body (a hand-edited cassette); `head_request` responses and bodyless
// statuses keep their Content-Length as stored. `fields`: where the
// message's fields live (default: new/delete).
absl::StatusOr<WireResponse> ToWire(const core::HttpResponse& response,
                                    int client_version, bool keep_alive,
                                    bool head_request = false,
                                    FieldsAllocator fields = {});

// The status line and header block of ToWire(...) as HeaderBytesTo writes
// them, built straight into `out` (replaced; capacity kept) without Beast
// fields. The same checks as ToWire, the same errors (`out` is then
// empty). `chunked`: the body goes chunked on the wire (Beast's serializer
// writes it). Fields keep their order, as UpstreamHeadTo's do.
absl::Status WireHeadTo(const core::HttpResponse& response, int client_version,
                        bool keep_alive, bool head_request, std::string& out,
                        bool& chunked);

// The request line or status line and header block of `message` as the
// bytes Beast writes before the body; the body follows as is unless the
// message is chunked. Writing these and the body in one gather write
// costs less than Beast's serializer, which walks the header in pieces.
std::string HeaderBytes(const UpstreamRequest& message);
std::string HeaderBytes(const WireResponse& message);
// The same into `out` (replaced; its capacity is kept, so a connection that
// reuses one buffer allocates nothing per message once it has grown).
void HeaderBytesTo(const UpstreamRequest& message, std::string& out);
void HeaderBytesTo(const WireResponse& message, std::string& out);

// The status line and header block ToWire gives `response` for an HTTP/1.1
// client, serialized, with and without keep-alive; both empty when the
// response cannot go out as those bytes followed by its body: ToWire
// refuses it, its body is chunked on the wire, or its status has no body.
struct SerializedHeads {
  std::string keep_alive;
  std::string close;
};
SerializedHeads SerializeHeads(const core::HttpResponse& response);

}  // namespace matgto::proxy
