#include "server/proxy/wire.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "boost/beast/core/buffers_range.hpp"
#include "server/core/appender.h"

namespace matgto::proxy {
namespace {

// The header names the forwarding rules single out (RFC 9110 7.6.1 for the
// hop-by-hop ones), told apart by their length first: most names have a
// length none of these has and are settled without a comparison. This
// runs for each header of each forwarded message.
enum class Kind {
  kOther,
  kHop,  // Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, ...
  kConnection,
  kProxyAuthenticate,  // hop-by-hop, but kept on a 407
  kContentLength,
  kTransferEncoding,
  kHost,
};

Kind KindOf(absl::string_view name) {
  // (The first letter rules most names out without a call: x | 0x20 is
  // the lower-case letter only for that letter in either case.)
  auto is = [name](absl::string_view lower) {
    return (name[0] | 0x20) == lower[0] && core::EqualsIgnoreCase(name, lower);
  };
  switch (name.size()) {
    case 2:
      return is("te") ? Kind::kHop : Kind::kOther;
    case 4:
      return is("host") ? Kind::kHost : Kind::kOther;
    case 7:
      return is("trailer") || is("upgrade") ? Kind::kHop : Kind::kOther;
    case 10:
      if (is("connection")) return Kind::kConnection;
      return is("keep-alive") ? Kind::kHop : Kind::kOther;
    case 14:
      return is("content-length") ? Kind::kContentLength : Kind::kOther;
    case 16:
      return is("proxy-connection") ? Kind::kHop : Kind::kOther;
    case 17:
      return is("transfer-encoding") ? Kind::kTransferEncoding : Kind::kOther;
    case 18:
      return is("proxy-authenticate") ? Kind::kProxyAuthenticate : Kind::kOther;
    case 19:
      return is("proxy-authorization") ? Kind::kHop : Kind::kOther;
    default:
      return Kind::kOther;
  }
}

bool IsStandardHop(Kind kind) {
  return kind == Kind::kHop || kind == Kind::kConnection ||
         kind == Kind::kProxyAuthenticate;
}

bool IsFraming(Kind kind) {
  return kind == Kind::kContentLength || kind == Kind::kTransferEncoding;
}

// IsHopByHop (wire.h) for a name whose kind is known.
bool IsHopByHop(Kind kind, absl::string_view name,
                absl::string_view connection_tokens) {
  if (IsStandardHop(kind)) return true;
  if (connection_tokens.empty() || IsFraming(kind) || kind == Kind::kHost) {
    return false;
  }
  for (absl::string_view token : absl::StrSplit(connection_tokens, ',')) {
    if (core::EqualsIgnoreCase(absl::StripAsciiWhitespace(token), name)) {
      return true;
    }
  }
  return false;
}

// The kinds of a message's header names, each name classified once for
// the several passes over its headers (the first kMax; any beyond are
// classified again when asked for).
class HeaderKinds {
 public:
  explicit HeaderKinds(const core::Headers& headers) : headers_(headers) {
    const size_t n = std::min(headers.size(), kMax);
    for (size_t i = 0; i < n; ++i) {
      kinds_[i] = KindOf(headers[i].name);
      has_connection_ = has_connection_ || kinds_[i] == Kind::kConnection;
    }
    for (size_t i = n; i < headers.size() && !has_connection_; ++i) {
      has_connection_ = KindOf(headers[i].name) == Kind::kConnection;
    }
  }
  Kind operator[](size_t i) const {
    return i < kMax ? kinds_[i] : KindOf(headers_[i].name);
  }
  bool has_connection() const { return has_connection_; }

