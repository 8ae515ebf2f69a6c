#include "server/replay/recorder.h"

#include "google/protobuf/util/time_util.h"
#include "server/cassette/codec.h"
#include "server/core/content_coding.h"

namespace matgto::replay {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}
google::protobuf::Duration ToDuration(absl::Duration d) {
  return TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}
absl::Duration FromDuration(const google::protobuf::Duration& d) {
  return absl::Nanoseconds(TimeUtil::DurationToNanoseconds(d));
}
v1::Direction ToProto(core::WsDirection d) {
  return d == core::WsDirection::kClientToServer ? v1::CLIENT_TO_SERVER
                                                 : v1::SERVER_TO_CLIENT;
}
core::WsDirection FromProto(v1::Direction d) {
  return d == v1::SERVER_TO_CLIENT ? core::WsDirection::kServerToClient
                                   : core::WsDirection::kClientToServer;
}

}  // namespace

void ToProto(const core::WsMessage& in, v1::WsMessage& out) {
  out.set_direction(ToProto(in.direction));
  switch (in.kind) {
    case core::WsKind::kText:
      out.set_kind(v1::WS_TEXT);
      break;
    case core::WsKind::kBinary:
      out.set_kind(v1::WS_BINARY);
      break;
    case core::WsKind::kPing:
      out.set_kind(v1::WS_PING);
      break;
    case core::WsKind::kPong:
      out.set_kind(v1::WS_PONG);
      break;
  }
  out.set_payload(in.payload);
  *out.mutable_since_open() = ToDuration(in.since_open);
}

void ToProto(const core::WsClose& in, v1::WsClose& out) {
  out.set_initiator(ToProto(in.initiator));
  out.set_code(static_cast<uint32_t>(in.code));
  out.set_reason(in.reason);
  *out.mutable_since_open() = ToDuration(in.since_open);
}

core::WsMessage FromProto(const v1::WsMessage& in) {
  core::WsMessage out;
  out.direction = FromProto(in.direction());
  switch (in.kind()) {
    case v1::WS_BINARY:
      out.kind = core::WsKind::kBinary;
      break;
    case v1::WS_PING:
      out.kind = core::WsKind::kPing;
      break;
    case v1::WS_PONG:
      out.kind = core::WsKind::kPong;
      break;
    default:
      out.kind = core::WsKind::kText;
      break;
  }
  out.payload = in.payload();
  out.since_open = FromDuration(in.since_open());
  return out;
}

core::WsClose FromProto(const v1::WsClose& in) {
  core::WsClose out;
  out.initiator = FromProto(in.initiator());
  out.code = static_cast<int>(in.code());
  out.reason = in.reason();
  out.since_open = FromDuration(in.since_open());
  return out;
}

Recorder::Recorder(const v1::Cassette& start, bool decode_bodies,
                   std::shared_ptr<const cassette::Redactor> redactor,
                   const core::Clock& clock,
                   std::unique_ptr<cassette::Journal> journal)
    : redactor_(std::move(redactor)),
      decode_bodies_(decode_bodies),
      clock_(clock),
      cassette_(start),
      journal_(std::move(journal)) {
  cassette_.clear_complete();
  if (!cassette_.has_created_at()) {
    *cassette_.mutable_created_at() = ToTimestamp(clock_.Now());
  }
  if (journal_ != nullptr) {
    v1::JournalEntry entry;
    *entry.mutable_begin() = cassette_;
    journal_->Append(std::move(entry));
  }
}

v1::Interaction* Recorder::NewInteraction() {
  v1::Interaction* interaction = cassette_.add_interactions();
  interaction->set_index(
      static_cast<uint64_t>(cassette_.interactions_size() - 1));
  *interaction->mutable_recorded_at() = ToTimestamp(clock_.Now());
  return interaction;
}

