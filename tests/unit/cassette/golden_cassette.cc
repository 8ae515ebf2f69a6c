#include "tests/unit/cassette/golden_cassette.h"

#include "google/protobuf/util/time_util.h"

namespace matgto::testing {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp At(const char* rfc3339) {
  google::protobuf::Timestamp t;
  TimeUtil::FromString(rfc3339, &t);
  return t;
}

google::protobuf::Duration Ms(int64_t ms) {
  return TimeUtil::MillisecondsToDuration(ms);
}

void AddHeader(google::protobuf::RepeatedPtrField<v1::Header>& headers,
               std::string name, std::string value) {
  v1::Header* h = headers.Add();
  h->set_name(std::move(name));
  h->set_value(std::move(value));
}

void SetTiming(v1::Timing& t, const char* started, int64_t ttfb_ms,
               int64_t total_ms) {
  *t.mutable_started_at() = At(started);
  *t.mutable_time_to_first_byte() = Ms(ttfb_ms);
  *t.mutable_total() = Ms(total_ms);
}

}  // namespace

std::string GoldenGzipBody() {
  static const unsigned char kBytes[] = {
      31,  139, 8,  0,  0,   0,   0, 0, 2,   3,  203, 72, 205, 201, 201, 87, 72,
      207, 207, 73, 73, 205, 227, 2, 0, 139, 11, 78,  10, 13,  0,   0,   0};
  return std::string(reinterpret_cast<const char*>(kBytes), sizeof(kBytes));
}