 private:
  static constexpr size_t kMax = 32;
  const core::Headers& headers_;
  std::array<Kind, kMax> kinds_;
  bool has_connection_ = false;
};

// The names a message's Connection headers list, comma-separated, less
// those that change nothing: "close" (an option, not a header) and the
// standard hop-by-hop names, dropped anyway. Most messages ("Connection:
// keep-alive") thus list none, and IsHopByHop has no tokens to check.
std::string ConnectionTokens(const core::Headers& headers,
                             const HeaderKinds& kinds) {
  std::string tokens;
  if (!kinds.has_connection()) return tokens;
  for (size_t i = 0; i < headers.size(); ++i) {
    const core::Header& h = headers[i];
    if (kinds[i] != Kind::kConnection) continue;
    if (core::EqualsIgnoreCase(h.value, "keep-alive") ||
        core::EqualsIgnoreCase(h.value, "close")) {
      continue;  // the usual values, which name no header
    }
    for (absl::string_view token : absl::StrSplit(h.value, ',')) {
      token = absl::StripAsciiWhitespace(token);
      if (token.empty() || core::EqualsIgnoreCase(token, "close") ||
          IsStandardHop(KindOf(token))) {
        continue;
      }
      if (!tokens.empty()) tokens += ',';
      absl::StrAppend(&tokens, token);
    }
  }
  return tokens;
}

}  // namespace

std::string HostFor(const core::UrlParts& url) {
  std::string out;
  HostForTo(url, out);
  return out;
}

void HostForTo(const core::UrlParts& url, std::string& out) {
  out.clear();
  core::Appender append(out, url.host.size() + 8);
  if (url.host.find(':') != std::string::npos) {
    append << '[' << url.host << ']';
  } else {
    append << url.host;
  }
  if (url.port != core::DefaultPort(url.scheme)) {
    append << ':' << static_cast<uint64_t>(url.port);
  }
  append.Finish();
}

bool IsHopByHop(absl::string_view name, absl::string_view connection_tokens) {
  return IsHopByHop(KindOf(name), name, connection_tokens);
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
            bool host_from_url, core::HttpRequest& out) {
  const auto method = request.method_string();
  out.method.assign(method.data(), method.size());
  core::FormatUrlTo(url, out.url);
  out.version = request.version();
  out.headers.resize(std::distance(request.begin(), request.end()) +
                     (host_from_url ? 1 : 0));
  auto header = out.headers.begin();
  for (const auto& field : request) {
    if (host_from_url && field.name() == http::field::host) continue;
    header->name.assign(field.name_string().data(), field.name_string().size());
    header->value.assign(field.value().data(), field.value().size());
    ++header;
  }
  if (host_from_url) {
    const auto name = http::to_string(http::field::host);
    header->name.assign(name.data(), name.size());
    HostForTo(url, header->value);
    ++header;
  }
  out.headers.erase(header, out.headers.end());
  out.body = std::move(request.body());
}

namespace {

// A message's start line and fields as ToUpstream and ToWire decide them,
// built in one of two forms: a Beast message (BeastHead), or the bytes of
// its header block, written straight into a string (BytesHead) -- what
// the proxy sends on each forwarded exchange, without building Beast
// fields only to serialise them again. Both take the same calls from the
// same Build* function, so they cannot disagree on what is sent.

boost::beast::string_view Sv(absl::string_view s) {
  return boost::beast::string_view(s.data(), s.size());
}

// Into a Beast message (`Message` is UpstreamRequest or WireResponse).
template <class Message>
class BeastHead {
 public:
  explicit BeastHead(Message& out) : out_(out) {}
  void RequestLine(absl::string_view method, absl::string_view target) {
    out_.method_string(Sv(method));
    out_.target(Sv(target));
    out_.version(11);
  }
  void StatusLine(int status, absl::string_view reason, int version) {
    out_.result(static_cast<unsigned>(status));
    if (!reason.empty()) out_.reason(Sv(reason));
    out_.version(version);
  }
  void Add(absl::string_view name, absl::string_view value) {
    out_.insert(Sv(name), Sv(value));
  }
  void Add(http::field name, absl::string_view value) {
    out_.insert(name, Sv(value));
  }
  // Fields added last (Beast's set() of a field not yet present).
  void Set(http::field name, absl::string_view value) {
    out_.set(name, Sv(value));
  }
  void ContentLength(uint64_t length) { out_.content_length(length); }
  void KeepAlive(bool keep_alive) { out_.keep_alive(keep_alive); }

