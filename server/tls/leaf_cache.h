// Per-host leaf certificates, issued on first use and kept in a bounded LRU.
// All leaves share one key (as mitmproxy does): issuing costs one signature,
// not a key generation.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/tls/certificate_authority.h"

namespace matgto::tls {

// Thread-safety: Get() may be called from any thread; `mu_` guards the LRU
// and is not held while a certificate is being signed.
class LeafCache {
 public:
  static absl::StatusOr<std::unique_ptr<LeafCache>> Create(
      const CertificateAuthority& ca, size_t capacity);

  // The leaf for `host` (lower-cased), issuing it when absent.
  absl::StatusOr<X509Ptr> Get(absl::string_view host);
  EVP_PKEY* key() const { return key_.get(); }
  size_t size() const;

 private:
  LeafCache(const CertificateAuthority& ca, PkeyPtr key, size_t capacity)
      : ca_(ca), key_(std::move(key)), capacity_(capacity) {}

  struct Entry {
    X509Ptr cert;
    std::list<std::string>::iterator lru;
  };

  const CertificateAuthority& ca_;
  const PkeyPtr key_;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::tls
