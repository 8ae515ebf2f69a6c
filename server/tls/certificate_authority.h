// The CA that signs the certificates matgto presents for intercepted hosts.
//
// Each install creates its own CA (EC P-256, 10 years) on first start and
// reuses it afterwards; no CA ships with matgto. Users may bring their own.
// Certificates are built with OpenSSL 3's non-deprecated APIs only.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/tls/openssl_ptr.h"

namespace matgto::tls {

inline constexpr char kCaCertFile[] = "matgto-ca.pem";
inline constexpr char kCaKeyFile[] = "matgto-ca-key.pem";

// Thread-safety: immutable after creation; IssueLeaf may run concurrently.
class CertificateAuthority {
 public:
  // Loads <dir>/matgto-ca.pem and <dir>/matgto-ca-key.pem, creating both
  // (directory 0700, key 0600) when neither exists. FAILED_PRECONDITION when
  // only one exists or they do not belong together.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> LoadOrCreate(
      const std::string& dir);
  // Loads a user-supplied CA. The certificate must be a CA (basic
  // constraints) and match the key.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> Load(
      const std::string& cert_path, const std::string& key_path);

  // A leaf for `host` (a DNS name, or an IP literal which becomes an IP SAN)
  // carrying the public half of `leaf_key`, valid from a day ago for 397
  // days, signed by this CA.
  absl::StatusOr<X509Ptr> IssueLeaf(absl::string_view host,
                                    EVP_PKEY* leaf_key) const;

  std::string CertificatePem() const;
  const std::string& cert_path() const { return cert_path_; }
  // True when LoadOrCreate made a new CA in this run.
  bool created() const { return created_; }

 private:
  CertificateAuthority(X509Ptr cert, PkeyPtr key, std::string cert_path,
                       bool created);

  X509Ptr cert_;
  PkeyPtr key_;
  std::string cert_path_;
  bool created_;
};

// A new EC P-256 key.
absl::StatusOr<PkeyPtr> NewP256Key();

}  // namespace matgto::tls
