#include "server/replay/session.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"

namespace matgto::replay {
namespace {

std::string ExplainMiss(const v1::Miss& miss, absl::string_view cassette,
                        size_t recorded) {
  std::string msg;
  if (miss.reason() == "exhausted") {
    msg = absl::StrCat("matgto: every recorded answer to ", miss.method(), " ",
                       miss.url(), " in cassette '", cassette,
                       "' has been used and the cassette's on_exhausted policy "
                       "is EXHAUSTED_ERROR.");
  } else {
    msg = absl::StrCat("matgto: no recorded interaction in cassette '",
                       cassette, "' (", recorded, " candidates) matches ",
                       miss.method(), " ", miss.url(), ".");
  }
  if (miss.reason() == "no-match" && miss.closest_size() > 0) {
    const v1::Candidate& c = miss.closest(0);
    std::vector<std::string> diffs;
    for (const v1::FieldDifference& d : c.differences()) {
      diffs.push_back(absl::StrCat(d.field(), " (recorded '", d.recorded(),
                                   "', live '", d.live(), "')"));
    }
    absl::StrAppend(&msg, " Closest: interaction #", c.interaction_index(), " ",
                    c.method(), " ", c.url(), ", which differs in ",
                    absl::StrJoin(diffs, ", "), ".");
  }
  return msg;
}

}  // namespace

CassetteSession::CassetteSession(SessionSetup setup)
    : id_(setup.id),
      name_(std::move(setup.name)),
      requested_mode_(setup.requested_mode),
      mode_(setup.mode),
      options_(std::move(setup.options)),
      redactor_(std::move(setup.redactor)),
      redact_before_matching_(redactor_->ChangesUrlOrBody() ||
                              setup.matcher.rules().headers),
      clock_(*setup.clock) {
  if (mode_ == v1::REPLAY && setup.loaded.has_value()) {
    const ReplayPolicy policy = ReplayPolicy::FromOptions(options_);
    player_.emplace(Player::FromCassette(*setup.loaded, setup.matcher,
                                         policy.on_exhausted, policy.repeat));
    ws_player_.emplace(WsPlayer::FromCassette(*setup.loaded, setup.matcher,
                                              policy.on_exhausted));
    if (options_.on_miss() == v1::MISS_RECORD) {
      // New episodes are appended to what was loaded.
      // The cassette keeps its own options: Replay's overrides apply to this
      // session only.
      recorder_.emplace(*setup.loaded, options_.body_storage() == v1::DECODED,
                        redactor_, clock_, std::move(setup.journal));
    }
  } else if (mode_ == v1::RECORD) {
    v1::Cassette empty;
    empty.set_name(name_);
    *empty.mutable_options() = options_;
    recorder_.emplace(empty, options_.body_storage() == v1::DECODED, redactor_,
                      clock_, std::move(setup.journal));
  }
}

const core::HttpRequest& CassetteSession::ForMatching(
    const core::HttpRequest& request, core::HttpRequest& scratch) const {
  if (!redact_before_matching_) return request;
  scratch = request;
  redactor_->Redact(scratch);
  return scratch;
}

// Records one relayed WebSocket session into its cassette session.
class RecordingWsSink final : public core::WsSessionSink {
 public:
  RecordingWsSink(std::shared_ptr<CassetteSession> session,
                  core::HttpRequest upgrade)
      : session_(std::move(session)), upgrade_(std::move(upgrade)) {}

  void OnUpgraded(const core::HttpResponse& response) override {
    index_ = session_->WsBegin(upgrade_, response, session_->clock_.Now());
  }
  void OnMessage(const core::WsMessage& message) override {
    if (index_.has_value()) session_->WsMessage(*index_, message);
  }
  void OnClose(const core::WsClose& close) override {
    if (index_.has_value()) session_->WsClose(*index_, close);
  }

