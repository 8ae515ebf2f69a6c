// Accumulates recorded interactions, redacted, into a cassette, and appends
// each one to the recording's journal as it happens.
#pragma once

#include <memory>
#include <string>

#include "matgto/v1/cassette.pb.h"
#include "server/cassette/journal.h"
#include "server/cassette/redact.h"
#include "server/core/clock.h"
#include "server/core/http.h"
#include "server/core/websocket.h"

namespace matgto::replay {

// Thread-safety: none; the owning session serialises calls.
class Recorder {
 public:
  // Starts from `start` (its name, options, and any interactions it already
  // has: new ones are appended). `decode_bodies` stores bodies without their
  // Content-Encoding. `journal` may be null (no crash protection).
  Recorder(const v1::Cassette& start, bool decode_bodies,
           std::shared_ptr<const cassette::Redactor> redactor,
           const core::Clock& clock,
           std::unique_ptr<cassette::Journal> journal);

  // Redacts copies of the request and response (and decodes the bodies when
  // options.body_storage is DECODED) and appends the exchange; returns its
  // interaction index.
  uint64_t AddHttp(const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing);
  // The response of interaction `index` as stored.
  core::HttpResponse StoredResponse(uint64_t index) const;

  // Starts a WebSocket interaction; returns its index for the calls below.
  uint64_t BeginWebSocket(const core::HttpRequest& upgrade_request,
                          const core::HttpResponse& upgrade_response,
                          absl::Time opened);
  void AddWsMessage(uint64_t index, const core::WsMessage& message);
  void SetWsClose(uint64_t index, const core::WsClose& close);

  size_t size() const {
    return static_cast<size_t>(cassette_.interactions_size());
  }
  // The cassette as it stands, ready to save.
  v1::Cassette Snapshot() const;
  // The journal (null when none); the session flushes/removes it on stop.
  cassette::Journal* journal() const { return journal_.get(); }

 private:
  v1::Interaction* NewInteraction();

  std::shared_ptr<const cassette::Redactor> redactor_;
  const bool decode_bodies_;
  const core::Clock& clock_;
  v1::Cassette cassette_;
  std::unique_ptr<cassette::Journal> journal_;
};

}  // namespace matgto::replay
