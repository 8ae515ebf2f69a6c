#include "server/replay/session.h"

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
                       cassette, "' (", recorded, " HTTP exchanges) matches ",
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

CassetteSession::CassetteSession(uint64_t id, std::string name,
                                 v1::Mode requested_mode, v1::Mode mode,
                                 v1::CassetteOptions options,
                                 std::optional<v1::Cassette> loaded,
                                 const cassette::Redactor& redactor,
                                 const core::Clock& clock)
    : id_(id),
      name_(std::move(name)),
      requested_mode_(requested_mode),
      mode_(mode),
      options_(std::move(options)) {
  if (mode_ == v1::REPLAY && loaded.has_value()) {
    player_.emplace(
        Player::FromCassette(*loaded, match::RequestMatcher(), options_.on_exhausted()));
  } else if (mode_ == v1::RECORD) {
    recorder_.emplace(name_, options_, redactor, clock);
  }
}

core::Decision CassetteSession::OnRequest(const core::HttpRequest& request) {
  absl::MutexLock lock(&mu_);
  if (mode_ == v1::RECORD || mode_ == v1::PASSTHROUGH) {
    return core::Forward{id_};
  }
  if (!player_.has_value()) {
    return core::Reply{std::make_shared<const core::HttpResponse>(
                           core::MakeErrorResponse(500, "internal",
                                                   "replay session has no cassette\n")),
                       "internal"};
  }
  auto answer = player_->Answer(request);
  if (auto* hit = std::get_if<Player::Hit>(&answer)) {
    ++replayed_;
    return core::Reply{hit->response, ""};
  }
  return MissReply(request, std::get<Player::Miss>(std::move(answer)));
}

core::Reply CassetteSession::MissReply(const core::HttpRequest& request,
                                       Player::Miss miss) {
  ++missed_;
  v1::Miss report;
  report.set_method(request.method);
  report.set_url(request.url);
  report.set_reason(miss.reason);
  for (const match::Candidate& c : miss.closest) {
    const RecordedExchange& e = player_->exchange(c.index);
    v1::Candidate* out = report.add_closest();
    out->set_interaction_index(e.interaction_index);
    out->set_method(e.request.method);
    out->set_url(e.request.url);
    for (const match::FieldDifference& d : c.differences) {
      v1::FieldDifference* fd = out->add_differences();
      fd->set_field(d.field);
      fd->set_recorded(d.recorded);
      fd->set_live(d.live);
    }
  }
  if (misses_.size() < kMaxMissesKept) misses_.push_back(report);

  v1::ProxyError body;
  body.set_error(miss.reason);
  body.set_message(ExplainMiss(report, name_, player_->size()));
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
  return core::Reply{std::make_shared<const core::HttpResponse>(std::move(response)),
                     miss.reason};
}

void CassetteSession::OnForwarded(const core::HttpRequest& request,
                                  const core::HttpResponse& response,
                                  const core::ExchangeTiming& timing) {
  absl::MutexLock lock(&mu_);
  if (recorder_.has_value()) {
    recorder_->AddHttp(request, response, timing);
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
  info.set_recorded(recorder_.has_value() ? recorder_->size() : 0);
  info.set_replayed(replayed_);
  info.set_missed(missed_);
  info.set_passed_through(passed_through_);
  info.set_interactions(player_.has_value() ? player_->size() : 0);
  *info.mutable_options() = options_;
  for (const v1::Miss& m : misses_) *info.add_misses() = m;
  return info;
}

std::optional<v1::Cassette> CassetteSession::Recording() const {
  absl::MutexLock lock(&mu_);
  if (!recorder_.has_value()) return std::nullopt;
  return recorder_->Snapshot();
}

std::vector<uint64_t> CassetteSession::Unused() const {
  absl::MutexLock lock(&mu_);
  if (!player_.has_value()) return {};
  return player_->Unused();
}

}  // namespace matgto::replay