 private:
  std::shared_ptr<CassetteSession> session_;
  core::HttpRequest upgrade_;
  std::optional<uint64_t> index_;
};

core::WsDecision CassetteSession::OnWebSocket(
    const core::HttpRequest& upgrade) {
  absl::MutexLock lock(&mu_);
  if (mode_ == v1::RECORD) {
    return core::WsRelay{
        id_, std::make_shared<RecordingWsSink>(shared_from_this(), upgrade)};
  }
  if (mode_ == v1::PASSTHROUGH) {
    ++passed_through_;
    return core::WsRelay{id_, nullptr};
  }
  if (!ws_player_.has_value()) {
    return core::Reply{
        std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
            500, "internal", "replay session has no cassette\n")),
        "internal"};
  }
  core::HttpRequest scratch;
  auto answer = ws_player_->Answer(ForMatching(upgrade, scratch));
  if (auto* hit = std::get_if<WsPlayer::Hit>(&answer)) {
    ++replayed_;
    const uint64_t interaction = hit->recording->interaction_index;
    auto self = shared_from_this();
    const std::string url = upgrade.url;
    return core::WsReplay{std::make_unique<ScriptPlayback>(
        hit->recording, ReplayPolicy::FromOptions(options_).ws_pace,
        [self, url, interaction](size_t index, const core::WsMessage* expected,
                                 const core::WsMessage& got) {
          self->ReportWsMismatch(url, interaction, index, expected, got);
        })};
  }
  core::Reply reply = MissReply(
      upgrade, std::get<Player::Miss>(std::move(answer)), ws_player_->size(),
      [this](size_t i) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        const WsRecording& r = ws_player_->recording(i);
        return std::make_pair(r.interaction_index, &r.upgrade_request);
      });
  return reply;
}

std::optional<uint64_t> CassetteSession::WsBegin(
    const core::HttpRequest& upgrade, const core::HttpResponse& response,
    absl::Time opened) {
  absl::MutexLock lock(&mu_);
  if (!recorder_.has_value() || ended_) return std::nullopt;
  return recorder_->BeginWebSocket(upgrade, response, opened);
}

void CassetteSession::WsMessage(uint64_t index,
                                const core::WsMessage& message) {
  absl::MutexLock lock(&mu_);
  if (recorder_.has_value() && !ended_) recorder_->AddWsMessage(index, message);
}

void CassetteSession::WsClose(uint64_t index, const core::WsClose& close) {
  absl::MutexLock lock(&mu_);
  if (recorder_.has_value() && !ended_) recorder_->SetWsClose(index, close);
}

void CassetteSession::ReportWsMismatch(const std::string& url,
                                       uint64_t interaction,
                                       size_t message_index,
                                       const core::WsMessage* expected,
                                       const core::WsMessage& got) {
  auto describe = [](const core::WsMessage* m) {
    if (m == nullptr) return std::string("<nothing: the recording had ended>");
    return absl::StrCat(m->kind == core::WsKind::kBinary ? "binary " : "text ",
                        match::DescribeBody(m->payload));
  };
  v1::Miss miss;
  miss.set_method("GET");
  miss.set_url(url);
  miss.set_reason("ws-mismatch");
  v1::Candidate* c = miss.add_closest();
  c->set_interaction_index(interaction);
  c->set_method("WEBSOCKET");
  c->set_url(url);
  v1::FieldDifference* d = c->add_differences();
  d->set_field(absl::StrCat("message[", message_index, "]"));
  d->set_recorded(describe(expected));
  d->set_live(describe(&got));
  absl::MutexLock lock(&mu_);
  ++missed_;
  AddMiss(std::move(miss));
}

void CassetteSession::AddMiss(v1::Miss miss) {
  if (misses_.size() < kMaxMissesKept) misses_.push_back(std::move(miss));
}

void CassetteSession::End() {
  cassette::Journal* journal = nullptr;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    if (recorder_.has_value()) journal = recorder_->journal();
  }
  // The cassette is saved: the journal has served its purpose.
  if (journal != nullptr) (void)journal->Remove();
}

core::Decision CassetteSession::OnRequest(const core::HttpRequest& request) {
  absl::MutexLock lock(&mu_);
  if (mode_ == v1::RECORD || mode_ == v1::PASSTHROUGH) {
    return core::Forward{id_};
  }
  if (!player_.has_value()) {
    return core::Reply{
        std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
            500, "internal", "replay session has no cassette\n")),
        "internal"};
  }
  core::HttpRequest scratch;
  const core::HttpRequest& live = ForMatching(request, scratch);
  auto answer = player_->Answer(live);
  if (auto* hit = std::get_if<Player::Hit>(&answer)) {
    ++replayed_;
    return core::Reply{hit->response, ""};
  }
  if (options_.on_miss() == v1::MISS_PASSTHROUGH ||
      options_.on_miss() == v1::MISS_RECORD) {
    // Forwarded live (and, for RECORD, appended in OnForwarded).
    ++missed_;
    v1::Miss miss;
    miss.set_method(live.method);
    miss.set_url(live.url);
    miss.set_reason(options_.on_miss() == v1::MISS_RECORD
                        ? "no-match, recorded"
                        : "no-match, passed through");
    AddMiss(std::move(miss));
    return core::Forward{id_};
  }
  return MissReply(live, std::get<Player::Miss>(std::move(answer)),
                   player_->size(),
                   [this](size_t i) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                     const RecordedExchange& e = player_->exchange(i);
                     return std::make_pair(e.interaction_index, &e.request);
                   });
}

