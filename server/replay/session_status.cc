// What SessionManager reports about its sessions (GetStatus, `matgto
// sessions`): in-memory reads under the reader lock, no I/O.
#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "server/cassette/proto_time.h"
#include "server/replay/session_manager.h"

namespace matgto::replay {

using cassette::ToProtoDuration;
using cassette::ToProtoTimestamp;

v1::SessionInfo SessionManager::Describe(const OpenSession& session,
                                         absl::Time now) const {
  v1::SessionInfo info;
  if (session.cassette != nullptr) info = session.cassette->Info();
  info.set_id(session.id);
  const std::string shared = SharedAddress();
  if (session.id == kDefaultSessionId) {
    info.set_proxy_address(shared);
    if (!shared.empty()) info.set_proxy_url(absl::StrCat("http://", shared));
  } else {
    info.set_proxy_address(session.proxy_address);
    if (!shared.empty()) {
      // The password is ignored; it is there because Python requests and
      // undici send no Proxy-Authorization for a user without one.
      info.set_proxy_url(absl::StrCat("http://", session.id, ":",
                                      kProxyUrlPassword, "@", shared));
    }
  }
  info.set_owner(session.owner);
  *info.mutable_opened_at() = ToProtoTimestamp(session.opened_at);
  *info.mutable_age() = ToProtoDuration(now - session.opened_at);
  for (v1::Fault& f : session.faults->List()) *info.add_faults() = std::move(f);
  info.set_fault_seed(session.faults->seed());
  if (session.lease.has_value()) {
    *info.mutable_lease() = ToProtoDuration(*session.lease);
    *info.mutable_lease_expires_at() =
        ToProtoTimestamp(session.lease_expires_at);
  }
  return info;
}

std::optional<v1::SessionInfo> SessionManager::Info() const {
  const absl::Time now = clock_.Now();
  absl::ReaderMutexLock lock(&mu_);
  const OpenSession& def = *sessions_.at(kDefaultSessionId);
  if (def.cassette == nullptr) return std::nullopt;
  return Describe(def, now);
}

std::vector<v1::SessionInfo> SessionManager::List() const {
  const absl::Time now = clock_.Now();
  std::vector<const OpenSession*> open;
  std::vector<v1::SessionInfo> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [id, s] : sessions_) {
    if (s->cassette != nullptr) open.push_back(s.get());
  }
  std::sort(
      open.begin(), open.end(), [](const OpenSession* a, const OpenSession* b) {
        const bool ad = a->id == kDefaultSessionId;
        const bool bd = b->id == kDefaultSessionId;
        if (ad != bd) return ad;
        return std::tie(a->opened_at, a->id) < std::tie(b->opened_at, b->id);
      });
  for (const OpenSession* s : open) out.push_back(Describe(*s, now));
  return out;
}

std::vector<v1::SessionSummary> SessionManager::Ended() const {
  absl::ReaderMutexLock lock(&mu_);
  return {ended_.begin(), ended_.end()};
}

}  // namespace matgto::replay
