// Replay of recorded WebSocket sessions: which recording answers an upgrade
// (recorded order, like HTTP exchanges) and the script that plays it back.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/image.h"
#include "server/core/websocket.h"
#include "server/match/matcher.h"
#include "server/replay/player.h"
#include "server/replay/policy.h"

namespace matgto::replay {

struct WsRecording {
  uint64_t interaction_index = 0;
  core::HttpRequest upgrade_request;
  core::HttpResponse upgrade_response;
  std::vector<core::WsMessage> messages;
  std::optional<core::WsClose> close;
};

// Thread-safety: none; the owning session serialises calls.
class WsPlayer {
 public:
  explicit WsPlayer(match::RequestMatcher matcher)
      : matcher_(std::move(matcher)) {}
  struct Hit {
    std::shared_ptr<const WsRecording> recording;
  };

  // Over the WebSocket sessions of `image`, parsed now (they are few).
  static WsPlayer FromImage(const cassette::CassetteImage& image,
                            match::RequestMatcher matcher,
                            OnExhausted on_exhausted);

  // The first unused recording whose upgrade request matches (method + URL);
  // when all are used, the last one again (kRepeatLast) or a miss. The
  // repeat policy does not apply: a WebSocket recording is a script, played
  // in recorded order.
  std::variant<Hit, Player::Miss> Answer(const core::HttpRequest& upgrade);
  std::vector<uint64_t> Unused() const;
  size_t size() const { return recordings_.size(); }
  const WsRecording& recording(size_t i) const { return *recordings_[i]; }

 private:
  std::vector<std::shared_ptr<const WsRecording>> recordings_;
  // Each recording's upgrade request as the matcher compares it, computed
  // at load, and the positions of the recordings per fingerprint key, in
  // recording order: an upgrade is looked up, not compared with every
  // recorded one (a cassette may hold thousands of sessions).
  std::vector<match::Fingerprint> fingerprints_;
  absl::flat_hash_map<uint64_t, std::vector<size_t>> by_key_;
  std::vector<uint32_t> uses_;
  match::RequestMatcher matcher_;
  OnExhausted on_exhausted_ = OnExhausted::kRepeatLast;
};

// Plays one recording back. Control frames (ping/pong) in the recording are
// skipped: each side of the proxy answers pings itself.
class ScriptPlayback final : public core::WsPlayback {
 public:
  // Called when the client's message `index` (position in the recording)
  // differs from the recorded one; `got` is what the client sent, redacted.
  using MismatchReporter =
      std::function<void(size_t index, const core::WsMessage* expected,
                         const core::WsMessage& got)>;

  // Applied to a client message before it is compared (the redaction the
  // recorded messages went through).
  using MessageRedactor = std::function<void(core::WsMessage&)>;

  ScriptPlayback(std::shared_ptr<const WsRecording> recording, WsPace pace,
                 MismatchReporter report, MessageRedactor redact = nullptr);

  const core::HttpResponse& upgrade_response() const override {
    return recording_->upgrade_response;
  }
  core::WsStep Next() override;
  std::optional<std::string> Check(const core::WsMessage& got) override;

 private:
  absl::Duration DelayUntil(absl::Duration at);

  std::shared_ptr<const WsRecording> recording_;
  const bool as_recorded_;
  const double speed_;
  MismatchReporter report_;
  MessageRedactor redact_;
  size_t next_ = 0;
  // Recording position of the last kExpect step; npos after the script.
  size_t expected_ = static_cast<size_t>(-1);
  absl::Duration clock_;  // recorded time of the last step taken
  bool close_done_ = false;
  // The redacted copy of the message being checked, kept between messages
  // so that its payload's storage is reused.
  core::WsMessage redacted_;
};

}  // namespace matgto::replay