namespace {

// Stores a body decoded: Content-Encoding dropped, Content-Length fixed.
void StoreDecoded(core::Headers& headers, std::string& body) {
  const std::string* coding = core::FindHeader(headers, "content-encoding");
  if (coding == nullptr) return;
  absl::StatusOr<std::string> decoded = core::DecodeContent(body, *coding);
  if (!decoded.ok()) return;  // keep the wire bytes rather than lose them
  body = *std::move(decoded);
  core::RemoveHeaders(headers, "content-encoding");
  if (core::FindHeader(headers, "content-length") != nullptr) {
    core::SetHeader(headers, "Content-Length", std::to_string(body.size()));
  }
}

}  // namespace

uint64_t Recorder::AddHttp(const core::HttpRequest& request,
                           const core::HttpResponse& response,
                           const core::ExchangeTiming& timing) {
  core::HttpRequest req = request;
  core::HttpResponse res = response;
  redactor_->Redact(req);
  redactor_->Redact(res);
  if (decode_bodies_) {
    StoreDecoded(req.headers, req.body);
    StoreDecoded(res.headers, res.body);
  }
  v1::Interaction* interaction = NewInteraction();
  v1::HttpExchange* http = interaction->mutable_http();
  cassette::ToProto(req, *http->mutable_request());
  cassette::ToProto(res, *http->mutable_response());
  cassette::ToProto(timing, *http->mutable_timing());
  if (journal_ != nullptr) {
    v1::JournalEntry entry;
    *entry.mutable_interaction() = *interaction;
    journal_->Append(std::move(entry));
  }
  return interaction->index();
}

core::HttpResponse Recorder::StoredResponse(uint64_t index) const {
  return cassette::FromProto(
      cassette_.interactions(static_cast<int>(index)).http().response());
}

uint64_t Recorder::BeginWebSocket(const core::HttpRequest& upgrade_request,
                                  const core::HttpResponse& upgrade_response,
                                  absl::Time opened) {
  core::HttpRequest req = upgrade_request;
  core::HttpResponse res = upgrade_response;
  redactor_->Redact(req);
  redactor_->Redact(res);
  v1::Interaction* interaction = NewInteraction();
  v1::WebSocketSession* ws = interaction->mutable_websocket();
  cassette::ToProto(req, *ws->mutable_upgrade_request());
  cassette::ToProto(res, *ws->mutable_upgrade_response());
  *ws->mutable_timing()->mutable_started_at() = ToTimestamp(opened);
  if (journal_ != nullptr) {
    v1::JournalEntry entry;
    *entry.mutable_interaction() = *interaction;
    journal_->Append(std::move(entry));
  }
  return interaction->index();
}

void Recorder::AddWsMessage(uint64_t index, const core::WsMessage& message) {
  if (index >= size()) return;
  v1::WsMessage* m = cassette_.mutable_interactions(static_cast<int>(index))
                         ->mutable_websocket()
                         ->add_messages();
  ToProto(message, *m);
  if (journal_ != nullptr) {
    v1::JournalEntry entry;
    entry.mutable_ws_message()->set_interaction_index(index);
    *entry.mutable_ws_message()->mutable_message() = *m;
    journal_->Append(std::move(entry));
  }
}

void Recorder::SetWsClose(uint64_t index, const core::WsClose& close) {
  if (index >= size()) return;
  v1::WebSocketSession* ws =
      cassette_.mutable_interactions(static_cast<int>(index))
          ->mutable_websocket();
  if (ws->has_close()) return;  // the first close frame is the one that counts
  ToProto(close, *ws->mutable_close());
  *ws->mutable_timing()->mutable_total() = ToDuration(close.since_open);
  if (journal_ != nullptr) {
    v1::JournalEntry entry;
    entry.mutable_ws_close()->set_interaction_index(index);
    *entry.mutable_ws_close()->mutable_close() = ws->close();
    journal_->Append(std::move(entry));
  }
}

v1::Cassette Recorder::Snapshot() const {
  v1::Cassette out = cassette_;
  *out.mutable_updated_at() = ToTimestamp(clock_.Now());
  return out;
}

}  // namespace matgto::replay
