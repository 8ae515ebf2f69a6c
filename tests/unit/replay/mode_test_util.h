// Values and fakes shared by the mode handler tests: requests, responses,
// cassettes built in memory, and a ModeHost that records what it is asked.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "matgto/v1/cassette.pb.h"
#include "server/cassette/codec.h"
#include "server/cassette/redact.h"
#include "server/cassette/ws_codec.h"
#include "server/core/clock.h"
#include "server/core/http.h"
#include "server/core/websocket.h"
#include "server/replay/mode.h"

namespace matgto::replay::mode_test {

inline const absl::Time kStart = absl::FromUnixSeconds(1700000000);

inline core::HttpRequest Req(std::string method, std::string url,
                             std::string body = "") {
  return core::HttpRequest{.method = std::move(method),
                           .url = std::move(url),
                           .version = 11,
                           .headers = {{"Host", "h"}},
                           .body = std::move(body)};
}

inline core::HttpResponse Res(std::string body) {
  return core::HttpResponse{.status = 200,
                            .reason = "OK",
                            .version = 11,
                            .headers = {{"Content-Type", "text/plain"}},
                            .body = std::move(body)};
}

inline core::ExchangeTiming Timing() {
  return core::ExchangeTiming{.started_at = kStart,
                              .time_to_first_byte = absl::Milliseconds(7),
                              .total = absl::Milliseconds(20)};
}

inline std::shared_ptr<const cassette::Redactor> DefaultRedactor() {
  return std::make_shared<const cassette::Redactor>(
      cassette::RedactConfig::Defaults());
}

// Appends an HTTP interaction to `c`.
inline void AddHttp(v1::Cassette& c, const core::HttpRequest& request,
                    const core::HttpResponse& response) {
  v1::Interaction* i = c.add_interactions();
  i->set_index(static_cast<uint64_t>(c.interactions_size() - 1));
  cassette::ToProto(request, *i->mutable_http()->mutable_request());
  cassette::ToProto(response, *i->mutable_http()->mutable_response());
}

// Appends a WebSocket interaction: the client sends `client`, the server
// answers `server`.
inline void AddWs(v1::Cassette& c, const std::string& url,
                  const std::string& client, const std::string& server) {
  v1::Interaction* i = c.add_interactions();
  i->set_index(static_cast<uint64_t>(c.interactions_size() - 1));
  v1::WebSocketSession* ws = i->mutable_websocket();
  cassette::ToProto(Req("GET", url), *ws->mutable_upgrade_request());
  core::HttpResponse switching{.status = 101, .reason = "Switching Protocols"};
  cassette::ToProto(switching, *ws->mutable_upgrade_response());
  cassette::ToProto(
      core::WsMessage{.direction = core::WsDirection::kClientToServer,
                      .kind = core::WsKind::kText,
                      .payload = client,
                      .since_open = absl::Milliseconds(1)},
      *ws->add_messages());
  cassette::ToProto(
      core::WsMessage{.direction = core::WsDirection::kServerToClient,
                      .kind = core::WsKind::kText,
                      .payload = server,
                      .since_open = absl::Milliseconds(2)},
      *ws->add_messages());
}

class NullSink final : public core::WsSessionSink {
 public:
  void OnUpgraded(const core::HttpResponse&) override {}
  void OnMessage(const core::WsMessage&) override {}
  void OnClose(const core::WsClose&) override {}
};

// A ModeHost that remembers what the handler asked of it.
class FakeModeHost final : public ModeHost {
 public:
  struct Mismatch {
    std::string url;
    uint64_t interaction;
    size_t index;
    std::string got;
  };

  std::shared_ptr<core::WsSessionSink> RecordWebSocket(
      const core::HttpRequest& upgrade) override {
    recorded_upgrades.push_back(upgrade.url);
    return sink;
  }
  ScriptPlayback::MismatchReporter ReportWsMismatch(
      std::string url, uint64_t interaction) override {
    return
        [this, url = std::move(url), interaction](
            size_t index, const core::WsMessage*, const core::WsMessage& got) {
          mismatches.push_back({url, interaction, index, got.payload});
        };
  }

  std::function<void(const std::string& live)> ReportStreamMismatch(
      const core::HttpRequest& live, uint64_t interaction,
      std::shared_ptr<const std::string>) override {
    return [this, url = live.url, interaction](const std::string& got) {
      mismatches.push_back({url, interaction, 0, got});
    };
  }

  std::shared_ptr<core::WsSessionSink> sink = std::make_shared<NullSink>();
  std::vector<std::string> recorded_upgrades;
  std::vector<Mismatch> mismatches;
};

inline const core::Reply* AsReply(const core::Decision& d) {
  return std::get_if<core::Reply>(&d);
}
inline const core::Forward* AsForward(const core::Decision& d) {
  return std::get_if<core::Forward>(&d);
}

}  // namespace matgto::replay::mode_test
