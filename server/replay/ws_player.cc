#include "server/replay/ws_player.h"

#include "absl/strings/str_cat.h"
#include "server/cassette/codec.h"
#include "server/cassette/ws_codec.h"

namespace matgto::replay {

WsPlayer WsPlayer::FromImage(const cassette::CassetteImage& image,
                             match::RequestMatcher matcher,
                             OnExhausted on_exhausted) {
  WsPlayer player(std::move(matcher));
  player.on_exhausted_ = on_exhausted;
  for (size_t i = 0; i < image.size(); ++i) {
    if (image.kind(i) != cassette::CassetteImage::Kind::kWebSocket) continue;
    // Checked when the image was loaded.
    absl::StatusOr<v1::Interaction> read = image.Interaction(i);
    if (!read.ok()) continue;
    const v1::Interaction& interaction = *read;
    const v1::WebSocketSession& ws = interaction.websocket();
    auto rec = std::make_shared<WsRecording>();
    rec->interaction_index = interaction.index();
    rec->upgrade_request = cassette::FromProto(ws.upgrade_request());
    rec->upgrade_response = cassette::FromProto(ws.upgrade_response());
    for (const v1::WsMessage& m : ws.messages()) {
      rec->messages.push_back(cassette::FromProto(m));
    }
    if (ws.has_close()) rec->close = cassette::FromProto(ws.close());
    match::Fingerprint print = player.matcher_.Of(rec->upgrade_request);
    player.by_key_[match::RequestMatcher::Key(print)].push_back(
        player.recordings_.size());
    player.fingerprints_.push_back(std::move(print));
    player.recordings_.push_back(std::move(rec));
  }
  player.uses_.assign(player.recordings_.size(), 0);
  return player;
}

std::variant<WsPlayer::Hit, Player::Miss> WsPlayer::Answer(
    const core::HttpRequest& upgrade) {
  const match::Fingerprint live = matcher_.Of(upgrade);
  std::vector<size_t> matching;
  if (const auto it = by_key_.find(match::RequestMatcher::Key(live));
      it != by_key_.end()) {
    for (const size_t i : it->second) {
      if (fingerprints_[i] == live) matching.push_back(i);  // (not a collision)
    }
  }
  const Pick pick =
      PickRecording(matching, uses_, Repeat::kSequential, on_exhausted_);
  switch (pick.outcome) {
    case Pick::Outcome::kAnswer:
      return Hit{recordings_[pick.position]};
    case Pick::Outcome::kExhausted:
      return Player::Miss{.reason = "exhausted",
                          .closest = {{pick.position, {}}}};
    case Pick::Outcome::kNoMatch:
      break;
  }
  std::vector<const match::Fingerprint*> recorded;
  recorded.reserve(fingerprints_.size());
  for (const match::Fingerprint& f : fingerprints_) recorded.push_back(&f);
  return Player::Miss{.reason = "no-match",
                      .closest = matcher_.Rank(recorded, live, 3)};
}

std::vector<uint64_t> WsPlayer::Unused() const {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < recordings_.size(); ++i) {
    if (uses_[i] == 0) out.push_back(recordings_[i]->interaction_index);
  }
  return out;
}

ScriptPlayback::ScriptPlayback(std::shared_ptr<const WsRecording> recording,
                               WsPace pace, MismatchReporter report,
                               MessageRedactor redact)
    : recording_(std::move(recording)),
      as_recorded_(pace.as_recorded),
      speed_(pace.speed > 0 ? pace.speed : 1.0),
      report_(std::move(report)),
      redact_(std::move(redact)) {}

absl::Duration ScriptPlayback::DelayUntil(absl::Duration at) {
  absl::Duration delay;
  if (as_recorded_ && at > clock_) delay = (at - clock_) / speed_;
  if (at > clock_) clock_ = at;
  return delay;
}

core::WsStep ScriptPlayback::Next() {
  const auto& messages = recording_->messages;
  while (next_ < messages.size()) {
    const core::WsMessage& m = messages[next_];
    const size_t index = next_++;
    if (m.kind == core::WsKind::kPing || m.kind == core::WsKind::kPong)
      continue;
    if (m.direction == core::WsDirection::kServerToClient) {
      return core::WsStep{.kind = core::WsStep::Kind::kSend,
                          .message = &m,
                          .close = nullptr,
                          .delay = DelayUntil(m.since_open)};
    }
    expected_ = index;
    clock_ = std::max(clock_, m.since_open);
    return core::WsStep{.kind = core::WsStep::Kind::kExpect,
                        .message = &m,
                        .close = nullptr,
                        .delay = absl::ZeroDuration()};
  }
  expected_ = static_cast<size_t>(-1);
  if (recording_->close.has_value() && !close_done_) {
    close_done_ = true;
    const core::WsClose& c = *recording_->close;
    if (c.initiator == core::WsDirection::kServerToClient) {
      return core::WsStep{.kind = core::WsStep::Kind::kClose,
                          .message = nullptr,
                          .close = &c,
                          .delay = DelayUntil(c.since_open)};
    }
    return core::WsStep{.kind = core::WsStep::Kind::kAwaitClientClose,
                        .message = nullptr,
                        .close = &c,
                        .delay = absl::ZeroDuration()};
  }
  return core::WsStep{.kind = core::WsStep::Kind::kEnd,
                      .message = nullptr,
                      .close = nullptr,
                      .delay = absl::ZeroDuration()};
}

std::optional<std::string> ScriptPlayback::Check(const core::WsMessage& live) {
  if (redact_) {
    redacted_.direction = live.direction;
    redacted_.kind = live.kind;
    if (redacted_.payload.capacity() > core::kKeptWsMessageBytes) {
      std::string().swap(redacted_.payload);  // not kept for the session
    }
    redacted_.payload.assign(live.payload);
    redacted_.since_open = live.since_open;
    redact_(redacted_);
  }
  const core::WsMessage& got = redact_ ? redacted_ : live;
  if (expected_ == static_cast<size_t>(-1)) {
    report_(recording_->messages.size(), nullptr, got);
    return std::string(
        "matgto: unexpected client message after the recording ended");
  }
  const core::WsMessage& want = recording_->messages[expected_];
  if (want.kind == got.kind && want.payload == got.payload) return std::nullopt;
  report_(expected_, &want, got);
  return absl::StrCat("matgto: client message ", expected_,
                      " differs from the recording");
}

}  // namespace matgto::replay
