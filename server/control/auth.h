// Bearer tokens for the control API: the token file, who a call is, and
// what each RPC needs.
//
// A token file has one token a line, `TOKEN SCOPE [NAME-PREFIX]`, with `#`
// comments and blank lines. Scopes nest: admin ⊇ write ⊇ read. A token with
// a name prefix acts only on cassettes (and sessions of cassettes) whose
// names start with it. Calls carry `authorization: Bearer TOKEN` metadata.
//
// Decisions only: no gRPC types here, so that they are tested without a
// server. Tokens are compared in constant time (as SHA-256 digests, with
// CRYPTO_memcmp, every token of the table each time) and never appear in a
// message.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace matgto::control {

enum class Scope : uint8_t { kRead = 1, kWrite = 2, kAdmin = 3 };

// "read", "write", "admin".
absl::string_view ScopeName(Scope scope);
std::optional<Scope> ParseScope(absl::string_view text);

// Tokens shorter than this are refused by the token file parser.
inline constexpr size_t kMinTokenLength = 16;

// What an authenticated call may do.
struct Grant {
  Scope scope = Scope::kRead;
  // Empty: every cassette.
  std::string prefix;
  // Which line of the token file granted it (for the server's log; 0 when
  // no token file is configured).
  int line = 0;

  bool Allows(Scope needed) const { return scope >= needed; }
  bool Covers(absl::string_view cassette) const;
};

// The grant of a server without a token file: everything.
Grant Unrestricted();

// The tokens of a server.
class TokenTable {
 public:
  // INVALID_ARGUMENT naming `file`:line for a malformed line (unknown
  // scope, extra fields, a token shorter than kMinTokenLength or with
  // characters outside printable ASCII, a duplicate token) and for a file
  // with no token at all.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text,
                                          absl::string_view file);
  // Reads and parses `path` (NOT_FOUND / PERMISSION_DENIED when unreadable).
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The grant of `authorization` (the metadata value, "Bearer TOKEN"), or
  // UNAUTHENTICATED (missing, malformed or unknown; the message never
  // repeats what was sent). `rpc` names the call in messages.
  absl::StatusOr<Grant> Authenticate(
      std::optional<absl::string_view> authorization,
      absl::string_view rpc) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest{};
    Grant grant;
  };
  std::vector<Entry> entries_;
};

// What each RPC of matgto.v1.ProxyControl needs at least; some need more
// depending on what they act on (see RequiredForUse / RequiredForSession).
struct RpcRule {
  absl::string_view method;  // "StartRecording"
  Scope scope = Scope::kRead;
};
const std::vector<RpcRule>& RpcRules();
// The rule for `method` (the short name); nullopt for a method without one,
// which is refused.
std::optional<Scope> RequiredScope(absl::string_view method);

// Opening a cassette in a session (StartRecording, Replay, UseCassette):
// read when it only replays, write when it may record (RECORD, AUTO,
// PASSTHROUGH, or REPLAY with MISS_RECORD, as the session manager decides).
Scope RequiredForUse(bool writes);
// Acting on an open session (StopRecording, RenewSession, SetFaults,
// ClearFaults): read for a session that only replays, write for one that
// records (stopping it saves a recording).
Scope RequiredForSession(bool session_writes);

// OK, or PERMISSION_DENIED naming the RPC and the scope it needs.
absl::Status CheckScope(const Grant& grant, Scope needed, absl::string_view rpc,
                        absl::string_view why = "");
// OK, or PERMISSION_DENIED naming the cassette and the token's prefix.
absl::Status CheckCassette(const Grant& grant, absl::string_view cassette,
                           absl::string_view rpc);
// The store prefix a ListCassettes(`asked`) runs with under `grant`, or
// nullopt when nothing the token may see can start with `asked`.
std::optional<std::string> ListPrefix(const Grant& grant,
                                      absl::string_view asked);

}  // namespace matgto::control
