#include "server/replay/recorder.h"

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"
#include "server/cassette/ws_codec.h"
#include "server/core/content_coding.h"
#include "server/core/status_macros.h"

namespace matgto::replay {

using cassette::ToProtoDuration;
using cassette::ToProtoTimestamp;

namespace {

// Whether a body of `interaction` is stored content-encoded (gzip...): the
// journal's bytes may hide a secret inside it (see Journal::Holds).
template <typename Message>
bool IsEncoded(const Message& message) {
  if (message.body().empty()) return false;
  for (const v1::Header& h : message.headers()) {
    if (core::EqualsIgnoreCase(h.name(), "content-encoding") &&
        !core::EqualsIgnoreCase(h.value(), "identity")) {
      return true;
    }
  }
  return false;
}

// The same for an exchange's message as stored.
template <typename Message>
bool IsEncodedCore(const Message& message) {
  if (message.body.empty()) return false;
  const std::string coding = core::ContentEncodingOf(message.headers);
  return !coding.empty() && !core::EqualsIgnoreCase(coding, "identity");
}

bool HasEncodedBody(const v1::Interaction& interaction) {
  return interaction.has_http() && (IsEncoded(interaction.http().request()) ||
                                    IsEncoded(interaction.http().response()));
}

}  // namespace

Recorder::Recorder(const v1::Cassette& start, bool decode_bodies,
                   std::shared_ptr<const cassette::Redactor> redactor,
                   const core::Clock& clock,
                   std::unique_ptr<cassette::Journal> journal,
                   std::shared_ptr<cassette::KnownSecrets> secrets)
    : redactor_(std::move(redactor)),
      secrets_(secrets != nullptr ? std::move(secrets)
                                  : std::make_shared<cassette::KnownSecrets>()),
      known_when_stored_(static_cast<size_t>(start.interactions_size()), 0),
      decode_bodies_(decode_bodies),
      clock_(clock),
      cassette_(start),
      journal_(std::move(journal)) {
  cassette_.clear_complete();
  if (!cassette_.has_created_at()) {
    *cassette_.mutable_created_at() = ToProtoTimestamp(clock_.Now());
  }
  count_ = static_cast<uint64_t>(cassette_.interactions_size());
  if (journal_ != nullptr) {
    for (const v1::Interaction& interaction : cassette_.interactions()) {
      encoded_stored_ |= HasEncodedBody(interaction);
    }
    v1::JournalEntry entry;
    *entry.mutable_begin() = cassette_;
    journal_->Append(std::move(entry));
    // The journal holds them from now on.
    cassette_.clear_interactions();
    known_when_stored_.clear();
  }
}

namespace {

// A thread's space for drafting journal entries, reused from one exchange
// to the next: the entry's messages, repeated fields and strings are those
// of the entries before it, cleared, so a warm thread fills an HTTP entry
// without allocating (cleared protobuf strings and repeated fields keep
// their capacity). Proto3's Clear deletes singular sub-messages, so the
// HTTP exchange's messages are taken back out of the entry first and put
// back in, cleared. A body over kKeepBodyBytes is not kept. Also the
// copies a draft redacts, whose strings keep their capacity too, and the
// journal record of a draft for a journal (the same).
class Scratch {
 public:
  // The calling thread's.
  static Scratch& Get() {
    thread_local Scratch scratch;
    return scratch;
  }
  // A cleared entry holding a cleared HTTP exchange with its request,
  // response and timing; the entry handed out before on this thread is
  // gone.
  v1::JournalEntry* NewHttpEntry() {
    Reclaim();
    for (std::string* body :
         {request_->mutable_body(), response_->mutable_body()}) {
      if (body->capacity() > kKeepBodyBytes) std::string().swap(*body);
    }
    http_->set_allocated_request(request_.release());
    http_->set_allocated_response(response_.release());
    http_->set_allocated_timing(timing_.release());
    interaction_->set_allocated_http(http_.release());
    entry_.set_allocated_interaction(interaction_.release());
    return &entry_;
  }
  // A cleared entry; the one handed out before on this thread is gone.
  v1::JournalEntry* NewEntry() {
    Reclaim();
    return &entry_;
  }
  // `record`, its storage given back when it held a large body.
  cassette::HttpInteractionRecord& NewRecord() {
    record.Trim(2 * kKeepBodyBytes);
    return record;
  }
  core::HttpRequest request;
  core::HttpResponse response;
  core::ExchangeTiming timing;
  cassette::HttpInteractionRecord record;

