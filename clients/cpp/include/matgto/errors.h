// Errors thrown by the matgto C++ client.
//
// Every failed call throws a matgto::Error (a std::runtime_error) that
// carries the gRPC status code (as absl::StatusCode: the numbers are gRPC's),
// the server's message and the client method that failed. Subclasses name
// the cases a test wants to tell apart, so that
//   EXPECT_THROW(client.Replay("nope"), matgto::CassetteNotFound);
//   catch (const matgto::PermissionDenied& e) { ... }
// work; `catch (const matgto::Error& e)` catches them all.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace matgto {

class Error : public std::runtime_error {
 public:
  Error(std::string op, absl::StatusCode code, std::string message);
  // The gRPC status code (absl::StatusCode uses gRPC's numbers).
  absl::StatusCode code() const { return code_; }
  // The server's explanation (without the "matgto: Op: CODE:" prefix).
  const std::string& message() const { return message_; }
  // The client method that failed, e.g. "Replay".
  const std::string& op() const { return op_; }
  // The same as an absl::Status.
  absl::Status status() const { return absl::Status(code_, message_); }

 private:
  std::string op_;
  absl::StatusCode code_;
  std::string message_;
};

// NOT_FOUND, and the three things that may be missing.
class NotFound : public Error {
  using Error::Error;
};
// Replay / GetCassette / DeleteCassette of a cassette that does not exist.
class CassetteNotFound : public NotFound {
  using NotFound::NotFound;
};
// A session id that names no open session (stopped, lease expired, never
// existed).
class SessionNotFound : public NotFound {
  using NotFound::NotFound;
};
// ClearFaults of a fault id the session does not have.
class FaultNotFound : public NotFound {
  using NotFound::NotFound;
};
// INVALID_ARGUMENT: bad cassette name, bad match/redaction/fault rule,
// PutCassette of bytes that are not a cassette; also a connection
// configuration the client refuses (a token in plaintext to another host).
class InvalidArgument : public Error {
  using Error::Error;
};
// FAILED_PRECONDITION: deleting/replacing a cassette in use, recording a
// cassette another session records (the message names it).
class FailedPrecondition : public Error {
  using Error::Error;
};
// FAILED_PRECONDITION: StopRecording while no cassette is in use.
class NoCassette : public FailedPrecondition {
  using FailedPrecondition::FailedPrecondition;
};
// RESOURCE_EXHAUSTED: beyond --max-sessions, or no free --session-ports.
class TooManySessions : public Error {
  using Error::Error;
};
// DATA_LOSS: a corrupt or truncated cassette file.
class CorruptCassette : public Error {
  using Error::Error;
};
// UNAVAILABLE: server unreachable, shutting down, or a failed TLS handshake.
class Unavailable : public Error {
  using Error::Error;
};
// UNIMPLEMENTED: a call the server does not offer.
class Unimplemented : public Error {
  using Error::Error;
};
// UNAUTHENTICATED: no token, or one the server does not know.
class Unauthenticated : public Error {
  using Error::Error;
};
// PERMISSION_DENIED: a call outside the token's scope or name prefix
// (recording with a read token).
class PermissionDenied : public Error {
  using Error::Error;
};
// DEADLINE_EXCEEDED: the call took longer than
// ConnectionOptions::call_timeout.
class DeadlineExceeded : public Error {
  using Error::Error;
};
// The server speaks another control API generation (GetStatus api_version
// != 1). Code FAILED_PRECONDITION; no server answered it that way.
class IncompatibleServer : public Error {
  using Error::Error;
};
// The session ended on the server before Session::Stop (its lease expired,
// or someone else stopped it). Code NOT_FOUND.
class SessionLost : public Error {
  using Error::Error;
};

// Throws the subclass of Error that fits `code` (and, for NOT_FOUND and
// FAILED_PRECONDITION, the server's message). Never returns.
[[noreturn]] void ThrowError(std::string op, absl::StatusCode code,
                             std::string message);

// The code's name as gRPC and the server spell it ("NOT_FOUND").
std::string_view CodeName(absl::StatusCode code);

}  // namespace matgto