 private:
  Message& out_;
};

// Into the bytes Beast's serializer would write for the same message: the
// start line, "Name: value\r\n" per field with the value trimmed of
// spaces and tabs as Beast trims it, and the blank line (End). One
// difference: Beast moves a repeated field next to its first occurrence;
// here fields keep the order they come in.
class BytesHead {
 public:
  explicit BytesHead(std::string& out)
      : str_(out), out_(Cleared(out), kExpectedHead) {}
  void RequestLine(absl::string_view method, absl::string_view target) {
    version_ = 11;
    out_ << method << ' ' << target << " HTTP/1.1\r\n";
  }
  void StatusLine(int status, absl::string_view reason, int version) {
    version_ = version;
    const char line[] = {'H',
                         'T',
                         'T',
                         'P',
                         '/',
                         static_cast<char>('0' + version / 10),
                         '.',
                         static_cast<char>('0' + version % 10),
                         ' ',
                         static_cast<char>('0' + status / 100),
                         static_cast<char>('0' + status / 10 % 10),
                         static_cast<char>('0' + status % 10),
                         ' '};
    if (reason.empty()) {
      const auto standard =
          http::obsolete_reason(static_cast<http::status>(status));
      reason = absl::string_view(standard.data(), standard.size());
    }
    out_ << absl::string_view(line, sizeof line) << reason << "\r\n";
  }
  void Add(absl::string_view name, absl::string_view value) {
    out_.Append(name, ':', ' ', Trim(value), '\r', '\n');
  }
  void Add(http::field name, absl::string_view value) {
    const auto n = http::to_string(name);
    Add(absl::string_view(n.data(), n.size()), value);
  }
  void Set(http::field name, absl::string_view value) { Add(name, value); }
  void ContentLength(uint64_t length) {
    out_ << "Content-Length: " << length << "\r\n";
  }
  // What Beast's keep_alive() adds to a message with no Connection field
  // (every Connection field is hop-by-hop, so there is none).
  void KeepAlive(bool keep_alive) {
    if (version_ >= 11 && !keep_alive) Add(http::field::connection, "close");
    if (version_ < 11 && keep_alive) {
      Add(http::field::connection, "keep-alive");
    }
  }
  // The blank line: the string holds the header block.
  void End() {
    out_ << "\r\n";
    out_.Finish();
  }
  // Leaves the string empty (a head that could not be built).
  void Discard() {
    out_.Finish();
    str_.clear();
  }

 private:
  // A head's usual size: most are written with a single resize.
  static constexpr size_t kExpectedHead = 512;

  static std::string& Cleared(std::string& out) {
    out.clear();
    return out;
  }
  static absl::string_view Trim(absl::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
      v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
      v.remove_suffix(1);
    }
    return v;
  }

  std::string& str_;
  core::Appender out_;  // appends to str_
  int version_ = 11;
};

// ToUpstream's decisions (see wire.h), made into `head`.
template <class Head>
void BuildUpstream(const core::HttpRequest& request, const core::UrlParts& url,
                   Head& head) {
  if (url.has_query) {
    head.RequestLine(request.method, absl::StrCat(url.path, "?", url.query));
  } else {
    head.RequestLine(request.method, url.path);
  }
  const HeaderKinds kinds(request.headers);
  const std::string tokens = ConnectionTokens(request.headers, kinds);
  const std::string length_text = absl::StrCat(request.body.size());
  bool has_host = false;
  bool framed = false;
  for (size_t i = 0; i < request.headers.size(); ++i) {
    const core::Header& h = request.headers[i];
    const Kind kind = kinds[i];
    if (IsHopByHop(kind, h.name, tokens)) continue;
    if (IsFraming(kind)) {
      // Whatever the client framed its body with, we send the body we hold
      // with one length of our own.
      if (!framed) head.Add(http::field::content_length, length_text);
      framed = true;
      continue;
    }
    if (kind == Kind::kHost) has_host = true;
    head.Add(h.name, h.value);
  }
  if (!has_host) head.Set(http::field::host, HostFor(url));
  if (!framed && !request.body.empty()) {
    head.Set(http::field::content_length, length_text);
  }
  head.KeepAlive(true);
}

}  // namespace