 private:
  static constexpr size_t kKeepBodyBytes = 64 * 1024;

  // Takes the HTTP messages back out of the last entry, all cleared, and
  // clears the entry.
  void Reclaim() {
    if (entry_.has_interaction()) {
      interaction_.reset(entry_.release_interaction());
      if (interaction_->has_http()) {
        http_.reset(interaction_->release_http());
        if (http_->has_request()) request_.reset(http_->release_request());
        if (http_->has_response()) response_.reset(http_->release_response());
        if (http_->has_timing()) timing_.reset(http_->release_timing());
      }
    }
    entry_.Clear();
    interaction_->Clear();
    http_->Clear();
    request_->Clear();
    response_->Clear();
    // Not cleared: ToProto(ExchangeTiming) sets each of its fields, and
    // proto3's Clear would free its three time messages, made again for the
    // next entry.
  }

  v1::JournalEntry entry_;
  // Held here while not in entry_.
  std::unique_ptr<v1::Interaction> interaction_ =
      std::make_unique<v1::Interaction>();
  std::unique_ptr<v1::HttpExchange> http_ =
      std::make_unique<v1::HttpExchange>();
  std::unique_ptr<v1::HttpRequest> request_ =
      std::make_unique<v1::HttpRequest>();
  std::unique_ptr<v1::HttpResponse> response_ =
      std::make_unique<v1::HttpResponse>();
  std::unique_ptr<v1::Timing> timing_ = std::make_unique<v1::Timing>();
};

}  // namespace

void Recorder::Store(v1::JournalEntry& entry) {
  v1::Interaction& interaction = *entry.mutable_interaction();
  interaction.set_index(count_++);
  cassette::SetProtoTimestamp(clock_.Now(), *interaction.mutable_recorded_at());
  if (spooled()) {
    encoded_stored_ |= HasEncodedBody(interaction);
    journal_->Append(entry);
    return;
  }
  *cassette_.add_interactions() = interaction;
  known_when_stored_.push_back(secrets_->size());
}

void Recorder::StoreRecord(const Draft& draft) {
  encoded_stored_ |=
      IsEncodedCore(*draft.request) || IsEncodedCore(*draft.response);
  journal_->AppendRecord(draft.record->Finish(count_++, clock_.Now()));
}

void Recorder::Warn(std::string warning) {
  if (warnings_.size() < kMaxWarnings) {
    warnings_.push_back(std::move(warning));
  } else {
    ++warnings_dropped_;
  }
}

std::vector<std::string> Recorder::Warnings() const {
  std::vector<std::string> out = warnings_;
  if (warnings_dropped_ > 0) {
    out.push_back(absl::StrCat("... and ", warnings_dropped_,
                               " more warnings like these"));
  }
  return out;
}

namespace {

// Stores a body decoded: Content-Encoding dropped, Content-Length fixed.
void StoreDecoded(core::Headers& headers, std::string& body) {
  if (core::FindHeader(headers, "content-encoding") == nullptr) return;
  absl::StatusOr<std::string> decoded = core::DecodeBody(headers, body);
  if (!decoded.ok()) return;  // keep the wire bytes rather than lose them
  body = *std::move(decoded);
  core::RemoveHeaders(headers, "content-encoding");
  if (core::FindHeader(headers, "content-length") != nullptr) {
    core::SetHeader(headers, "Content-Length", std::to_string(body.size()));
  }
}

}  // namespace

std::optional<uint64_t> Recorder::AddHttp(const core::HttpRequest& request,
                                          const core::HttpResponse& response,
                                          const core::ExchangeTiming& timing,
                                          Stored* stored) {
  Draft draft = DraftHttp(request, response, timing);
  return Commit(draft, stored);
}

Recorder::Draft Recorder::DraftHttp(const core::HttpRequest& request,
                                    const core::HttpResponse& response,
                                    const core::ExchangeTiming& timing) const {
  Scratch& scratch = Scratch::Get();
  Draft draft;
  draft.request = &scratch.request;
  draft.response = &scratch.response;
  core::HttpRequest& req = scratch.request;
  core::HttpResponse& res = scratch.response;
  req = request;
  res = response;
  draft.secrets_known = secrets_->size();
  const cassette::RedactReport report =
      redactor_->RedactExchange(req, &res, *secrets_);
  if (!report.unredactable.empty()) {
    draft.problems = absl::StrJoin(report.unredactable, "; ");
    if (redactor_->refuse_unredactable()) {
      draft.refused = true;
      return draft;
    }
  }
  if (decode_bodies_) {
    StoreDecoded(req.headers, req.body);
    // (A body in a spool file is stored as it came.)
    if (res.spooled == nullptr) StoreDecoded(res.headers, res.body);
  }
  if (spooled()) {
    // Encoded straight from the values: the journal's record needs no
    // protobuf message (see interaction_wire.h).
    scratch.timing = timing;
    draft.timing = &scratch.timing;
    draft.record = &scratch.NewRecord();
    draft.record->SetHttp(req, res, timing, timing.fault);
    return draft;
  }
  draft.entry = scratch.NewHttpEntry();
  v1::Interaction* interaction = draft.entry->mutable_interaction();
  v1::HttpExchange* http = interaction->mutable_http();
  cassette::ToProto(req, *http->mutable_request());
  cassette::ToProto(res, *http->mutable_response());
  cassette::ToProto(timing, *http->mutable_timing());
  if (!timing.fault.empty()) interaction->set_fault(timing.fault);
  return draft;
}

std::optional<uint64_t> Recorder::Commit(Draft& draft, Stored* stored) {
  const core::HttpRequest& req = *draft.request;
  if (draft.refused) {
    Warn(absl::StrCat(
        req.method, " ", req.url, " was not stored (on_unredactable REFUSE): ",
        draft.problems, ", so redaction rules could not be applied"));
    return std::nullopt;
  }
  if (!draft.problems.empty()) {
    Warn(absl::StrCat("interaction ", count_, ", ", req.method, " ", req.url,
                      ": ", draft.problems,
                      "; redaction rules were not applied to it (stored as "
                      "sent; on_unredactable REFUSE would not store it)"));
  }
  // Another thread learned a secret while this one was drafting: the
  // catch-up below only scrubs what was stored before it.
  const bool stale = secrets_->size() != draft.secrets_known;
  if (stale && draft.record != nullptr) {
    redactor_->Scrub(*draft.request, *secrets_->scrubber());
    redactor_->Scrub(*draft.response, *secrets_->scrubber());
    draft.record->SetHttp(*draft.request, *draft.response, *draft.timing,
                          draft.timing->fault);
  } else if (stale) {
    Scrub(*draft.entry->mutable_interaction(), *secrets_->scrubber());
  }
  const uint64_t index = count_;
  if (draft.record != nullptr) {
    StoreRecord(draft);
  } else {
    Store(*draft.entry);
  }
  if (stored != nullptr) {
    stored->request = std::move(*draft.request);
    stored->response = std::move(*draft.response);
    if (stale && draft.record == nullptr) {
      redactor_->Scrub(stored->request, *secrets_->scrubber());
      redactor_->Scrub(stored->response, *secrets_->scrubber());
    }
  }
  CatchUpSecrets();
  return index;
}

uint64_t Recorder::BeginWebSocket(const core::HttpRequest& upgrade_request,
                                  const core::HttpResponse& upgrade_response,
                                  absl::Time opened) {
  core::HttpRequest req = upgrade_request;
  core::HttpResponse res = upgrade_response;
  redactor_->RedactExchange(req, &res, *secrets_);
  v1::JournalEntry* entry = Scratch::Get().NewEntry();
  v1::WebSocketSession* ws = entry->mutable_interaction()->mutable_websocket();
  cassette::ToProto(req, *ws->mutable_upgrade_request());
  cassette::ToProto(res, *ws->mutable_upgrade_response());
  *ws->mutable_timing()->mutable_started_at() = ToProtoTimestamp(opened);
  const uint64_t index = count_;
  if (spooled()) ws_closed_[index] = false;
  Store(*entry);
  CatchUpSecrets();
  return index;
}

void Recorder::AddWsMessage(uint64_t index, const core::WsMessage& message) {
  if (index >= size() || (spooled() && !ws_closed_.contains(index))) return;
  core::WsMessage redacted = message;
  redactor_->RedactMessage(redacted, *secrets_);
  v1::JournalEntry entry;
  v1::WsMessage* m = entry.mutable_ws_message()->mutable_message();
  if (!spooled()) {
    m = cassette_.mutable_interactions(static_cast<int>(index))
            ->mutable_websocket()
            ->add_messages();
  }
  cassette::ToProto(redacted, *m);
  if (journal_ != nullptr) {
    entry.mutable_ws_message()->set_interaction_index(index);
    if (!spooled()) *entry.mutable_ws_message()->mutable_message() = *m;
    journal_->Append(std::move(entry));
  }
  CatchUpSecrets();
}

void Recorder::SetWsClose(uint64_t index, const core::WsClose& close) {
  if (index >= size()) return;
  v1::WebSocketSession* ws = nullptr;
  if (spooled()) {
    auto it = ws_closed_.find(index);
    if (it == ws_closed_.end() || it->second) return;
    it->second = true;
  } else {
    ws = cassette_.mutable_interactions(static_cast<int>(index))
             ->mutable_websocket();
    if (ws->has_close())
      return;  // the first close frame is the one that
               // counts
  }
  core::WsClose scrubbed = close;  // a close reason may echo a secret too
  secrets_->scrubber()->Scrub(scrubbed.reason);
  v1::JournalEntry entry;
  entry.mutable_ws_close()->set_interaction_index(index);
  v1::WsClose* stored = entry.mutable_ws_close()->mutable_close();
  cassette::ToProto(scrubbed, *stored);
  if (ws != nullptr) {
    *ws->mutable_close() = *stored;
    *ws->mutable_timing()->mutable_total() = ToProtoDuration(close.since_open);
  }
  if (journal_ != nullptr) journal_->Append(std::move(entry));
}

namespace {

template <typename Message>
void ScrubProto(const cassette::Redactor& redactor,
                const cassette::Scrubber& scrubber, Message& stored) {
  auto value = cassette::FromProto(stored);
  const auto before = value;
  redactor.Scrub(value, scrubber);
  if (!(value == before)) {
    stored.Clear();
    cassette::ToProto(value, stored);
  }
}

}  // namespace

bool Recorder::ScrubWith(const cassette::Redactor& redactor,
                         const cassette::Scrubber& scrubber,
                         v1::Interaction& interaction) {
  const std::string before = interaction.SerializeAsString();
  if (interaction.has_http()) {
    ScrubProto(redactor, scrubber,
               *interaction.mutable_http()->mutable_request());
    ScrubProto(redactor, scrubber,
               *interaction.mutable_http()->mutable_response());
  } else if (interaction.has_websocket()) {
    v1::WebSocketSession& ws = *interaction.mutable_websocket();
    ScrubProto(redactor, scrubber, *ws.mutable_upgrade_request());
    ScrubProto(redactor, scrubber, *ws.mutable_upgrade_response());
    for (v1::WsMessage& m : *ws.mutable_messages()) {
      core::WsMessage value = cassette::FromProto(m);
      if (scrubber.Scrub(value.payload)) {
        m.Clear();
        cassette::ToProto(value, m);
      }
    }
  }
  return interaction.SerializeAsString() != before;
}

void Recorder::NotStored(const core::HttpRequest& request,
                         absl::string_view why) {
  Warn(absl::StrCat(request.method, " ", request.url,
                    " was not recorded: ", why));
}

void Recorder::CatchUpSecrets() {
  const size_t known = secrets_->size();
  if (known == known_caught_up_) return;
  if (spooled() && !encoded_stored_) {
    // A look for the new secrets first: reading every entry back is for
    // when one may hold them. (A test suite whose requests each carry a new
    // token learns a secret per exchange.) The journal's summary of its
    // bytes rules most out; the bytes themselves, the rest.
    if (known > known_gram_checked_) {
      const std::vector<std::string> fresh =
          secrets_->Since(known_gram_checked_);
      const bool may = journal_->MayHold(cassette::SecretForms(fresh));
      known_gram_checked_ = known;
      if (!may && !pending_look_) {
        known_caught_up_ = known;
        return;
      }
      pending_look_ = true;
    }
    // Secrets the summary could not rule out are looked for together, each
    // time the journal has grown by a quarter since the last look (or while
    // it is small): a look reads the whole journal, and a secret per
    // exchange must not make recording quadratic. Until then the journal
    // may hold such a secret; the saved cassette never does (ToSave).
    const uint64_t bytes = journal_->AppendedBytes();
    if (bytes > kAlwaysLookBytes &&
        bytes - looked_at_bytes_ < looked_at_bytes_ / 4) {
      return;
    }
    looked_at_bytes_ = bytes;
    pending_look_ = false;
    const std::vector<std::string> fresh = secrets_->Since(known_caught_up_);
    known_caught_up_ = known;
    absl::StatusOr<bool> holds = journal_->Holds(cassette::Scrubber(fresh));
    if (holds.ok() && !*holds) return;
  } else {
    known_caught_up_ = known;
  }
  const std::shared_ptr<const cassette::Scrubber> scrubber =
      secrets_->scrubber();
  bool changed = false;
  if (spooled()) {
    // Every stored interaction is in the journal: read back, scrubbed, and
    // the journal replaced when one held the new secret.
    absl::StatusOr<v1::Cassette> all = journal_->Recover();
    if (!all.ok()) {
      scrubbed_all_ = false;  // Snapshot scrubs everything instead
      return;
    }
    for (v1::Interaction& interaction : *all->mutable_interactions()) {
      changed |= Scrub(interaction, *scrubber);
    }
    if (changed) {
      v1::JournalEntry entry;
      entry.mutable_begin()->Swap(&*all);
      journal_->Replace(std::move(entry));
      // (The replacement is not growth a look waits for.)
      looked_at_bytes_ = journal_->AppendedBytes();
    }
    return;
  }
  for (int i = 0; i < cassette_.interactions_size(); ++i) {
    const size_t at = static_cast<size_t>(i);
    if (at < known_when_stored_.size() && known_when_stored_[at] >= known) {
      continue;
    }
    changed |= Scrub(*cassette_.mutable_interactions(i), *scrubber);
    if (at < known_when_stored_.size()) known_when_stored_[at] = known;
  }
  if (changed && journal_ != nullptr) {
    v1::JournalEntry entry;
    *entry.mutable_begin() = cassette_;
    journal_->Replace(std::move(entry));
  }
}

absl::StatusOr<cassette::Recording> Recorder::ToSave() const {
  const std::shared_ptr<const cassette::Scrubber> scrubber =
      secrets_->scrubber();
  if (spooled()) {
    ASSIGN_OR_RETURN(cassette::Recording out, journal_->ReadBack());
    if (!scrubbed_all_ || secrets_->size() != known_caught_up_) {
      out.AddTransform([redactor = redactor_, scrubber](v1::Interaction& i) {
        ScrubWith(*redactor, *scrubber, i);
      });
    }
    *out.head().mutable_updated_at() = ToProtoTimestamp(clock_.Now());
    return out;
  }
  v1::Cassette out = cassette_;
  *out.mutable_updated_at() = ToProtoTimestamp(clock_.Now());
  const size_t known = secrets_->size();
  for (int i = 0; i < out.interactions_size(); ++i) {
    if (static_cast<size_t>(i) < known_when_stored_.size() &&
        known_when_stored_[i] >= known) {
      continue;  // stored knowing every secret known now
    }
    Scrub(*out.mutable_interactions(i), *scrubber);
  }
  return cassette::Recording(std::move(out));
}

absl::StatusOr<v1::Cassette> Recorder::Snapshot() const {
  ASSIGN_OR_RETURN(cassette::Recording recording, ToSave());
  return recording.Whole();
}

}  // namespace matgto::replay
