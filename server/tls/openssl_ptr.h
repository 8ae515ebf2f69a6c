// Owning pointers for OpenSSL objects and the one place OpenSSL's error
// queue becomes an absl::Status.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace matgto::tls {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
// One reference to an SSL_CTX (SSL_CTX_up_ref / SSL_CTX_free).
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// A new reference to `ctx` (SSL_CTX_up_ref).
SslCtxPtr Share(SSL_CTX* ctx);

// INTERNAL (or `code`) with `what` and the drained OpenSSL error queue.
absl::Status OpenSslError(absl::string_view what,
                          absl::StatusCode code = absl::StatusCode::kInternal);

}  // namespace matgto::tls
