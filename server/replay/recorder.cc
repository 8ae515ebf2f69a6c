#include "server/replay/recorder.h"

#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"
#include "server/cassette/ws_codec.h"
#include "server/core/content_coding.h"

namespace matgto::replay {

using cassette::ToProtoDuration;
using cassette::ToProtoTimestamp;

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
    *cassette_.mutable_created_at() = ToProtoTimestamp(clock_.Now());
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
  *interaction->mutable_recorded_at() = ToProtoTimestamp(clock_.Now());
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
  *ws->mutable_timing()->mutable_started_at() = ToProtoTimestamp(opened);
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
  cassette::ToProto(message, *m);
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
  cassette::ToProto(close, *ws->mutable_close());
  *ws->mutable_timing()->mutable_total() = ToProtoDuration(close.since_open);
  if (journal_ != nullptr) {
    v1::JournalEntry entry;
    entry.mutable_ws_close()->set_interaction_index(index);
    *entry.mutable_ws_close()->mutable_close() = ws->close();
    journal_->Append(std::move(entry));
  }
}

v1::Cassette Recorder::Snapshot() const {
  v1::Cassette out = cassette_;
  *out.mutable_updated_at() = ToProtoTimestamp(clock_.Now());
  return out;
}

}  // namespace matgto::replay
