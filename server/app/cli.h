// The `matgto` command-line client: each command is one gRPC call to a
// running server.
#pragma once

#include <grpcpp/client_context.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "matgto/v1/control.grpc.pb.h"
#include "matgto/v1/control.pb.h"

namespace matgto::app {

struct CliTarget {
  // host:port of the control API ("https://host:port": TLS with the system's
  // roots unless tls_ca is set; "http://host:port": plaintext).
  std::string server = "127.0.0.1:8889";
  absl::Duration timeout = absl::Seconds(30);
  // Sent as `authorization: Bearer TOKEN` when not empty.
  std::string token;
  // Files (PEM): the CA the server's certificate chains to (TLS is used
  // when set), and the client certificate and key for mTLS.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // Set by LoadCliTls.
  bool use_tls = false;
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;
};

// Reads the TLS files of `target`, strips an http(s):// scheme from
// target.server and decides use_tls (a scheme of https, a CA or a client
// certificate). INVALID_ARGUMENT / NOT_FOUND naming the flag and file.
absl::Status LoadCliTls(CliTarget& target);

// A stub for the control API at target.server (no connection is made yet).
std::unique_ptr<v1::ProxyControl::Stub> ConnectControl(const CliTarget& target);
// Gives a call target.timeout to complete and adds the token.
void PrepareCall(grpc::ClientContext& ctx, const CliTarget& target);
// Adds the token only (for streams that follow until stopped: no deadline).
void AddToken(grpc::ClientContext& ctx, const CliTarget& target);
// Prints a failed call readably (code name, message, and a hint for
// UNAUTHENTICATED/PERMISSION_DENIED/unreachable) and returns the exit code:
// 3 when the server cannot be reached, 1 otherwise.
int ReportCallError(const CliTarget& target, const grpc::Status& status);
// The hint printed after a status of `code` ("" when none).
std::string CallErrorHint(const CliTarget& target, grpc::StatusCode code);

// Whether an UNAVAILABLE/DEADLINE_EXCEEDED answer means the matgto server
// itself is out of reach, rather than something the server reached for (its
// object store: those messages say "object store").
bool ServerOutOfReach(int grpc_code, const std::string& message);

// The session flags of the control verbs.
struct CliSession {
  // --session ID: act on that session (empty: the default session).
  std::string id;
  // --new-session: open a new session (record/replay/use).
  bool new_session = false;
  // --lease DURATION: the new session ends unless renewed (none: lives
  // until `matgto stop --session ID`).
  std::optional<absl::Duration> lease;
  // --owner TEXT: shown by `matgto sessions`.
  std::string owner;
  // --json: print the answer as JSON (protobuf mapping) for scripts.
  bool json = false;
};

// "30s", "2m", "1h30m" (Go-style durations) or plain seconds ("45").
std::optional<absl::Duration> ParseCliDuration(const std::string& text);

// Each returns the process exit code: 0 on success, 1 when the server
// answered with an error, 3 when it could not be reached.
int CliRecord(const CliTarget& target, const std::string& name,
              const v1::CassetteOptions& options, const CliSession& session);
int CliStop(const CliTarget& target, const CliSession& session);
int CliReplay(const CliTarget& target, const std::string& name,
              const v1::CassetteOptions& options, const CliSession& session);
int CliUse(const CliTarget& target, const std::string& name, v1::Mode mode,
           const v1::CassetteOptions& options, const CliSession& session);
// With `session`: that session only (open, or recently ended).
int CliStatus(const CliTarget& target, bool json,
              const std::string& session = "");
// `matgto sessions`: one line per open session (and the recently ended).
int CliSessions(const CliTarget& target, bool json);
int CliShutdown(const CliTarget& target, absl::Duration grace, bool json);
int CliCaExport(const CliTarget& target, bool json);

}  // namespace matgto::app
