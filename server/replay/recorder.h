// Accumulates recorded interactions, redacted, into a cassette, and appends
// each one to the recording's journal as it happens.
//
// Redaction is per session, not per message: every value a rule removes is
// remembered (cassette::KnownSecrets) and scrubbed from every later
// exchange and WebSocket message, and from earlier ones when the cassette
// is snapshot for saving. An exchange whose body a rule could not be
// applied to is stored as sent (or not at all, under UNREDACTABLE_REFUSE)
// and leaves a warning for the session's summary.
//
// Where the interactions live: with a journal, in the journal alone (the
// recorder keeps the cassette's header, a count and its open WebSocket
// sessions), so memory does not grow with the recording; the interactions
// are read back from the journal one at a time as the cassette is saved
// (ToSave), so saving does not grow with it either. Without one, in memory.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/interaction_wire.h"
#include "server/cassette/journal.h"
#include "server/cassette/redact.h"
#include "server/core/clock.h"
#include "server/core/http.h"
#include "server/core/websocket.h"

namespace matgto::replay {

// Thread-safety: none, except DraftHttp; the owning session serialises
// the other calls.
class Recorder {
 public:
  // Starts from `start` (its name, options, and any interactions it already
  // has: new ones are appended). `decode_bodies` stores bodies without their
  // Content-Encoding. `journal` may be null (no crash protection).
  // `secrets` is shared with whoever redacts the session's live requests
  // before matching (null: the recorder keeps its own).
  Recorder(const v1::Cassette& start, bool decode_bodies,
           std::shared_ptr<const cassette::Redactor> redactor,
           const core::Clock& clock, std::unique_ptr<cassette::Journal> journal,
           std::shared_ptr<cassette::KnownSecrets> secrets = nullptr);

  // An exchange as it was stored (redacted, bodies decoded if asked).
  struct Stored {
    core::HttpRequest request;
    core::HttpResponse response;
  };
  // Redacts copies of the request and response (and decodes the bodies when
  // options.body_storage is DECODED) and appends the exchange; returns its
  // interaction index, or nullopt when it was refused (a body a rule could
  // not be applied to, under UNREDACTABLE_REFUSE). `stored` (optional) gets
  // the exchange as stored.
  // DraftHttp then Commit.
  std::optional<uint64_t> AddHttp(const core::HttpRequest& request,
                                  const core::HttpResponse& response,
                                  const core::ExchangeTiming& timing,
                                  Stored* stored = nullptr);

  // An exchange redacted and converted, not yet numbered: the costly half
  // of AddHttp. It lives in the scratch space of the thread that drafted it
  // (the redacted copies, and the journal record or the reused protobuf
  // entry), valid until that thread drafts again, so it is committed by the
  // same call.
  struct Draft {
    // UNREDACTABLE_REFUSE applied: Commit stores nothing.
    bool refused = false;
    // Why rules could not be applied to a body ("" when they were).
    std::string problems;
    // How many secrets were known when it was redacted.
    size_t secrets_known = 0;
    core::HttpRequest* request = nullptr;
    core::HttpResponse* response = nullptr;
    const core::ExchangeTiming* timing = nullptr;
    // With a journal: its record, encoded but for the index and
    // recorded_at that Commit gives it. Null when refused.
    cassette::HttpInteractionRecord* record = nullptr;
    // Without one: the journal entry holding the interaction (no index nor
    // recorded_at yet). Null when refused.
    v1::JournalEntry* entry = nullptr;
  };
  // Thread-safe, unlike the rest: it reads only what is fixed at
  // construction (the rules, the shared known secrets, whether bodies are
  // decoded). A session drafts before taking its lock and holds the lock
  // only to Commit: its I/O threads no longer queue behind each other's
  // redaction and protobuf building.
  Draft DraftHttp(const core::HttpRequest& request,
                  const core::HttpResponse& response,
                  const core::ExchangeTiming& timing) const;
  // Numbers the draft and appends it (scrubbed first of any secret learned
  // since it was drafted); returns its index, or nullopt when it was
  // refused. `stored` (optional) gets the exchange as stored.
  std::optional<uint64_t> Commit(Draft& draft, Stored* stored = nullptr);

