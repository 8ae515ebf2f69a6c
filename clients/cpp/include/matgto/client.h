// The matgto C++ client: drives a running matgto server (record/replay HTTP
// proxy for tests) over its gRPC control API.
//
//   auto client = matgto::Client::Connect("127.0.0.1:8889");
//   {
//     matgto::Session s = client.Record("weather/today");
//     // ... send HTTP through s.proxy_url() ...
//   }  // stopped and saved here
//   matgto::Session r = client.Replay("weather/today");
//
// Every call throws a matgto::Error (errors.h) on failure. A Client is
// cheap to copy (copies share one channel) and safe to use from several
// threads; a Session belongs to one thread at a time, except that its lease
// is renewed by a background thread of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matgto/errors.h"
#include "matgto/options.h"
#include "matgto/v1/control.pb.h"

namespace matgto {

// The control API generation this client speaks (package matgto.v1).
inline constexpr uint32_t kApiVersion = 1;
// The control address when neither Connect's argument nor $MATGTO_SERVER
// gives one.
inline constexpr std::string_view kDefaultAddress = "127.0.0.1:8889";

// How to reach the server. Each field defaults to an environment variable.
struct ConnectionOptions {
  // Bearer token sent as "authorization: Bearer TOKEN". nullopt:
  // $MATGTO_TOKEN; "": none, whatever the environment says.
  std::optional<std::string> token{};
  // PEM roots that sign the server's certificate; turns TLS on. Empty:
  // $MATGTO_TLS_CA.
  std::string tls_ca{};
  // Client certificate and key (PEM) for mTLS; turn TLS on. Empty:
  // $MATGTO_TLS_CERT / $MATGTO_TLS_KEY.
  std::string tls_cert{};
  std::string tls_key{};
  // Plaintext, explicitly: the TLS variables are ignored and a token may go
  // to a host other than loopback (behind an encrypting mesh). Without it,
  // Connect refuses to send a token in plaintext to a non-loopback host.
  bool plaintext = false;
  // Deadline of each control call.
  std::chrono::milliseconds call_timeout{30000};
};

class Client;

// Which events Client::WatchEvents follows. Empty fields match everything.
struct WatchFilter {
  // Only this session's events ("default" for the default session).
  std::string session{};
  // Only this cassette's events.
  std::string cassette{};
};

// A live stream of the server's events (WatchEvents): exchanges, misses
// with their explanation, session events. Move-only; the destructor cancels
// the call. Next blocks on one thread; Cancel may be called from any thread
// (it unblocks Next).
class EventReader {
 public:
  EventReader(EventReader&&) noexcept;
  EventReader& operator=(EventReader&&) noexcept;
  ~EventReader();

  // Blocks for the next event: true with *event filled, false once the
  // stream ended (Cancel, or the server shut down). Throws the call's
  // matgto::Error when the server refused or broke it (Unauthenticated,
  // PermissionDenied, Unavailable...). An event's dropped() counts the
  // events this reader lost before it by reading too slowly.
  bool Next(v1::Event* event);
  // Ends the stream: Next returns false from now on.
  void Cancel();

  struct State;

 private:
  friend class Client;
  explicit EventReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A cassette session of one's own on a shared server: its cassette, its own
// proxy listener (proxy_url()) and, with a lease, a background thread that
// renews it every lease/3. Move-only. The destructor stops the session
// (saving a recording) and swallows errors: call Stop() to see them and the
// summary.
class Session {
 public:
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  // "s-" + 16 hex digits ("default" for the default session).
  const std::string& id() const;
  const std::string& cassette() const;
  // The effective mode (AUTO resolved to RECORD or REPLAY).
  v1::Mode mode() const;
  // The session's own proxy, "http://127.0.0.1:PORT": any HTTP client uses
  // it unchanged (CURLOPT_PROXY, HTTP_PROXY of a child process).
  const std::string& proxy_url() const;
  // The shared proxy port with the session as proxy user
  // ("http://s-…:matgto@127.0.0.1:8888"), for clients that must all use one
  // address.
  const std::string& shared_proxy_url() const;
  // The session as it was opened.
  const v1::SessionInfo& info() const;
  // A fresh snapshot from the server (SessionNotFound once it is closed).
  v1::SessionInfo Status() const;
  // The server's CA (PEM) that signs intercepted HTTPS hosts.
  std::string CACertificate() const;

  // Fault rules (see options.h): add returns the rule with its id ("f1").
  v1::Fault AddFault(const Fault& fault);
  std::vector<v1::Fault> AddFaults(const std::vector<Fault>& faults,
                                   uint64_t seed = 0);
  // Removes those ids (all when empty); returns the rules left.
  std::vector<v1::Fault> ClearFaults(const std::vector<std::string>& ids = {});

  // Follows this session's events (Client::WatchEvents filtered to id()).
  EventReader WatchEvents() const;

  // Renews the lease now; returns when it expires.
  std::chrono::system_clock::time_point Renew();
  // True once a renewal found the session gone (its lease expired).
  bool lost() const;

