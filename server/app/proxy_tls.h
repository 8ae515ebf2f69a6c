// The proxy's TLS state for `matgto serve`: the CA, the leaf cache and the
// two contexts. matgto's own CA is loaded by the first intercepted
// connection, not at start-up: OpenSSL's initialisation (configuration,
// algorithm tables, PEM parsing) was a quarter of the start-up time and
// ~2.5 MiB of idle memory of a server that often never sees TLS.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/tls/certificate_authority.h"
#include "server/tls/contexts.h"
#include "server/tls/leaf_cache.h"

namespace matgto::app {

struct ProxyTlsOptions {
  std::string ca_dir;   // matgto's own CA (created when absent)
  std::string ca_cert;  // a user's CA instead (with ca_key)
  std::string ca_key;
  size_t leaf_cache_size = 0;
  // Intercepted TLS offers ALPN h2 (see ProxyConfig::http2).
  bool http2 = true;
  tls::UpstreamTlsConfig upstream{};
};

class ProxyTls {
 public:
  // Errors a user can act on are reported here, at start-up: a
  // --ca-cert/--ca-key pair that does not load, a CA directory holding half
  // a CA, a CA that cannot be created, an unloadable --upstream-ca-file.
  // matgto's existing CA is loaded on first use; `on_load_error` hears why
  // if that fails (intercepted handshakes then fail).
  static absl::StatusOr<std::unique_ptr<ProxyTls>> Create(
      const ProxyTlsOptions& options,
      std::function<void(const absl::Status&)> on_load_error);

  tls::InterceptionContext* interception() { return interception_.get(); }
  tls::UpstreamContext* upstream() { return upstream_.get(); }
  const std::string& ca_cert_path() const { return ca_cert_path_; }
  // True when this start created a new CA.
  bool ca_created() const { return ca_created_; }
  // The CA certificate (PEM), from the file when the CA is not loaded yet.
  std::string CaPem() const;

 private:
  ProxyTls() = default;
  absl::StatusOr<tls::LeafCache*> Leaves();

  ProxyTlsOptions options_;
  std::function<void(const absl::Status&)> on_load_error_;
  std::string ca_cert_path_;
  bool ca_created_ = false;
  // Set at start-up or by the interception context's first use (once).
  std::unique_ptr<tls::CertificateAuthority> ca_;
  std::unique_ptr<tls::LeafCache> leaves_;
  std::unique_ptr<tls::InterceptionContext> interception_;
  std::unique_ptr<tls::UpstreamContext> upstream_;
};

}  // namespace matgto::app
