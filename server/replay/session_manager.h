// Owns the cassette sessions of a server and routes every proxied request to
// one of them.
//
// A server holds the *default* session (id "default", reached through the
// shared proxy port by requests that carry no proxy credential) and any
// number of sessions opened with `new_session`, each reached through a
// listener of its own (core::Route::listener) or through the shared port
// with its id as proxy credential (core::Route::credential).
//
// Ownership and locking:
// - `control_mu_` serialises control operations (Use, Stop, Renew, lease
//   expiry), which may load or save cassettes; proxy threads never take it.
// - `mu_` guards the routing tables and each session's bookkeeping; it is
//   held for in-memory work only (a hash lookup and a shared_ptr copy on the
//   request path, as a reader), never across disk or network I/O.
// - A request takes a reference to its CassetteSession under `mu_` and then
//   works with that session alone (CassetteSession has its own mutex), so
//   swapping or ending a session never blocks on a request in flight, and an
//   exchange that completes after its session ended is not recorded into
//   another one.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/redact.h"
#include "server/cassette/store.h"
#include "server/core/clock.h"
#include "server/core/exchange_handler.h"
#include "server/core/session_listeners.h"
#include "server/observe/observer.h"
#include "server/replay/faults.h"
#include "server/replay/session.h"

namespace matgto::replay {

inline constexpr absl::string_view kDefaultSessionId = "default";
inline constexpr absl::Duration kMinLease = absl::Seconds(1);
inline constexpr absl::Duration kMaxLease = absl::Hours(1);
inline constexpr size_t kMaxEndedKept = 64;
inline constexpr size_t kMaxOwnerBytes = 256;
// The (ignored) password of SessionInfo.proxy_url.
inline constexpr absl::string_view kProxyUrlPassword = "matgto";

// Which session a control call acts on.
struct SessionTarget {
  // Empty or "default": the default session; otherwise an open session's id.
  std::string session;
  // Open a new session (`session` must be empty).
  bool new_session = false;
  // New sessions only: ends unless renewed within this long.
  std::optional<absl::Duration> lease;
  // New sessions only: who opened it.
  std::string owner;
  // Not empty: refuse a use that would record into the cassette (RECORD,
  // AUTO of a missing cassette, REPLAY with MISS_RECORD) with
  // PERMISSION_DENIED, this text first (the control API's read-only
  // callers: why they may not).
  std::string refuse_writes;
};

struct SessionManagerOptions {
  // Used by Use() with MODE_UNSPECIFIED, and decides what the default
  // session does while it has no cassette: PASSTHROUGH forwards, any other
  // mode answers 503 (X-Matgto-Error: no-cassette).
  v1::Mode default_mode = v1::AUTO;
  // Open sessions beyond the default one (RESOURCE_EXHAUSTED beyond).
  size_t max_sessions = 256;
  // Opens each new session's own listener; null: new sessions get none
  // (reachable by credential only).
  core::SessionListeners* listeners = nullptr;
  // Lifecycle events (session opened, ended, lease expired, save failed),
  // one line each. Called outside every lock. Null: not reported.
  std::function<void(const std::string&)> log;
  // Metrics, the log and the live events (exchanges, misses, session
  // events); null: none. Must outlive the manager.
  observe::Observer* observer = nullptr;
};

// Thread-safety: every method is safe to call concurrently. Use/Stop/
// Renew/ExpireLeases/StopAll may block on disk (loading or saving a
// cassette): call them from control threads, never from proxy I/O threads.
// The ExchangeHandler methods never block.
class SessionManager final : public core::ExchangeHandler {
 public:
  // `redact` is the server's redaction, which each cassette's RedactRules
  // extend. `store`, `clock` and options.listeners must outlive the manager.
  SessionManager(cassette::CassetteStore& store, cassette::RedactConfig redact,
                 const core::Clock& clock, SessionManagerOptions options);
  // The default session only, no listeners (tests and tools).
  SessionManager(cassette::CassetteStore& store, cassette::RedactConfig redact,
                 const core::Clock& clock, v1::Mode default_mode);
  ~SessionManager() override;

