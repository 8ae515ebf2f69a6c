#include "server/tls/contexts.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace matgto::tls {
namespace {

namespace ssl = boost::asio::ssl;

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The system's trusted CAs, loaded into an upstream context by its first
// verified connection rather than at start-up: parsing the bundle
// (set_default_verify_paths) takes ~27 ms, most of a start, and many runs
// never reach an HTTPS upstream (replay). Kept in the context's ex_data,
// freed with it.
struct LazyTrust {
  std::once_flag once;
  absl::Status status;
};

int LazyTrustIndex() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<LazyTrust*>(ptr);
      });
  return index;
}

// Loads the system's CAs into `ctx` once; every caller waits for the load.
absl::Status EnsureSystemTrust(SSL_CTX* ctx) {
  auto* lazy =
      static_cast<LazyTrust*>(SSL_CTX_get_ex_data(ctx, LazyTrustIndex()));
  if (lazy == nullptr) return absl::OkStatus();
  std::call_once(lazy->once, [ctx, lazy] {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      lazy->status = absl::InternalError(
          "cannot load the system's trusted CAs (SSL_CERT_FILE, SSL_CERT_DIR "
          "or the OpenSSL defaults)");
      ERR_clear_error();
    }
  });
  return lazy->status;
}

}  // namespace

std::unique_ptr<InterceptionContext> InterceptionContext::Create(
    LeavesSource leaves, bool http2) {
  return std::unique_ptr<InterceptionContext>(
      new InterceptionContext(std::move(leaves), http2));
}

// The server's preference wins: h2 when the client offers it (and HTTP/2 is
// on), else http/1.1; no ALPN answer when the client offers neither.
int InterceptionContext::SelectAlpn(SSL*, const unsigned char** out,
                                    unsigned char* outlen,
                                    const unsigned char* in, unsigned int inlen,
                                    void* arg) {
  static const unsigned char kBoth[] = {2,   'h', '2', 8,   'h', 't',
                                        't', 'p', '/', '1', '.', '1'};
  const bool http2 = static_cast<const InterceptionContext*>(arg)->http2_;
  const unsigned char* offer = http2 ? kBoth : kBoth + 3;
  const unsigned int offer_len = http2 ? sizeof kBoth : sizeof kBoth - 3;
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, offer, offer_len, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

ssl::context& InterceptionContext::context() {
  std::call_once(built_, &InterceptionContext::Build, this);
  return *context_;
}

void InterceptionContext::Build() {
  if (absl::StatusOr<LeafCache*> leaves = source_(); leaves.ok()) {
    leaves_ = *leaves;
  }
  // Without leaves (the source failed; it said why) SelectCertificate
  // refuses every handshake.
  ex_index_ = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  context_.emplace(ssl::context::tls_server);
  SSL_CTX* native = context_->native_handle();
  Configure(native);
  SSL_CTX_set_cert_cb(native, &InterceptionContext::SelectCertificate, this);
  // A handshake switches to its leaf's context once it knows the host
  // (SelectCertificate), and OpenSSL reads some settings from the context
  // current when it needs them: TLS 1.2 picks its suite and its ALPN
  // protocol after the switch. Leaf contexts are configured alike.
  if (leaves_ != nullptr) {
    leaves_->SetContextSetup([this](SSL_CTX* leaf) { Configure(leaf); });
  }
}

void InterceptionContext::Configure(SSL_CTX* native) {
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // The cheapest safe suites first, and this order wins over the client's:
  // AES-128-GCM with SHA-256 (TLS 1.3's mandatory suite; AES and SHA
  // instructions on today's x86 and ARM), then ChaCha20-Poly1305, then
  // AES-256-GCM with SHA-384, which OpenSSL prefers by default and whose
  // SHA-512 rounds in the key schedule were the largest non-curve cost of
  // a handshake. TLS 1.2 alike, for the ECDSA leaves (LeafCache).
  SSL_CTX_set_ciphersuites(
      native,
      "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
      "TLS_AES_256_GCM_SHA384");
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384");
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // One session ticket per TLS 1.3 handshake instead of OpenSSL's two: a
  // client that reconnects resumes with it and is given a new one.
  SSL_CTX_set_num_tickets(native, 1);
  // Clients resume with the session tickets they were given (stateless: the
  // session travels in the ticket, sealed with the ticket key of the
  // context the handshake began with). No server-side session cache: it
  // took a lock and a table insert per handshake, and every 255 handshakes
  // a walk over up to 20,480 sessions.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(native, &InterceptionContext::SelectAlpn, this);
}

void InterceptionContext::SetFallbackHost(SSL* ssl,
                                          const std::string* host) const {
  if (ex_index_ < 0) return;
  SSL_set_ex_data(ssl, ex_index_, const_cast<std::string*>(host));
}

int InterceptionContext::SelectCertificate(SSL* ssl, void* arg) {
  auto* self = static_cast<InterceptionContext*>(arg);
  if (self->leaves_ == nullptr) return 0;
  std::string host;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    host = sni;
  } else if (auto* fallback = self->ex_index_ < 0
                                  ? nullptr
                                  : static_cast<std::string*>(SSL_get_ex_data(
                                        ssl, self->ex_index_))) {
    host = *fallback;
  }
  if (host.empty()) return 0;
  absl::StatusOr<SslCtxPtr> leaf = self->leaves_->Context(host);
  if (!leaf.ok()) return 0;
  // The connection takes its own reference to the leaf's context.
  return SSL_set_SSL_CTX(ssl, leaf->get()) == leaf->get() ? 1 : 0;
}

namespace {

absl::StatusOr<std::unique_ptr<ssl::context>> MakeUpstreamContext(
    const UpstreamTlsConfig& config) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  static const unsigned char kHttp11[] = {8,   'h', 't', 't', 'p',
                                          '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(native, kHttp11, sizeof kHttp11);
  if (config.insecure) {
    ctx->set_verify_mode(ssl::verify_none, ec);
    return ctx;
  }
  // The system's CAs are loaded on the first verified connection
  // (EnsureSystemTrust), not here.
  SSL_CTX_set_ex_data(native, LazyTrustIndex(), new LazyTrust);
  if (!config.ca_file.empty()) {
    ctx->load_verify_file(config.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load --upstream-ca-file ", config.ca_file, ": ",
                       ec.message()));
    }
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  return ctx;
}

}  // namespace

absl::StatusOr<ssl::context*> UpstreamContext::Get() {
  std::call_once(built_, [this] { context_ = MakeUpstreamContext(config_); });
  if (!context_.ok()) return context_.status();
  return context_->get();
}

absl::Status PrepareUpstreamSsl(SSL* ssl, const std::string& host,
                                bool verify) {
  const bool ip = IsIpLiteral(host);
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return OpenSslError("setting SNI");
  }
  if (!verify) return absl::OkStatus();
  if (absl::Status trust = EnsureSystemTrust(SSL_get_SSL_CTX(ssl));
      !trust.ok()) {
    return trust;
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  if (ok != 1) return OpenSslError("setting the expected upstream identity");
  return absl::OkStatus();
}

std::string HandshakeFailureReason(SSL* ssl, const std::string& fallback) {
  const long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK) {
    return absl::StrCat("certificate verification failed: ",
                        X509_verify_cert_error_string(result));
  }
  return fallback;
}

}  // namespace matgto::tls
