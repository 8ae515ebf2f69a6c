// Per-host leaf certificates, issued on first use and kept in a bounded LRU,
// each with the TLS server context that presents it. All leaves share one
// key (as mitmproxy does): issuing costs one signature, not a key
// generation.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/tls/certificate_authority.h"

namespace matgto::tls {

// Thread-safety: Context() may be called from any thread; `mu_`
// guards the LRU and is not held while a certificate is being signed or
// its context built. SetContextSetup() is called once, before the first
// Context().
class LeafCache {
 public:
  static absl::StatusOr<std::unique_ptr<LeafCache>> Create(
      const CertificateAuthority& ca, size_t capacity);

  // What a leaf's context needs besides its certificate and key: the
  // settings OpenSSL reads from the context a handshake switched to (the
  // TLS 1.2 suites, the ALPN choice), those of the context handshakes
  // begin with.
  using ContextSetup = std::function<void(SSL_CTX*)>;
  void SetContextSetup(ContextSetup setup) { setup_ = std::move(setup); }

  // A server context presenting the leaf for `host` (lower-cased; issued
  // when absent) with the shared key, built with the leaf and kept with it.
  // A handshake switches to it (SSL_set_SSL_CTX) instead of setting a
  // certificate and key on its own connection, which OpenSSL checks against
  // each other every time (~34,000 instructions a handshake). The reference
  // returned outlives an eviction. About 13 KiB per leaf.
  absl::StatusOr<SslCtxPtr> Context(absl::string_view host);
  size_t size() const;

 private:
  LeafCache(const CertificateAuthority& ca, PkeyPtr key, size_t capacity)
      : ca_(ca), key_(std::move(key)), capacity_(capacity) {}

  struct Entry {
    SslCtxPtr context;  // holds the leaf certificate and the shared key
    std::list<std::string>::iterator lru;
  };
  // The context for `host` (moved to the front of the LRU), or null.
  SSL_CTX* Lookup(const std::string& host) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<SslCtxPtr> NewContext(X509* cert) const;

  const CertificateAuthority& ca_;
  const PkeyPtr key_;
  const size_t capacity_;
  ContextSetup setup_;
  mutable absl::Mutex mu_;
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::tls
