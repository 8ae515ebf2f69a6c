#include "server/tls/leaf_cache.h"

#include "absl/strings/ascii.h"
#include "server/core/status_macros.h"

namespace matgto::tls {

absl::StatusOr<std::unique_ptr<LeafCache>> LeafCache::Create(
    const CertificateAuthority& ca, size_t capacity) {
  ASSIGN_OR_RETURN(PkeyPtr key, NewP256Key());
  return std::unique_ptr<LeafCache>(
      new LeafCache(ca, std::move(key), capacity == 0 ? 1 : capacity));
}

size_t LeafCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::StatusOr<X509Ptr> LeafCache::Get(absl::string_view host_in) {
  const std::string host = absl::AsciiStrToLower(host_in);
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(host);
    if (it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return Share(it->second.cert.get());
    }
  }
  // Sign outside the lock; two threads racing on a new host both sign and
  // the second insert wins, which is harmless.
  ASSIGN_OR_RETURN(X509Ptr cert, ca_.IssueLeaf(host, key_.get()));
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(host);
  if (it != entries_.end()) return Share(it->second.cert.get());
  lru_.push_front(host);
  X509Ptr out = Share(cert.get());
  entries_.emplace(host, Entry{std::move(cert), lru_.begin()});
  while (entries_.size() > capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  return out;
}

}  // namespace matgto::tls
