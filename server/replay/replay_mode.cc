#include "server/replay/replay_mode.h"

#include <algorithm>
#include <random>
#include <utility>
#include <variant>

namespace matgto::replay {

ReplayMode::ReplayMode(std::shared_ptr<const cassette::CassetteImage> loaded,
                       Setup setup)
    : policy_(setup.policy),
      miss_handler_(setup.policy.on_miss, std::move(setup.cassette),
                    setup.ticket),
      redactor_(std::move(setup.redactor)),
      secrets_(setup.secrets != nullptr
                   ? std::move(setup.secrets)
                   : std::make_shared<cassette::KnownSecrets>()),
      player_(loaded, setup.matcher, setup.policy.on_exhausted,
              setup.policy.repeat),
      ws_player_(WsPlayer::FromImage(*loaded, std::move(setup.matcher),
                                     setup.policy.on_exhausted)),
      recorder_(std::move(setup.recorder)) {}

const core::HttpRequest& ReplayMode::ForMatching(
    const core::HttpRequest& request, core::HttpRequest& scratch) const {
  // Always: even with no rule on URLs or bodies, a secret removed from a
  // header may be echoed in them, and the recordings were scrubbed of it.
  scratch = request;
  redactor_->RedactExchange(scratch, nullptr, *secrets_);
  return scratch;
}

core::Decision ReplayMode::OnRequest(const core::HttpRequest& request,
                                     SessionCounters& counters) {
  // The thread's: its strings keep their capacity from one request to the
  // next (a warm proxy thread copies without malloc).
  thread_local core::HttpRequest scratch;
  const core::HttpRequest& live = ForMatching(request, scratch);
  auto answer = player_.Answer(live);
  if (auto* hit = std::get_if<Player::Hit>(&answer)) {
    ++counters.replayed;
    core::Reply reply{hit->response, ""};
    if (policy_.latency.mode != LatencyPlan::Mode::kFast) {
      reply.delivery = policy_.latency.For(
          hit->time_to_first_byte, hit->total,
          std::uniform_real_distribution<double>(0, 1)(jitter_));
    }
    if (policy_.stream_pace.as_recorded && !hit->response->chunks.empty()) {
      reply.delivery.stream_speed = policy_.stream_pace.speed;
    }
    return reply;
  }
  return miss_handler_.OnHttpMiss(
      live, std::get<Player::Miss>(answer), player_.size(),
      [this](size_t i) {
        const RecordedExchange& e = player_.exchange(i);
        return RecordedRequest{e.interaction_index, &e.request};
      },
      counters.misses);
}

std::optional<core::Decision> ReplayMode::OnPartialRequest(
    const core::HttpRequest& partial, ModeHost& host,
    SessionCounters& counters) {
  thread_local core::HttpRequest scratch;
  const core::HttpRequest& live = ForMatching(partial, scratch);
  Player::Partial partial_answer = player_.AnswerPartial(live);
  if (!partial_answer.hit.has_value()) {
    if (partial_answer.may_match) return std::nullopt;
    // Nothing recorded can match it: the miss now (on_miss decides).
    return OnRequest(partial, counters);
  }
  const std::optional<Player::Hit>& hit = partial_answer.hit;
  std::string& recorded_body = partial_answer.recorded_body;
  ++counters.replayed;
  auto recorded = std::make_shared<const std::string>(std::move(recorded_body));
  core::Reply reply{hit->response, ""};
  reply.streamed = true;
  if (player_.matcher().rules().body) reply.streamed_request_body = recorded;
  reply.on_stream_mismatch =
      host.ReportStreamMismatch(live, hit->interaction_index, recorded);
  return core::Decision(std::move(reply));
}

void ReplayMode::OnForwarded(const core::HttpRequest& request,
                             const core::HttpResponse& response,
                             const core::ExchangeTiming& timing,
                             SessionCounters& counters,
                             Recorder::Draft* draft) {
  // Only misses are forwarded (on_miss PASSTHROUGH or RECORD).
  ++counters.passed_through;
  if (!recorder_.has_value()) return;
  // A miss recorded during replay answers its repeats from now on.
  Recorder::Stored stored;
  const std::optional<uint64_t> index =
      draft != nullptr ? recorder_->Commit(*draft, &stored)
                       : recorder_->AddHttp(request, response, timing, &stored);
  if (!index.has_value()) return;  // refused: a body could not be redacted
  ++appended_;
  player_.Append(
      RecordedExchange{.interaction_index = *index,
                       .request = std::move(stored.request),
                       .response = std::make_shared<const core::HttpResponse>(
                           std::move(stored.response))});
}

core::WsDecision ReplayMode::OnWebSocket(const core::HttpRequest& upgrade,
                                         ModeHost& host,
                                         SessionCounters& counters) {
  core::HttpRequest scratch;
  const core::HttpRequest& live = ForMatching(upgrade, scratch);
  auto answer = ws_player_.Answer(live);
  if (auto* hit = std::get_if<WsPlayer::Hit>(&answer)) {
    ++counters.replayed;
    // Client messages are compared after the redaction their recording
    // went through (on the connection's strand: the redactor is immutable
    // and the secrets have their own lock).
    return core::WsReplay{std::make_unique<ScriptPlayback>(
        hit->recording, policy_.ws_pace,
        host.ReportWsMismatch(live.url, hit->recording->interaction_index),
        [redactor = redactor_, secrets = secrets_](core::WsMessage& m) {
          redactor->RedactMessage(m, *secrets);
        })};
  }
  return miss_handler_.OnWsMiss(
      upgrade, std::get<Player::Miss>(answer), ws_player_.size(),
      [this](size_t i) {
        const WsRecording& r = ws_player_.recording(i);
        return RecordedRequest{r.interaction_index, &r.upgrade_request};
      },
      counters.misses);
}

Recorder* ReplayMode::recorder() {
  return recorder_.has_value() ? &*recorder_ : nullptr;
}

absl::StatusOr<std::optional<cassette::Recording>> ReplayMode::ToSave() const {
  if (!recorder_.has_value() || appended_ == 0) return std::nullopt;
  absl::StatusOr<cassette::Recording> recording = recorder_->ToSave();
  if (!recording.ok()) return recording.status();
  return std::optional<cassette::Recording>(*std::move(recording));
}

uint64_t ReplayMode::replayable() const {
  return player_.size() + ws_player_.size();
}

std::vector<uint64_t> ReplayMode::Unused() const {
  std::vector<uint64_t> out = player_.Unused();
  std::vector<uint64_t> ws = ws_player_.Unused();
  if (!ws.empty()) {
    out.insert(out.end(), ws.begin(), ws.end());
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace matgto::replay
