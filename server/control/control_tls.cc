#include "server/control/control_tls.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "server/core/status_macros.h"
#include "server/tls/openssl_ptr.h"

namespace matgto::control {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string message =
        absl::StrCat("cannot read ", what, " ", path, ": ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(message)
                         : absl::NotFoundError(message);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of `pem`, checked for expiry.
absl::StatusOr<tls::X509Ptr> FirstCertificate(const std::string& pem,
                                              const std::string& path,
                                              absl::string_view what) {
  BioPtr bio = MemBio(pem);
  tls::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return tls::OpenSslError(
        absl::StrCat(what, " ", path, " holds no PEM certificate"),
        absl::StatusCode::kInvalidArgument);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": the certificate has expired"));
  }
  return cert;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeControlCredentials(
    const ControlTlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--control-tls-cert and --control-tls-key go together");
  }
  ASSIGN_OR_RETURN(std::string cert_pem,
                   ReadFile(files.cert_file, "--control-tls-cert"));
  ASSIGN_OR_RETURN(std::string key_pem,
                   ReadFile(files.key_file, "--control-tls-key"));
  ASSIGN_OR_RETURN(
      tls::X509Ptr cert,
      FirstCertificate(cert_pem, files.cert_file, "--control-tls-cert"));
  BioPtr key_bio = MemBio(key_pem);
  tls::PkeyPtr key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return tls::OpenSslError(
        absl::StrCat("--control-tls-key ", files.key_file,
                     " holds no (unencrypted) PEM private key"),
        absl::StatusCode::kInvalidArgument);
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return tls::OpenSslError(
        absl::StrCat("--control-tls-key ", files.key_file,
                     " is not the key of --control-tls-cert ", files.cert_file),
        absl::StatusCode::kInvalidArgument);
  }

  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  if (!files.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(std::string ca_pem,
                     ReadFile(files.client_ca_file, "--control-client-ca"));
    RETURN_IF_ERROR(
        FirstCertificate(ca_pem, files.client_ca_file, "--control-client-ca")
            .status());
    options.pem_root_certs = ca_pem;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace matgto::control