  // Starts using cassette `name` in `mode` in the session `target` names
  // (saving the cassette it had in use), or in a new session.
  // INVALID_ARGUMENT for a bad name, mode, lease or target; NOT_FOUND for an
  // unknown session or REPLAY of a missing cassette; DATA_LOSS for a
  // corrupt one; FAILED_PRECONDITION when another session records the
  // cassette (or this one would record a cassette another session uses);
  // RESOURCE_EXHAUSTED beyond max_sessions or without a free port. On error
  // nothing changes.
  absl::StatusOr<v1::SessionInfo> Use(absl::string_view name, v1::Mode mode,
                                      const v1::CassetteOptions& overrides,
                                      const SessionTarget& target = {});

  // Ends the cassette of session `session` (empty: the default one), saving
  // a recording; a session other than the default one is closed with it.
  // FAILED_PRECONDITION when the default session has no cassette; NOT_FOUND
  // for an unknown session. When saving fails nothing changes (nothing
  // recorded is dropped) and the error is returned.
  absl::StatusOr<v1::SessionSummary> Stop(absl::string_view session = "");

  // Adds fault rules to session `session` (empty: the default one), and
  // reseeds its generator when `seed` is not 0. Returns every rule of the
  // session. NOT_FOUND for an unknown session; INVALID_ARGUMENT for a bad
  // rule (then nothing is added).
  absl::StatusOr<v1::SetFaultsResponse> SetFaults(
      absl::string_view session, const std::vector<v1::Fault>& faults,
      uint64_t seed);
  // Removes the session's rules named by `ids` (all when empty).
  absl::StatusOr<std::vector<v1::Fault>> ClearFaults(
      absl::string_view session, const std::vector<std::string>& ids);

  // Extends a leased session's lease; returns the new expiry. NOT_FOUND for
  // a session that is not open; FAILED_PRECONDITION for one with no lease.
  absl::StatusOr<absl::Time> Renew(absl::string_view session);

  // Ends every session whose lease expired by now (as Stop with reason
  // "lease-expired"). A session whose save fails stays open and is tried
  // again a little later. Returns how many sessions ended.
  int ExpireLeases();
  // When the next lease expires; InfiniteFuture() when no session has one.
  absl::Time NextLeaseExpiry() const;

  // Ends every session (reason "shutdown"), saving recordings. Returns the
  // first save error; sessions that failed to save stay open.
  absl::Status StopAll();

  // The default session's info, when it has a cassette in use.
  std::optional<v1::SessionInfo> Info() const;
  // Every open session with a cassette: the default first, then by opening.
  std::vector<v1::SessionInfo> List() const;
  // Recently ended sessions, most recent first.
  std::vector<v1::SessionSummary> Ended() const;
  // OK, or FAILED_PRECONDITION naming the sessions that use cassette
  // `name` ("cannot <what> it").
  absl::Status CheckNotInUse(absl::string_view name,
                             absl::string_view what) const;

  v1::Mode default_mode() const { return options_.default_mode; }
  size_t max_sessions() const { return options_.max_sessions; }

  // core::ExchangeHandler
  // A relayed (--no-intercept) tunnel reaches the network unrecorded: it is
  // refused while the session replays (403 `no-intercept-refused`) and while
  // no cassette is in use unless idle requests are forwarded (503
  // `no-cassette`), like every other request then.
  std::optional<core::Reply> OnConnect(
      const core::Route& route, const core::ConnectTarget& target) override;
  core::Decision OnRequest(const core::Route& route,
                           const core::HttpRequest& request) override;
  std::optional<core::Decision> OnPartialRequest(
      const core::Route& route, const core::HttpRequest& partial) override;
  void OnForwarded(const core::Forward& ticket,
                   const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing) override;
  void OnNotStored(const core::Forward& ticket,
                   const core::HttpRequest& request,
                   const std::string& why) override;
  void OnForwardFailed(const core::Forward& ticket,
                       const core::HttpRequest& request,
                       const std::string& reason) override;
  core::WsDecision OnWebSocket(const core::Route& route,
                               const core::HttpRequest& upgrade) override;