core::Reply CassetteSession::MissReply(
    const core::HttpRequest& request, Player::Miss miss, size_t recorded_count,
    const std::function<std::pair<uint64_t, const core::HttpRequest*>(size_t)>&
        recorded) {
  ++missed_;
  v1::Miss report;
  report.set_method(request.method);
  report.set_url(request.url);
  report.set_reason(miss.reason);
  for (const match::Candidate& c : miss.closest) {
    auto [interaction_index, recorded_request] = recorded(c.index);
    v1::Candidate* out = report.add_closest();
    out->set_interaction_index(interaction_index);
    out->set_method(recorded_request->method);
    out->set_url(recorded_request->url);
    for (const match::FieldDifference& d : c.differences) {
      v1::FieldDifference* fd = out->add_differences();
      fd->set_field(d.field);
      fd->set_recorded(d.recorded);
      fd->set_live(d.live);
    }
  }
  AddMiss(report);

  v1::ProxyError body;
  body.set_error(miss.reason);
  body.set_message(ExplainMiss(report, name_, recorded_count));
  body.set_cassette(name_);
  *body.mutable_miss() = std::move(report);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(body, &json, options);
  core::HttpResponse response = core::MakeErrorResponse(
      kMissStatus, miss.reason, std::move(json), "application/json");
  response.reason = "Matgto No Match";
  return core::Reply{
      std::make_shared<const core::HttpResponse>(std::move(response)),
      miss.reason};
}

void CassetteSession::OnForwarded(const core::HttpRequest& request,
                                  const core::HttpResponse& response,
                                  const core::ExchangeTiming& timing) {
  absl::MutexLock lock(&mu_);
  if (recorder_.has_value()) {
    if (ended_) return;
    const size_t index = recorder_->AddHttp(request, response, timing);
    if (mode_ == v1::REPLAY && player_.has_value()) {
      // A miss recorded during replay answers its repeats from now on.
      ++appended_;
      ++passed_through_;
      core::HttpRequest redacted = request;
      redactor_->Redact(redacted);
      player_->Append(RecordedExchange{
          .interaction_index = index,
          .request = std::move(redacted),
          .response = std::make_shared<const core::HttpResponse>(
              recorder_->StoredResponse(index))});
    }
  } else {
    ++passed_through_;
  }
}

void CassetteSession::OnForwardFailed() {
  absl::MutexLock lock(&mu_);
  ++failed_;
}

v1::SessionInfo CassetteSession::Info() const {
  absl::MutexLock lock(&mu_);
  v1::SessionInfo info;
  info.set_cassette(name_);
  info.set_mode(mode_);
  info.set_requested_mode(requested_mode_);
  info.set_recorded(!recorder_.has_value() ? 0
                    : mode_ == v1::REPLAY  ? appended_
                                           : recorder_->size());
  info.set_replayed(replayed_);
  info.set_missed(missed_);
  info.set_passed_through(passed_through_);
  info.set_interactions((player_.has_value() ? player_->size() : 0) +
                        (ws_player_.has_value() ? ws_player_->size() : 0));
  *info.mutable_options() = options_;
  for (const v1::Miss& m : misses_) *info.add_misses() = m;
  return info;
}

std::optional<v1::Cassette> CassetteSession::Recording() const {
  absl::MutexLock lock(&mu_);
  if (!recorder_.has_value()) return std::nullopt;
  if (mode_ == v1::REPLAY && appended_ == 0) return std::nullopt;  // unchanged
  return recorder_->Snapshot();
}

std::vector<uint64_t> CassetteSession::Unused() const {
  absl::MutexLock lock(&mu_);
  if (!player_.has_value()) return {};
  std::vector<uint64_t> out = player_->Unused();
  if (ws_player_.has_value()) {
    std::vector<uint64_t> ws = ws_player_->Unused();
    out.insert(out.end(), ws.begin(), ws.end());
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace matgto::replay
