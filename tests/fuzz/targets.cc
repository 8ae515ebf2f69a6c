#include "tests/fuzz/targets.h"

#include <re2/re2.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/cassette/codec.h"
#include "server/cassette/har.h"
#include "server/cassette/journal.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/redact.h"
#include "server/cassette/ws_codec.h"
#include "server/core/url.h"
#include "server/core/utf8.h"
#include "server/proxy/wire.h"

namespace matgto::fuzz {
namespace {

namespace http = boost::beast::http;
namespace beast = boost::beast;
namespace ws = boost::beast::websocket;

// A property that does not hold is reported like a crash, so libFuzzer
// saves the input.
#define FUZZ_CHECK(cond, what)                                    \
  do {                                                            \
    if (!(cond)) {                                                \
      std::fprintf(stderr, "fuzz property violated: %s\n", what); \
      std::abort();                                               \
    }                                                             \
  } while (0)

absl::string_view View(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// What every decoder's output must survive: saving in either format and
// loading again (the store writes what it read; `cassette export` converts).
void CheckSavesAndLoads(const v1::Cassette& cassette, absl::string_view what) {
  const std::string binary = cassette::SerializeCassette(cassette);
  absl::StatusOr<v1::Cassette> again = cassette::ParseCassette(binary, "again");
  if (!again.ok()) {
    std::fprintf(stderr, "%.*s: saved cassette does not load: %s\n",
                 static_cast<int>(what.size()), what.data(),
                 std::string(again.status().message()).c_str());
  }
  FUZZ_CHECK(again.ok(), "a loaded cassette saves (binary) and loads again");
  absl::StatusOr<std::string> json = cassette::SerializeCassetteJson(cassette);
  FUZZ_CHECK(json.ok(), "a loaded cassette serializes to JSON");
  absl::StatusOr<v1::Cassette> from_json =
      cassette::ParseCassetteJson(*json, "again.json");
  if (!from_json.ok()) {
    std::fprintf(stderr, "%.*s: saved JSON cassette does not load: %s\n",
                 static_cast<int>(what.size()), what.data(),
                 std::string(from_json.status().message()).c_str());
  }
  FUZZ_CHECK(from_json.ok(), "a loaded cassette saves (JSON) and loads again");
}

// RFC 9110 tchar: what Beast accepts in a field name.
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f ||
        absl::string_view("\"(),/:;<=>?@[\\]{}").find(c) !=
            absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

// No control characters but HTAB: what Beast accepts in a field value.
bool IsFieldValue(absl::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

const cassette::Redactor& FuzzRedactor() {
  static const cassette::Redactor* redactor = [] {
    cassette::RedactConfig config = cassette::RedactConfig::Defaults();
    config.query_params = {"token", "api_key", "sig"};
    config.json_pointers = {"/password", "/user/token", "/items/0/secret",
                            "/a~1b"};
    config.form_fields = {"password", "client_secret"};
    config.body_patterns = {
        std::make_shared<const re2::RE2>("sk_[A-Za-z0-9]{4,}"),
        std::make_shared<const re2::RE2>("(?i)secret-[0-9]+")};
    return new cassette::Redactor(std::move(config));
  }();
  return *redactor;
}

}  // namespace

bool RequestPath(const uint8_t* data, size_t size) {
  // Fields in a small arena, as a connection's RequestArena holds them (and
  // beyond it, from new/delete).
  std::array<std::byte, 512> arena_buffer;
  std::pmr::monotonic_buffer_resource arena(arena_buffer.data(),
                                            arena_buffer.size());
  http::request_parser<http::string_body, proxy::FieldsAllocator> parser(
      std::piecewise_construct, std::make_tuple(),
      std::make_tuple(proxy::FieldsAllocator(&arena)));
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  // Fed as a socket and a flat_buffer would: bytes arrive in uneven reads,
  // and every put() is given all the bytes not consumed yet plus the new
  // ones (Beast's contract after need_more: offering fewer bytes than the
  // last call trips its assertions, a harness bug, not a parser one).
  const char* p = reinterpret_cast<const char*>(data);
  size_t left = size;  // bytes not consumed by the parser
  size_t offered = 0;  // of which, arrived so far
  while (!parser.is_done() && offered < left) {
    offered += std::min<size_t>(left - offered, 1 + (left % 97));
    while (offered > 0 && !parser.is_done()) {
      const size_t used = parser.put(boost::asio::buffer(p, offered), ec);
      p += used;
      left -= used;
      offered -= used;
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return false;
      if (used == 0) break;
    }
  }
  if (!parser.is_done()) return false;
  if (proxy::CheckRequestHeader(parser.get()).has_value()) return false;
  proxy::ClientRequest request = parser.release();
  const std::string target(request.target());
  // What the connection reads before routing: the session credential
  // (hop-by-hop headers are dropped by ToUpstream and ToWire below).
  if (auto it = request.find(http::field::proxy_authorization);
      it != request.end()) {
    (void)proxy::ProxyCredential(
        absl::string_view(it->value().data(), it->value().size()));
  }
  if (request.method() == http::verb::connect) {
    std::string host;
    uint16_t port = 0;
    if (proxy::ParseConnectTarget(target, host, port)) {
      FUZZ_CHECK(port != 0 && !host.empty(), "a CONNECT target has both parts");
      (void)core::HostPort(host, port);
      return true;
    }
    return false;
  }
  absl::StatusOr<core::UrlParts> url = core::ParseAbsoluteUrl(target);
  if (!url.ok()) return false;
  const std::string formatted = core::FormatUrl(*url);
  // The canonical form is a fixed point: a recorded URL parses to itself.
  absl::StatusOr<core::UrlParts> reparsed = core::ParseAbsoluteUrl(formatted);
  if (!reparsed.ok() || core::FormatUrl(*reparsed) != formatted) {
    std::fprintf(stderr, "request target '%s' is recorded as '%s'\n",
                 target.c_str(), formatted.c_str());
  }
  FUZZ_CHECK(reparsed.ok(), "a formatted URL parses");
  FUZZ_CHECK(core::FormatUrl(*reparsed) == formatted,
             "formatting a URL is idempotent");
  core::HttpRequest exchange = proxy::ToCore(std::move(request), formatted);
  proxy::UpstreamRequest upstream = proxy::ToUpstream(exchange, *url);
  (void)upstream;
  core::HttpResponse echo{.status = 200,
                          .reason = "OK",
                          .version = exchange.version,
                          .headers = exchange.headers,
                          .body = exchange.body};
  absl::StatusOr<proxy::WireResponse> wire =
      proxy::ToWire(echo, exchange.version, true);
  (void)wire;
  return true;
}

int WebSocketFramePath(const uint8_t* data, size_t size) {
  static constexpr absl::string_view kUpgrade =
      "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  boost::asio::io_context ioc;
  beast::test::stream client_side(ioc);
  beast::test::stream peer(ioc);
  client_side.connect(peer);
  client_side.append(beast::string_view(kUpgrade.data(), kUpgrade.size()));
  client_side.append(
      beast::string_view(reinterpret_cast<const char*>(data), size));
  peer.close();  // the client's bytes end here: reads then see EOF

  ws::stream<beast::test::stream&> stream(client_side);
  // As websocket/session.cc configures both sides of a relay (a small
  // message limit so the fuzzer reaches it).
  stream.read_message_max(4096);
  stream.auto_fragment(false);
  ws::permessage_deflate pmd;
  pmd.client_enable = pmd.server_enable = false;
  stream.set_option(pmd);
  int messages = 0;
  v1::WebSocketSession session;
  stream.control_callback(
      [&session](ws::frame_type kind, beast::string_view payload) {
        if (kind == ws::frame_type::close) return;
        core::WsMessage m{.direction = core::WsDirection::kClientToServer,
                          .kind = kind == ws::frame_type::ping
                                      ? core::WsKind::kPing
                                      : core::WsKind::kPong,
                          .payload = std::string(payload)};
        cassette::ToProto(m, *session.add_messages());
      });
  beast::error_code ec;
  stream.accept(ec);
  FUZZ_CHECK(!ec, "the fixed upgrade is accepted");
  for (;;) {
    beast::flat_buffer buffer;
    stream.read(buffer, ec);
    if (ec) break;
    core::WsMessage m{
        .direction = core::WsDirection::kClientToServer,
        .kind = stream.got_text() ? core::WsKind::kText : core::WsKind::kBinary,
        .payload = beast::buffers_to_string(buffer.data())};
    // Beast validates text messages except when the final frame is empty;
    // the relay then checks the whole message and closes with 1007 (see
    // IsBadText in server/websocket/session.cc): nothing else is recorded.
    if (m.kind == core::WsKind::kText && !core::IsValidUtf8(m.payload)) break;
    FUZZ_CHECK(m.payload.size() <= 4096, "the message limit holds");
    cassette::ToProto(m, *session.add_messages());
    ++messages;
  }
  if (ec == ws::error::closed) {
    const ws::close_reason& reason = stream.reason();
    core::WsClose close{.code = reason.code,
                        .reason = std::string(reason.reason.c_str())};
    cassette::ToProto(close, *session.mutable_close());
  }
  return messages;
}

bool BinaryCassettePath(const uint8_t* data, size_t size) {
  absl::StatusOr<v1::Cassette> c =
      cassette::ParseCassette(View(data, size), "fuzz");
  if (!c.ok()) return false;
  CheckSavesAndLoads(*c, "binary");
  return true;
}

bool JournalPath(const uint8_t* data, size_t size) {
  absl::StatusOr<v1::Cassette> c =
      cassette::RecoverJournal(View(data, size), "fuzz");
  if (!c.ok()) return false;
  CheckSavesAndLoads(*c, "journal");
  return true;
}

bool JsonCassettePath(const uint8_t* data, size_t size) {
  const absl::string_view text = View(data, size);
  (void)cassette::LooksLikeJson(text);
  (void)cassette::UnescapeAngleBrackets(text);
  absl::StatusOr<v1::Cassette> c = cassette::ParseCassetteJson(text, "fuzz");
  if (!c.ok()) return false;
  CheckSavesAndLoads(*c, "json");
  return true;
}

bool HarPath(const uint8_t* data, size_t size) {
  const absl::string_view text = View(data, size);
  (void)cassette::LooksLikeHar(text);
  absl::StatusOr<cassette::HarImport> imported =
      cassette::CassetteFromHar(text, "fuzz");
  if (!imported.ok()) return false;
  absl::StatusOr<cassette::HarExport> exported =
      cassette::CassetteToHar(imported->cassette, "fuzz");
  FUZZ_CHECK(exported.ok(), "an imported HAR exports");
  CheckSavesAndLoads(imported->cassette, "har");
  return true;
}

int DecoderPath(const uint8_t* data, size_t size) {
  const absl::string_view bytes = View(data, size);
  return int{cassette::ParseCassette(bytes, "fuzz").ok()} +
         int{cassette::RecoverJournal(bytes, "fuzz").ok()} +
         int{cassette::ParseCassetteJson(bytes, "fuzz").ok()};
}

bool RedactorPath(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  static constexpr absl::string_view kTypes[] = {
      "application/json", "application/x-www-form-urlencoded",
      "text/plain; charset=utf-8", ""};
  static constexpr absl::string_view kCodings[] = {
      "",         "gzip",          "deflate",       "br",
      "identity", "gzip, deflate", "deflate, gzip", "compress"};
  const uint8_t selector = data[0];
  const absl::string_view rest = View(data + 1, size - 1);
  const size_t blank = rest.find("\n\n");
  const absl::string_view head = rest.substr(0, blank);
  const absl::string_view body = blank == absl::string_view::npos
                                     ? absl::string_view()
                                     : rest.substr(blank + 2);
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  core::HttpRequest request{.method = "POST", .url = "http://fuzz.test/"};
  if (!lines.empty()) {
    absl::StatusOr<core::UrlParts> url = core::ParseAbsoluteUrl(lines[0]);
    if (url.ok()) request.url = core::FormatUrl(*url);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = lines[i].substr(0, colon);
    const absl::string_view value =
        absl::StripLeadingAsciiWhitespace(lines[i].substr(colon + 1));
    if (!IsToken(name) || !IsFieldValue(value)) continue;
    request.headers.push_back({std::string(name), std::string(value)});
  }
  if (!kTypes[selector & 3].empty()) {
    core::SetHeader(request.headers, "Content-Type",
                    std::string(kTypes[selector & 3]));
  }
  if (!kCodings[(selector >> 2) & 7].empty()) {
    core::SetHeader(request.headers, "Content-Encoding",
                    std::string(kCodings[(selector >> 2) & 7]));
  }
  request.body = std::string(body);
  core::HttpResponse response{.status = 200,
                              .reason = "OK",
                              .headers = request.headers,
                              .body = request.body};

  const cassette::Redactor& redactor = FuzzRedactor();
  core::HttpRequest once = request;
  redactor.Redact(once);
  core::HttpRequest twice = once;
  redactor.Redact(twice);
  FUZZ_CHECK(twice == once, "redacting a request is idempotent");
  core::HttpResponse response_once = response;
  redactor.Redact(response_once);
  core::HttpResponse response_twice = response_once;
  redactor.Redact(response_twice);
  FUZZ_CHECK(response_twice == response_once,
             "redacting a response is idempotent");
  // Whatever redaction did, the result must still be storable.
  v1::HttpRequest stored;
  cassette::ToProto(once, stored);
  v1::HttpResponse stored_response;
  cassette::ToProto(response_once, stored_response);
  return !(once == request) || !(response_once == response);
}

}  // namespace matgto::fuzz
