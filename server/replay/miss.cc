#include "server/replay/miss.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "server/match/matcher.h"

namespace matgto::replay {

void MissLog::Add(v1::Miss miss) {
  ++count_;
  last_ = miss;
  if (kept_.size() < static_cast<size_t>(kMaxMissesKept)) {
    kept_.push_back(std::move(miss));
  }
}

v1::Miss MissReport(const core::HttpRequest& live, const Player::Miss& miss,
                    const RecordedAt& recorded) {
  v1::Miss report;
  report.set_method(live.method);
  report.set_url(live.url);
  report.set_reason(miss.reason);
  for (const match::Candidate& c : miss.closest) {
    const RecordedRequest r = recorded(c.index);
    v1::Candidate* out = report.add_closest();
    out->set_interaction_index(r.interaction_index);
    out->set_method(r.request->method);
    out->set_url(r.request->url);
    for (const match::FieldDifference& d : c.differences) {
      v1::FieldDifference* fd = out->add_differences();
      fd->set_field(d.field);
      fd->set_recorded(d.recorded);
      fd->set_live(d.live);
    }
  }
  return report;
}

std::string ExplainMiss(const v1::Miss& report, absl::string_view cassette,
                        size_t recorded_count) {
  std::string msg;
  if (report.reason() == "exhausted") {
    msg = absl::StrCat("matgto: every recorded answer to ", report.method(),
                       " ", report.url(), " in cassette '", cassette,
                       "' has been used and the cassette's on_exhausted policy "
                       "is EXHAUSTED_ERROR.");
  } else {
    msg = absl::StrCat("matgto: no recorded interaction in cassette '",
                       cassette, "' (", recorded_count, " candidates) matches ",
                       report.method(), " ", report.url(), ".");
  }
  if (report.reason() == "no-match" && report.closest_size() > 0) {
    const v1::Candidate& c = report.closest(0);
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

core::Reply MissReply(v1::Miss report, absl::string_view cassette,
                      size_t recorded_count) {
  const std::string reason = report.reason();
  v1::ProxyError body;
  body.set_error(reason);
  body.set_message(ExplainMiss(report, cassette, recorded_count));
  body.set_cassette(std::string(cassette));
  *body.mutable_miss() = std::move(report);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(body, &json, options);
  core::HttpResponse response = core::MakeErrorResponse(
      kMissStatus, reason, std::move(json), "application/json");
  response.reason = "Matgto No Match";
  return core::Reply{
      std::make_shared<const core::HttpResponse>(std::move(response)), reason};
}

v1::Miss WsMismatchReport(const std::string& url, uint64_t interaction,
                          size_t message_index, const core::WsMessage* expected,
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
  return miss;
}

v1::Miss StreamMismatchReport(const core::HttpRequest& live,
                              uint64_t interaction,
                              absl::string_view recorded_body,
                              absl::string_view live_body) {
  size_t at = 0;
  while (at < recorded_body.size() && at < live_body.size() &&
         recorded_body[at] == live_body[at]) {
    ++at;
  }
  v1::Miss miss;
  miss.set_method(live.method);
  miss.set_url(live.url);
  miss.set_reason("stream-mismatch");
  v1::Candidate* c = miss.add_closest();
  c->set_interaction_index(interaction);
  c->set_method(live.method);
  c->set_url(live.url);
  v1::FieldDifference* d = c->add_differences();
  d->set_field(absl::StrCat("body from byte ", at));
  d->set_recorded(at < recorded_body.size()
                      ? match::DescribeBody(recorded_body.substr(at))
                      : "<the recorded request ended here>");
  d->set_live(at < live_body.size() ? match::DescribeBody(live_body.substr(at))
                                    : "<the live request ended here>");
  return miss;
}

MissHandler::MissHandler(OnMiss on_miss, std::string cassette, uint64_t ticket)
    : on_miss_(on_miss), cassette_(std::move(cassette)), ticket_(ticket) {}

core::Decision MissHandler::OnHttpMiss(const core::HttpRequest& live,
                                       const Player::Miss& miss,
                                       size_t recorded_count,
                                       const RecordedAt& recorded,
                                       MissLog& log) const {
  switch (on_miss_) {
    case OnMiss::kPassthrough:
    case OnMiss::kRecord: {
      v1::Miss report;
      report.set_method(live.method);
      report.set_url(live.url);
      report.set_reason(on_miss_ == OnMiss::kRecord
                            ? "no-match, recorded"
                            : "no-match, passed through");
      log.Add(std::move(report));
      return core::Forward{.ticket = ticket_,
                           .store = on_miss_ == OnMiss::kRecord};
    }
    case OnMiss::kError:
      break;
  }
  return ErrorReply(live, miss, recorded_count, recorded, log);
}

core::Reply MissHandler::OnWsMiss(const core::HttpRequest& upgrade,
                                  const Player::Miss& miss,
                                  size_t recorded_count,
                                  const RecordedAt& recorded,
                                  MissLog& log) const {
  return ErrorReply(upgrade, miss, recorded_count, recorded, log);
}

core::Reply MissHandler::ErrorReply(const core::HttpRequest& live,
                                    const Player::Miss& miss,
                                    size_t recorded_count,
                                    const RecordedAt& recorded,
                                    MissLog& log) const {
  v1::Miss report = MissReport(live, miss, recorded);
  log.Add(report);
  return MissReply(std::move(report), cassette_, recorded_count);
}

}  // namespace matgto::replay