 private:
  // The observer's record of a failed forward; the session it was for (null
  // when it has ended).
  std::shared_ptr<CassetteSession> ReportForwardFailed(
      const core::Forward& ticket, const core::HttpRequest& request,
      const std::string& reason);
  // One open session. Fields are written under both control_mu_ and mu_
  // (so either lock suffices to read them), except `listener`, which only
  // control operations touch.
  struct OpenSession {
    std::string id;
    // Key of its listener (0 for the default session).
    uint64_t route = 0;
    std::unique_ptr<core::SessionListener> listener;
    std::string proxy_address;
    // Null while the default session has no cassette.
    std::shared_ptr<CassetteSession> cassette;
    // The cassette is recorded into (RECORD, or REPLAY with MISS_RECORD).
    bool writes = false;
    std::string owner;
    absl::Time opened_at;
    std::optional<absl::Duration> lease;
    absl::Time lease_expires_at = absl::InfiniteFuture();
    // Its fault rules (they outlive a change of cassette).
    std::shared_ptr<FaultSet> faults = std::make_shared<FaultSet>();
  };
  using Notes = std::vector<v1::SessionEvent>;
  // What the proxy's request resolves to.
  struct Resolved {
    bool known = false;
    std::shared_ptr<CassetteSession> cassette;
    std::shared_ptr<FaultSet> faults;
    std::string session_id;
  };

  Resolved Resolve(const core::Route& route) const;
  // The open session `id` names (empty: default), or NOT_FOUND.
  absl::StatusOr<OpenSession*> Find(absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  absl::Status CheckConflicts(absl::string_view name, bool writes,
                              const OpenSession* except) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Saves and ends `session`'s cassette; with `close`, also closes the
  // session unless it is the default one. Returns the summary (also kept in
  // ended_). Appends what happened to `log`. A save the store refused but
  // kept elsewhere (cassette::kRecordingKeptPayload: nothing is lost) ends
  // the session all the same, and its error (ABORTED) is set in `refused`
  // for the caller to report.
  absl::StatusOr<v1::SessionSummary> EndLocked(OpenSession& session,
                                               absl::string_view reason,
                                               bool close, Notes& log,
                                               absl::Status* refused)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  v1::SessionInfo Describe(const OpenSession& session, absl::Time now) const;
  std::string NewSessionId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Reports lifecycle notes: options_.log gets each message, the observer
  // each event.
  void Log(Notes notes) const;
  // Reports what a request led to (observer only).
  // What every decided request ends with: the fault shapes the decision
  // (unless it `replaced` it), and the event stream hears of it.
  void Conclude(const Resolved& to, const core::HttpRequest& request,
                const std::optional<v1::Fault>& fault, bool replaced,
                const CassetteSession::Note& note, absl::Time started,
                core::Decision& decision);
  void Observe(const Resolved& to, const core::HttpRequest& request,
               const core::Reply* reply, const CassetteSession::Note& note,
               absl::Time started, bool websocket) const;
  std::string SharedAddress() const;

  cassette::CassetteStore& store_;
  // The server's redaction, which every cassette's RedactRules extend.
  const cassette::RedactConfig default_redaction_;
  const core::Clock& clock_;
  const SessionManagerOptions options_;
  const std::shared_ptr<const core::HttpResponse> no_cassette_response_;
  const std::shared_ptr<const core::HttpResponse> unknown_session_response_;

  // Serialises control operations (which may do disk I/O) with each other;
  // never taken by proxy threads.
  absl::Mutex control_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t next_cassette_id_ ABSL_GUARDED_BY(control_mu_) = 1;
  uint64_t next_route_ ABSL_GUARDED_BY(control_mu_) = 1;
  uint64_t id_state_ ABSL_GUARDED_BY(control_mu_);

  mutable absl::Mutex mu_;
  // Every open session by id ("default" always present).
  absl::flat_hash_map<std::string, std::unique_ptr<OpenSession>> sessions_
      ABSL_GUARDED_BY(mu_);
  // Listener key -> the session's cassette (the request path's lookup).
  absl::flat_hash_map<uint64_t, OpenSession*> by_route_ ABSL_GUARDED_BY(mu_);
  // Forward tickets (CassetteSession ids) of cassettes in use.
  absl::flat_hash_map<uint64_t, std::shared_ptr<CassetteSession>> by_ticket_
      ABSL_GUARDED_BY(mu_);
  std::deque<v1::SessionSummary> ended_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::replay
