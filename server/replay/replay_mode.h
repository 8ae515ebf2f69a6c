// REPLAY: requests are answered from a loaded cassette (Player), WebSocket
// upgrades from its recorded sessions (WsPlayer); the repeat and exhausted
// policies decide which recording answers, and a miss goes to MissHandler
// (miss.h): a 599 that explains it, or a forward under on_miss PASSTHROUGH
// or RECORD. Under RECORD the forwarded exchange is appended to the cassette
// and answers the same request from then on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "matgto/v1/cassette.pb.h"
#include "server/cassette/image.h"
#include "server/cassette/redact.h"
#include "server/match/matcher.h"
#include "server/replay/miss.h"
#include "server/replay/mode.h"
#include "server/replay/player.h"
#include "server/replay/policy.h"
#include "server/replay/recorder.h"
#include "server/replay/ws_player.h"

namespace matgto::replay {

// Thread-safety: as ModeHandler.
class ReplayMode final : public ModeHandler {
 public:
  struct Setup {
    // Goes into the Forward of a forwarded miss.
    uint64_t ticket = 0;
    // The cassette's name, quoted in miss replies.
    std::string cassette;
    ReplayPolicy policy;
    // Applied to live requests (and WebSocket client messages) before
    // matching, so they compare like the (redacted) recordings.
    std::shared_ptr<const cassette::Redactor> redactor;
    // The secrets the session's redaction removed so far, shared with the
    // recorder (null: the mode keeps its own).
    std::shared_ptr<cassette::KnownSecrets> secrets;
    match::RequestMatcher matcher;
    // Present exactly when policy.on_miss is kRecord: starts from the
    // loaded cassette, so misses are appended to it.
    std::optional<Recorder> recorder;
  };

  ReplayMode(std::shared_ptr<const cassette::CassetteImage> loaded,
             Setup setup);
  ReplayMode(const v1::Cassette& loaded, Setup setup)
      : ReplayMode(cassette::CassetteImage::FromCassette(loaded),
                   std::move(setup)) {}

  v1::Mode mode() const override { return v1::REPLAY; }
  core::Decision OnRequest(const core::HttpRequest& request,
                           SessionCounters& counters) override;
  // Answers from a recording whose response was interleaved with its
  // request, once the live request reached its first piece.
  std::optional<core::Decision> OnPartialRequest(
      const core::HttpRequest& partial, ModeHost& host,
      SessionCounters& counters) override;
  void OnForwarded(const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing,
                   SessionCounters& counters, Recorder::Draft* draft) override;
  core::WsDecision OnWebSocket(const core::HttpRequest& upgrade, ModeHost& host,
                               SessionCounters& counters) override;

  Recorder* recorder() override;
  // The loaded cassette with the misses recorded under on_miss RECORD;
  // nullopt when there were none (the cassette is unchanged).
  absl::StatusOr<std::optional<cassette::Recording>> ToSave() const override;
  uint64_t recorded() const override { return appended_; }
  uint64_t replayable() const override;
  std::vector<uint64_t> Unused() const override;

 private:
  // The live request as matching sees it: redacted like the recordings
  // (rules, then every secret the session has seen; secrets.h).
  const core::HttpRequest& ForMatching(const core::HttpRequest& request,
                                       core::HttpRequest& scratch) const;

  const ReplayPolicy policy_;
  const MissHandler miss_handler_;
  const std::shared_ptr<const cassette::Redactor> redactor_;
  const std::shared_ptr<cassette::KnownSecrets> secrets_;
  Player player_;
  WsPlayer ws_player_;
  std::optional<Recorder> recorder_;
  // Exchanges the miss policy RECORD appended.
  uint64_t appended_ = 0;
  // Draws the jitter of a fixed latency.
  std::mt19937_64 jitter_{std::random_device{}()};
};

}  // namespace matgto::replay
