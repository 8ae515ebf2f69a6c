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

absl::StatusOr<SslCtxPtr> LeafCache::NewContext(X509* cert) const {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return OpenSslError("SSL_CTX_new (leaf context)");
  if (SSL_CTX_use_certificate(ctx.get(), cert) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key_.get()) != 1) {
    return OpenSslError("setting a leaf certificate and key");
  }
  if (setup_) setup_(ctx.get());
  return ctx;
}

SSL_CTX* LeafCache::Lookup(const std::string& host) {
  auto it = entries_.find(host);
  if (it == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.context.get();
}

absl::StatusOr<SslCtxPtr> LeafCache::Context(absl::string_view host_in) {
  const std::string host = absl::AsciiStrToLower(host_in);
  {
    absl::MutexLock lock(&mu_);
    if (SSL_CTX* found = Lookup(host)) return Share(found);
  }
  // Sign and build outside the lock; two threads racing on a new host both
  // sign and the first insert wins, which is harmless.
  ASSIGN_OR_RETURN(X509Ptr cert, ca_.IssueLeaf(host, key_.get()));
  ASSIGN_OR_RETURN(SslCtxPtr built, NewContext(cert.get()));
  absl::MutexLock lock(&mu_);
  if (SSL_CTX* found = Lookup(host)) return Share(found);
  lru_.push_front(host);
  SslCtxPtr out = Share(built.get());
  entries_.emplace(host, Entry{std::move(built), lru_.begin()});
  while (entries_.size() > capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  return out;
}

}  // namespace matgto::tls