UpstreamRequest ToUpstream(const core::HttpRequest& request,
                           const core::UrlParts& url, FieldsAllocator fields) {
  UpstreamRequest out(std::piecewise_construct, std::make_tuple(),
                      std::make_tuple(fields));
  BeastHead<UpstreamRequest> head(out);
  BuildUpstream(request, url, head);
  out.body() = http::span_body<const char>::value_type(request.body.data(),
                                                       request.body.size());
  return out;
}

void UpstreamHeadTo(const core::HttpRequest& request, const core::UrlParts& url,
                    std::string& out) {
  BytesHead head(out);
  BuildUpstream(request, url, head);
  head.End();
}

namespace {

// ToWire's checks and decisions (see wire.h), made into `head`. Sets
// `chunked` when the body goes chunked on the wire.
template <class Head>
absl::Status BuildWire(const core::HttpResponse& response, int client_version,
                       bool keep_alive, bool head_request, Head& head,
                       bool& chunked) {
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
  chunked = false;
  std::optional<uint64_t> stored_length;
  const HeaderKinds kinds(response.headers);
  for (size_t i = 0; i < response.headers.size(); ++i) {
    const core::Header& h = response.headers[i];
    const Kind kind = kinds[i];
    if (kind == Kind::kTransferEncoding) {
      chunked = core::EqualsIgnoreCase(absl::StripAsciiWhitespace(h.value),
                                       "chunked");
    } else if (kind == Kind::kContentLength) {
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

  head.StatusLine(response.status, response.reason, client_version);
  const std::string tokens = ConnectionTokens(response.headers, kinds);
  bool length_set = false;
  for (size_t i = 0; i < response.headers.size(); ++i) {
    const core::Header& h = response.headers[i];
    const Kind kind = kinds[i];
    // A 407 is this proxy's own challenge: its Proxy-Authenticate is for
    // this hop (RFC 9110 11.7.1).
    if (IsHopByHop(kind, h.name, tokens) &&
        !(response.status == 407 && kind == Kind::kProxyAuthenticate)) {
      continue;
    }
    if (kind == Kind::kTransferEncoding) {
      if (chunked) head.Add(h.name, "chunked");
      continue;
    }
    if (kind == Kind::kContentLength) {
      if (chunked || length_set) continue;
      length_set = true;
      head.Add(h.name,
               absl::StrCat(has_body ? response.body.size() : *stored_length));
      continue;
    }
    head.Add(h.name, h.value);
  }
  // A response an upstream delimited by closing its connection (or whose
  // Transfer-Encoding the client cannot read) gets a Content-Length so the
  // client connection can stay open.
  if (has_body && !chunked && !length_set) {
    head.ContentLength(response.body.size());
  }
  head.KeepAlive(keep_alive);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WireResponse> ToWire(const core::HttpResponse& response,
                                    int client_version, bool keep_alive,
                                    bool head_request, FieldsAllocator fields) {
  WireResponse out(std::piecewise_construct, std::make_tuple(),
                   std::make_tuple(fields));
  BeastHead<WireResponse> head(out);
  bool chunked = false;
  absl::Status st = BuildWire(response, client_version, keep_alive,
                              head_request, head, chunked);
  if (!st.ok()) return st;
  out.body() = http::span_body<const char>::value_type(response.body.data(),
                                                       response.body.size());
  return out;
}

absl::Status WireHeadTo(const core::HttpResponse& response, int client_version,
                        bool keep_alive, bool head_request, std::string& out,
                        bool& chunked) {
  BytesHead head(out);
  absl::Status st = BuildWire(response, client_version, keep_alive,
                              head_request, head, chunked);
  if (!st.ok()) {
    head.Discard();
    return st;
  }
  head.End();
  return absl::OkStatus();
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
    bool chunked = false;
    if (!WireHeadTo(response, 11, keep_alive, /*head_request=*/false,
                    keep_alive ? heads.keep_alive : heads.close, chunked)
             .ok() ||
        chunked) {
      return SerializedHeads{};
    }
  }
  return heads;
}

}  // namespace matgto::proxy
