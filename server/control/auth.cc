#include "server/control/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace matgto::control {
namespace {

std::array<unsigned char, 32> Digest(absl::string_view text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         out.data());
  return out;
}

bool PrintableAscii(absl::string_view text) {
  for (char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

absl::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kRead:
      return "read";
    case Scope::kWrite:
      return "write";
    case Scope::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<Scope> ParseScope(absl::string_view text) {
  if (text == "read") return Scope::kRead;
  if (text == "write") return Scope::kWrite;
  if (text == "admin") return Scope::kAdmin;
  return std::nullopt;
}

bool Grant::Covers(absl::string_view cassette) const {
  return absl::StartsWith(cassette, prefix);
}

Grant Unrestricted() {
  Grant grant;
  grant.scope = Scope::kAdmin;
  return grant;
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text,
                                             absl::string_view file) {
  TokenTable table;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    // A field starting with '#' starts a comment.
    for (size_t i = 0; i < fields.size(); ++i) {
      if (absl::StartsWith(fields[i], "#")) {
        fields.resize(i);
        break;
      }
    }
    if (fields.empty()) continue;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ":", line_no, ": ", what,
                       " (a line is `TOKEN SCOPE [NAME-PREFIX]`, SCOPE one of "
                       "read, write, admin)"));
    };
    if (fields.size() < 2) return error("a token without a scope");
    if (fields.size() > 3) return error("more than three fields");
    if (fields[0].size() < kMinTokenLength) {
      return error(absl::StrCat("the token is shorter than ", kMinTokenLength,
                                " characters"));
    }
    if (!PrintableAscii(fields[0])) {
      return error("the token has characters outside printable ASCII");
    }
    std::optional<Scope> scope = ParseScope(fields[1]);
    if (!scope.has_value()) {
      return error(absl::StrCat("unknown scope '", fields[1], "'"));
    }
    Entry entry;
    entry.digest = Digest(fields[0]);
    entry.grant.scope = *scope;
    entry.grant.line = line_no;
    if (fields.size() == 3) entry.grant.prefix = std::string(fields[2]);
    for (const Entry& other : table.entries_) {
      if (other.digest == entry.digest) {
        return error(absl::StrCat("the same token as line ", other.grant.line));
      }
    }
    table.entries_.push_back(std::move(entry));
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": no token (a line is `TOKEN SCOPE [NAME-PREFIX]`)"));
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = std::strerror(err);
    return err == EACCES ? absl::PermissionDeniedError(absl::StrCat(
                               "cannot read token file ", path, ": ", why))
                         : absl::NotFoundError(absl::StrCat(
                               "cannot read token file ", path, ": ", why));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InternalError(absl::StrCat("cannot read token file ", path));
  }
  return Parse(text.str(), path);
}

absl::StatusOr<Grant> TokenTable::Authenticate(
    std::optional<absl::string_view> authorization,
    absl::string_view rpc) const {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        rpc,
        ": this server requires a token: send gRPC metadata `authorization: "
        "Bearer TOKEN` (matgto CLI: --token or MATGTO_TOKEN)"));
  }
  absl::string_view value = *authorization;
  constexpr absl::string_view kBearer = "bearer ";
  if (value.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return absl::UnauthenticatedError(absl::StrCat(
        rpc, ": the authorization metadata is not `Bearer TOKEN`"));
  }
  const std::array<unsigned char, 32> presented =
      Digest(absl::StripAsciiWhitespace(value.substr(kBearer.size())));
  // Every entry is compared, whatever matched, so that the time taken does
  // not tell which (or whether one) did.
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    if (CRYPTO_memcmp(entry.digest.data(), presented.data(),
                      presented.size()) == 0) {
      found = &entry;
    }
  }
  if (found == nullptr) {
    return absl::UnauthenticatedError(
        absl::StrCat(rpc, ": the token is not one this server accepts"));
  }
  return found->grant;
}

const std::vector<RpcRule>& RpcRules() {
  // Every RPC of matgto.v1.ProxyControl; a unit test checks that this
  // covers the service's descriptor, so that a new RPC cannot go unchecked.
  static const auto* rules = new std::vector<RpcRule>{
      {"GetStatus", Scope::kRead},
      {"GetCACertificate", Scope::kRead},
      {"ListCassettes", Scope::kRead},
      {"GetCassette", Scope::kRead},
      // read when the cassette is only replayed; write when it may be
      // recorded (RequiredForUse).
      {"Replay", Scope::kRead},
      {"UseCassette", Scope::kRead},
      {"StartRecording", Scope::kWrite},
      // read on a session that only replays; write on one that records
      // (RequiredForSession).
      {"StopRecording", Scope::kRead},
      {"RenewSession", Scope::kRead},
      {"SetFaults", Scope::kRead},
      {"ClearFaults", Scope::kRead},
      {"PutCassette", Scope::kWrite},
      {"DeleteCassette", Scope::kWrite},
      {"Shutdown", Scope::kAdmin},
      // Events of the cassettes the token covers only (its name prefix).
      {"WatchEvents", Scope::kRead},
  };
  return *rules;
}

std::optional<Scope> RequiredScope(absl::string_view method) {
  for (const RpcRule& rule : RpcRules()) {
    if (rule.method == method) return rule.scope;
  }
  return std::nullopt;
}

Scope RequiredForUse(bool writes) {
  return writes ? Scope::kWrite : Scope::kRead;
}

Scope RequiredForSession(bool session_writes) {
  return session_writes ? Scope::kWrite : Scope::kRead;
}

absl::Status CheckScope(const Grant& grant, Scope needed, absl::string_view rpc,
                        absl::string_view why) {
  if (grant.Allows(needed)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(rpc, " needs a token with scope '", ScopeName(needed), "'",
                   why.empty() ? "" : absl::StrCat(" (", why, ")"),
                   "; this token has '", ScopeName(grant.scope), "'"));
}

absl::Status CheckCassette(const Grant& grant, absl::string_view cassette,
                           absl::string_view rpc) {
  if (grant.Covers(cassette)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(rpc,
                   ": this token may only act on cassettes whose names "
                   "start with '",
                   grant.prefix, "', not on '", cassette, "'"));
}

std::optional<std::string> ListPrefix(const Grant& grant,
                                      absl::string_view asked) {
  if (absl::StartsWith(asked, grant.prefix)) return std::string(asked);
  if (absl::StartsWith(grant.prefix, asked)) return grant.prefix;
  return std::nullopt;
}

}  // namespace matgto::control