v1::Cassette MakeGoldenCassette() {
  v1::Cassette c;
  c.set_name("cassette_v1");
  *c.mutable_created_at() = At("2024-01-02T03:04:05Z");
  *c.mutable_updated_at() = At("2024-01-02T03:04:09Z");
  c.mutable_options()->set_on_exhausted(v1::EXHAUSTED_ERROR);
  c.mutable_options()->set_ws_timing(v1::AS_RECORDED);
  c.mutable_options()->set_ws_speed(2.0);

  {  // 0: JSON GET with redacted secrets and a Latin-1 header byte
    v1::Interaction* it = c.add_interactions();
    it->set_index(0);
    *it->mutable_recorded_at() = At("2024-01-02T03:04:05.100Z");
    v1::HttpExchange* http = it->mutable_http();
    v1::HttpRequest* req = http->mutable_request();
    req->set_method("GET");
    req->set_url("http://api.example.test/users?id=7");
    req->set_http_version("HTTP/1.1");
    AddHeader(*req->mutable_headers(), "Host", "api.example.test");
    AddHeader(*req->mutable_headers(), "Accept", "application/json");
    AddHeader(*req->mutable_headers(), "Authorization", "Bearer [REDACTED]");
    v1::HttpResponse* res = http->mutable_response();
    res->set_status(200);
    res->set_reason("OK");
    res->set_http_version("HTTP/1.1");
    AddHeader(*res->mutable_headers(), "Content-Type", "application/json");
    AddHeader(*res->mutable_headers(), "Set-Cookie",
              "sid=[REDACTED]; Path=/; HttpOnly");
    AddHeader(*res->mutable_headers(), "Set-Cookie", "theme=[REDACTED]");
    v1::Header* latin = res->add_headers();
    latin->set_name("X-Latin1");
    latin->set_raw_value("caf\xe9");
    AddHeader(*res->mutable_headers(), "Content-Length", "22");
    res->set_body(R"({"id":7,"name":"Ada"})"
                  "\n");
    SetTiming(*http->mutable_timing(), "2024-01-02T03:04:05.100Z", 12, 15);
  }
  {  // 1: binary POST answered with a gzip body, kept as sent
    v1::Interaction* it = c.add_interactions();
    it->set_index(1);
    *it->mutable_recorded_at() = At("2024-01-02T03:04:06Z");
    v1::HttpExchange* http = it->mutable_http();
    v1::HttpRequest* req = http->mutable_request();
    req->set_method("POST");
    req->set_url("http://api.example.test/upload");
    req->set_http_version("HTTP/1.1");
    AddHeader(*req->mutable_headers(), "Host", "api.example.test");
    AddHeader(*req->mutable_headers(), "Content-Type",
              "application/octet-stream");
    AddHeader(*req->mutable_headers(), "Content-Length", "5");
    req->set_body(std::string("\x00\x01\x02\xff\xfe", 5));
    v1::HttpResponse* res = http->mutable_response();
    res->set_status(201);
    res->set_reason("Created");
    res->set_http_version("HTTP/1.1");
    AddHeader(*res->mutable_headers(), "Content-Type", "text/plain");
    AddHeader(*res->mutable_headers(), "Content-Encoding", "gzip");
    AddHeader(*res->mutable_headers(), "Content-Length", "33");
    res->set_body(GoldenGzipBody());
    SetTiming(*http->mutable_timing(), "2024-01-02T03:04:06Z", 30, 31);
  }
  {  // 2: HTTP/1.0 answer whose reason phrase is not UTF-8, empty body
    v1::Interaction* it = c.add_interactions();
    it->set_index(2);
    *it->mutable_recorded_at() = At("2024-01-02T03:04:07Z");
    v1::HttpExchange* http = it->mutable_http();
    v1::HttpRequest* req = http->mutable_request();
    req->set_method("DELETE");
    req->set_url("http://api.example.test/users/7");
    req->set_http_version("HTTP/1.0");
    AddHeader(*req->mutable_headers(), "Host", "api.example.test");
    v1::HttpResponse* res = http->mutable_response();
    res->set_status(204);
    res->set_raw_reason("Gel\xf6scht");
    res->set_http_version("HTTP/1.0");
    SetTiming(*http->mutable_timing(), "2024-01-02T03:04:07Z", 2, 2);
  }
  {  // 3: a WebSocket session: text both ways, binary, client close
    v1::Interaction* it = c.add_interactions();
    it->set_index(3);
    *it->mutable_recorded_at() = At("2024-01-02T03:04:08Z");
    v1::WebSocketSession* ws = it->mutable_websocket();
    v1::HttpRequest* req = ws->mutable_upgrade_request();
    req->set_method("GET");
    req->set_url("ws://api.example.test/chat");
    req->set_http_version("HTTP/1.1");
    AddHeader(*req->mutable_headers(), "Host", "api.example.test");
    AddHeader(*req->mutable_headers(), "Upgrade", "websocket");
    AddHeader(*req->mutable_headers(), "Connection", "Upgrade");
    AddHeader(*req->mutable_headers(), "Sec-WebSocket-Key",
              "dGhlIHNhbXBsZSBub25jZQ==");
    AddHeader(*req->mutable_headers(), "Sec-WebSocket-Version", "13");
    v1::HttpResponse* res = ws->mutable_upgrade_response();
    res->set_status(101);
    res->set_reason("Switching Protocols");
    res->set_http_version("HTTP/1.1");
    AddHeader(*res->mutable_headers(), "Upgrade", "websocket");
    AddHeader(*res->mutable_headers(), "Connection", "Upgrade");
    AddHeader(*res->mutable_headers(), "Sec-WebSocket-Accept",
              "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    auto add = [ws](v1::Direction dir, v1::WsMessageKind kind,
                    std::string payload, int64_t ms) {
      v1::WsMessage* m = ws->add_messages();
      m->set_direction(dir);
      m->set_kind(kind);
      m->set_payload(std::move(payload));
      *m->mutable_since_open() = Ms(ms);
    };
    add(v1::CLIENT_TO_SERVER, v1::WS_TEXT, "hello", 1);
    add(v1::SERVER_TO_CLIENT, v1::WS_TEXT, "h\xc3\xa9llo back", 2);
    add(v1::SERVER_TO_CLIENT, v1::WS_BINARY, std::string("\x00\xff\x10", 3), 3);
    v1::WsClose* close = ws->mutable_close();
    close->set_initiator(v1::CLIENT_TO_SERVER);
    close->set_code(1000);
    close->set_reason("bye");
    *close->mutable_since_open() = Ms(5);
    SetTiming(*ws->mutable_timing(), "2024-01-02T03:04:08Z", 4, 6);
  }
  return c;
}

}  // namespace matgto::testing