  // Ends the renewals, then the session's cassette (saving a recording), and
  // closes the session and its port. Returns the summary: counters, misses,
  // saved path, warnings. Throws SessionLost when the session had already
  // ended on the server. Later calls return the first call's summary.
  v1::SessionSummary Stop();
  bool stopped() const;

 private:
  friend class Client;
  struct State;
  explicit Session(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Client {
 public:
  // A client of the server whose control API listens at `address`
  // ("host:port"; "https://host:port" means TLS; empty: $MATGTO_SERVER,
  // else 127.0.0.1:8889). Does not wait for the server: the first call
  // connects and checks the server's API version. The control channel never
  // goes through HTTP(S)_PROXY. Throws InvalidArgument for a configuration
  // it refuses (a token in plaintext to another host, a certificate without
  // its key, an unreadable TLS file).
  static Client Connect(std::string address = {},
                        ConnectionOptions options = {});

  const std::string& address() const;
  bool tls() const;

  // Opens a new session (see SessionOptions) recording cassette `name`
  // (overwritten when the session stops).
  Session Record(const std::string& name, SessionOptions options = {});
  // Opens a new session replaying cassette `name` (CassetteNotFound when it
  // does not exist); options override the stored ones for this session.
  Session Replay(const std::string& name, SessionOptions options = {});
  // Opens a new session in options.mode (default: the server's default,
  // AUTO unless set).
  Session Use(const std::string& name, SessionOptions options = {});

  v1::GetStatusResponse Status();
  // Low level: ends the cassette of session `session_id` (empty: the
  // default session) and closes it.
  v1::SessionSummary StopRecording(const std::string& session_id = {});
  std::chrono::system_clock::time_point RenewSession(
      const std::string& session_id);
  // SetFaults: adds rules to a session (empty: the default one); returns all
  // its rules.
  v1::SetFaultsResponse SetFaults(const std::string& session_id,
                                  const std::vector<Fault>& faults,
                                  uint64_t seed = 0);
  std::vector<v1::Fault> ClearFaults(const std::string& session_id,
                                     const std::vector<std::string>& ids = {});

  // Cassettes on the server (possibly a remote, shared one).
  std::vector<v1::CassetteInfo> ListCassettes(const std::string& prefix = {});
  v1::Cassette GetCassette(const std::string& name);
  // Fills schema_version (when 0) and complete; sent in 1 MiB chunks.
  v1::CassetteInfo PutCassette(const std::string& name, v1::Cassette cassette);
  void DeleteCassette(const std::string& name);
  std::string CACertificate();
  // Follows the server's events matching `filter`. Returns once the server
  // has subscribed the reader (traffic driven afterwards is seen); no call
  // deadline. Needs a read token when the server wants tokens; a token
  // limited to a name prefix sees only its cassettes.
  EventReader WatchEvents(WatchFilter filter = {});
  // Makes the server exit (after saving recordings).
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct Impl;
  explicit Client(std::shared_ptr<Impl> impl);
  Session Open(const std::string& op, const std::string& name, v1::Mode mode,
               SessionOptions options);
  std::shared_ptr<Impl> impl_;
  friend class Session;
};

// The request Client::Record/Replay/Use send to open a session (or, with
// options.session, to name an open one): for tools that drive the control
// API themselves, and checked by the conformance suite
// (clients/conformance/sessions.json).
v1::UseCassetteRequest OpenSessionRequest(const std::string& name,
                                          v1::Mode mode,
                                          const SessionOptions& options);

// ---- Helpers shared by the test helpers (misses.cc).

// Whether a miss fails a test: reasons "no-match", "exhausted",
// "ws-mismatch" (not the misses the miss policy forwarded live).
bool IsFailedMiss(const v1::Miss& miss);
std::vector<v1::Miss> FailedMisses(const v1::SessionInfo& session);
// The miss on a few lines: request, reason, closest recorded request and
// the fields that differ.
std::string ExplainMiss(const v1::Miss& miss);
// "matgto: cassette "X" (session s-…, mode REPLAY): N request(s) found no
// recorded answer:" and each failed miss explained; empty when none failed.
std::string ExplainMisses(const v1::SessionInfo& session);
// A test name ("Suite/Test", "Suite/Param.Test/0") as a cassette name the
// server accepts; other characters become '_' and ",h" + 8 hex digits of a
// hash of the name is appended (as the Go client does).
std::string CassetteName(std::string_view test_name);
// The JSON body of a 599 answer (matgto.v1.ProxyError); nullopt when it is
// not one.
std::optional<v1::ProxyError> ParseProxyError(std::string_view body);
// The proxy URL an HTTP client uses for a session listener address as the
// server reports it: an unspecified host ("0.0.0.0", "[::]") becomes the
// control host (else 127.0.0.1, or ::1 for "[::]"); IPv6 hosts are bracketed.
std::string ProxyUrlFor(std::string_view proxy_address,
                        std::string_view control_address);

}  // namespace matgto