  // Starts a WebSocket interaction; returns its index for the calls below.
  uint64_t BeginWebSocket(const core::HttpRequest& upgrade_request,
                          const core::HttpResponse& upgrade_response,
                          absl::Time opened);
  void AddWsMessage(uint64_t index, const core::WsMessage& message);
  void SetWsClose(uint64_t index, const core::WsClose& close);

  size_t size() const { return static_cast<size_t>(count_); }
  // The recording as it stands, ready to save: interactions stored before a
  // secret was learned are scrubbed of it as they are read. With a journal,
  // read back from it one interaction at a time when it is written (the
  // error when it cannot be); it keeps what it needs, and may outlive the
  // recorder. Call under the session's lock, the session frozen.
  absl::StatusOr<cassette::Recording> ToSave() const;
  // ToSave, whole in memory.
  absl::StatusOr<v1::Cassette> Snapshot() const;
  // What the session's summary should say (oldest first, at most
  // kMaxWarnings, then one line counting the rest).
  std::vector<std::string> Warnings() const;
  static constexpr size_t kMaxWarnings = 100;
  // An exchange the client got but the recording could not keep.
  void NotStored(const core::HttpRequest& request, absl::string_view why);
  // The journal (null when none); the session flushes/removes it on stop.
  cassette::Journal* journal() const { return journal_.get(); }

 private:
  bool spooled() const { return journal_ != nullptr; }
  // Numbers `entry`'s interaction and keeps it: appended to the journal
  // (spooled), or copied into the cassette.
  void Store(v1::JournalEntry& entry);
  // The same for an HTTP draft with a journal: its record, numbered,
  // appended.
  void StoreRecord(const Draft& draft);
  void Warn(std::string warning);
  // Scrubs one stored interaction of every known secret; true if it changed.
  bool Scrub(v1::Interaction& interaction,
             const cassette::Scrubber& scrubber) const {
    return ScrubWith(*redactor_, scrubber, interaction);
  }
  static bool ScrubWith(const cassette::Redactor& redactor,
                        const cassette::Scrubber& scrubber,
                        v1::Interaction& interaction);
  // Called after each entry is stored: when a secret was learned since the
  // last call, scrubs the interactions stored before it in place and, if one
  // held it, replaces the journal with the scrubbed cassette (see
  // Journal::Replace), so a crash never recovers a secret the recording
  // learned later. Rare (a new secret value); costs a pass over the
  // interactions then.
  void CatchUpSecrets();

  std::shared_ptr<const cassette::Redactor> redactor_;
  std::shared_ptr<cassette::KnownSecrets> secrets_;
  // Per interaction: how many secrets were known when it was stored
  // (0 for those the recording started from).
  std::vector<size_t> known_when_stored_;
  // How many secrets the stored interactions are scrubbed of (spooled: the
  // journal), and how many the journal's summary was asked about.
  size_t known_caught_up_ = 0;
  size_t known_gram_checked_ = 0;
  // Spooled: secrets the summary did not rule out wait for a look at the
  // journal's bytes; the journal's size at the last look.
  bool pending_look_ = false;
  uint64_t looked_at_bytes_ = 0;
  static constexpr uint64_t kAlwaysLookBytes = 1 << 20;
  std::vector<std::string> warnings_;
  size_t warnings_dropped_ = 0;
  const bool decode_bodies_;
  const core::Clock& clock_;
  // The cassette's header and, unless spooled, its interactions.
  v1::Cassette cassette_;
  std::unique_ptr<cassette::Journal> journal_;
  uint64_t count_ = 0;
  // Spooled: every WebSocket interaction (index -> whether its close was
  // stored).
  absl::flat_hash_map<uint64_t, bool> ws_closed_;
  // Spooled: false once a catch-up could not read the journal back (then
  // ToSave scrubs every interaction).
  bool scrubbed_all_ = true;
  // Spooled: whether an interaction with a content-encoded body was stored
  // (the journal's bytes cannot then rule a secret out, see CatchUpSecrets).
  bool encoded_stored_ = false;
};

}  // namespace matgto::replay
