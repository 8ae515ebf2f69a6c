// The two TLS contexts of the proxy: the one that terminates intercepted
// client connections (certificates from the LeafCache, chosen per SNI) and
// the one that originates verified connections to upstreams.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/tls/leaf_cache.h"

namespace matgto::tls {

// Thread-safety: after Create, the context is only read; streams made from it
// may live on any thread.
class InterceptionContext {
 public:
  static absl::StatusOr<std::unique_ptr<InterceptionContext>> Create(
      LeafCache& leaves);

  boost::asio::ssl::context& context() { return context_; }
  // Names the host to present a certificate for when the client sends no
  // SNI (e.g. it connected to an IP address). `host` must outlive the
  // handshake.
  void SetFallbackHost(SSL* ssl, const std::string* host) const;

 private:
  InterceptionContext(LeafCache& leaves, int ex_index);
  static int SelectCertificate(SSL* ssl, void* arg);

  LeafCache& leaves_;
  const int ex_index_;
  boost::asio::ssl::context context_;
};

struct UpstreamTlsConfig {
  // Extra trust anchors (PEM bundle) on top of the system's.
  std::string ca_file;
  // Skip certificate verification entirely.
  bool insecure = false;
};

absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> MakeUpstreamContext(
    const UpstreamTlsConfig& config);

// Before an upstream handshake: SNI (for names, not IP literals) and the
// identity the certificate must prove (name or IP).
absl::Status PrepareUpstreamSsl(SSL* ssl, const std::string& host, bool verify);

// Why a handshake failed, in words ("certificate has expired", "unable to
// get local issuer certificate", "hostname mismatch"...).
std::string HandshakeFailureReason(SSL* ssl, const std::string& fallback);

}  // namespace matgto::tls
