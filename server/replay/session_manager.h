// Owns the cassette sessions and routes every proxied request to one.
//
// This build exposes one session (the default one). The manager is the single
// owner of "which cassette is in use": control calls (Use/Stop) swap it under
// `mu_`; proxy threads take a reference to the active session under the same
// lock and then work with that session alone, so a swap never blocks on a
// request in flight and an exchange that completes after its session ended
// is simply not recorded into the next one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/redact.h"
#include "server/cassette/store.h"
#include "server/core/clock.h"
#include "server/core/exchange_handler.h"
#include "server/replay/session.h"

namespace matgto::replay {

// Thread-safety: every method is safe to call concurrently. Use/Stop/
// Stop may block on disk (loading or saving a cassette): call them
// from control threads, never from proxy I/O threads. The ExchangeHandler
// methods never block.
class SessionManager final : public core::ExchangeHandler {
 public:
  // `default_mode` is used by Use() with MODE_UNSPECIFIED and decides what
  // the proxy does while no cassette is in use: PASSTHROUGH forwards, any
  // other mode answers 503 (X-Matgto-Error: no-cassette). `redact` is the
  // server's redaction, which each cassette's RedactRules extend.
  SessionManager(cassette::CassetteStore& store, cassette::RedactConfig redact,
                 const core::Clock& clock, v1::Mode default_mode);

  // Starts using cassette `name` in `mode`, ending (and saving) any session
  // in use first. INVALID_ARGUMENT for a bad name, NOT_FOUND for REPLAY of a
  // missing cassette, DATA_LOSS for a corrupt one. On error the previous
  // session stays in use.
  absl::StatusOr<v1::SessionInfo> Use(absl::string_view name, v1::Mode mode,
                                      const v1::CassetteOptions& overrides);

  // Ends the session in use, saving a recording. FAILED_PRECONDITION when no
  // cassette is in use. When saving fails the session stays in use (nothing
  // recorded is dropped) and the error is returned.
  absl::StatusOr<v1::SessionSummary> Stop();

  // Info about the session in use, if any.
  std::optional<v1::SessionInfo> Info() const;
  v1::Mode default_mode() const { return default_mode_; }

  // core::ExchangeHandler
  core::Decision OnRequest(const core::HttpRequest& request) override;
  void OnForwarded(const core::Forward& ticket,
                   const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing) override;
  void OnForwardFailed(const core::Forward& ticket,
                       const core::HttpRequest& request,
                       const std::string& reason) override;
  core::WsDecision OnWebSocket(const core::HttpRequest& upgrade) override;

 private:
  absl::StatusOr<v1::SessionSummary> StopLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  std::shared_ptr<CassetteSession> Active() const;

  cassette::CassetteStore& store_;
  // The server's redaction, which every cassette's RedactRules extend.
  const cassette::RedactConfig default_redaction_;
  const core::Clock& clock_;
  const v1::Mode default_mode_;
  const std::shared_ptr<const core::HttpResponse> no_cassette_response_;

  // Serialises control operations (which may do disk I/O) with each other;
  // never taken by proxy threads.
  absl::Mutex control_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(control_mu_) = 1;

  // Guards only the pointer swap; held for nanoseconds.
  mutable absl::Mutex mu_;
  std::shared_ptr<CassetteSession> active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::replay
