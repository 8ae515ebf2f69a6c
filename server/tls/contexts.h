// The two TLS contexts of the proxy: the one that terminates intercepted
// client connections (certificates from the LeafCache, chosen per SNI) and
// the one that originates verified connections to upstreams.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/tls/leaf_cache.h"

namespace matgto::tls {

// Thread-safety: the context is built once, by the first context() call
// (any thread; the others wait); after that it is only read, and streams
// made from it may live on any thread. (std::call_once, not absl's: its
// waiters return through Abseil's spin-wait in Debian's libabsl_base, built
// without TSan, so the tsan build could not see that they wait for Build.)
class InterceptionContext {
 public:
  // Where the leaf certificates come from, asked once by the first
  // context(): loading the CA then, not at start-up, keeps OpenSSL out of a
  // server that never intercepts TLS (its initialisation costs ~5 ms and
  // ~2.5 MiB). An error leaves a context whose handshakes fail.
  using LeavesSource = std::function<absl::StatusOr<LeafCache*>()>;
  // `http2`: ALPN offers h2 before http/1.1 (else http/1.1 only).
  static std::unique_ptr<InterceptionContext> Create(LeavesSource leaves,
                                                     bool http2 = true);

  boost::asio::ssl::context& context();
  // Names the host to present a certificate for when the client sends no
  // SNI (e.g. it connected to an IP address). `host` must outlive the
  // handshake. Only after context().
  void SetFallbackHost(SSL* ssl, const std::string* host) const;

 private:
  InterceptionContext(LeavesSource leaves, bool http2)
      : source_(std::move(leaves)), http2_(http2) {}
  static int SelectAlpn(SSL* ssl, const unsigned char** out,
                        unsigned char* outlen, const unsigned char* in,
                        unsigned int inlen, void* arg);
  void Build();
  // The settings of the context handshakes begin with and of every leaf
  // context they switch to.
  void Configure(SSL_CTX* native);
  static int SelectCertificate(SSL* ssl, void* arg);

  LeavesSource source_;
  const bool http2_;
  std::once_flag built_;
  LeafCache* leaves_ = nullptr;  // null: the source failed
  int ex_index_ = -1;
  std::optional<boost::asio::ssl::context> context_;
};

struct UpstreamTlsConfig {
  // Extra trust anchors (PEM bundle) on top of the system's.
  std::string ca_file;
  // Skip certificate verification entirely.
  bool insecure = false;
};

// The context that originates upstream TLS, built by the first Get() (the
// first https upstream), not at start-up. Thread-safe.
class UpstreamContext {
 public:
  explicit UpstreamContext(UpstreamTlsConfig config)
      : config_(std::move(config)) {}
  // The context, or why it cannot be built (e.g. an unreadable ca_file);
  // the same answer for every call.
  absl::StatusOr<boost::asio::ssl::context*> Get();

 private:
  const UpstreamTlsConfig config_;
  std::once_flag built_;
  absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> context_;
};

// Before an upstream handshake: SNI (for names, not IP literals) and the
// identity the certificate must prove (name or IP).
absl::Status PrepareUpstreamSsl(SSL* ssl, const std::string& host, bool verify);

// Why a handshake failed, in words ("certificate has expired", "unable to
// get local issuer certificate", "hostname mismatch"...).
std::string HandshakeFailureReason(SSL* ssl, const std::string& fallback);

}  // namespace matgto::tls
