#include "server/tls/certificate_authority.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/core/status_macros.h"

namespace matgto::tls {
namespace {

namespace fs = std::filesystem;

constexpr long kDay = 24 * 60 * 60;
constexpr long kCaValidityDays = 3650;
// Clients (Apple's, Chrome's) refuse leaves valid for more than 398 days.
constexpr long kLeafValidityDays = 397;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  *ok = static_cast<bool>(in);
  return s.str();
}

absl::Status RandomSerial(X509* x) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return OpenSslError("RAND_bytes");
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (bn == nullptr) return OpenSslError("BN_bin2bn");
  const bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
  BN_free(bn);
  return ok ? absl::OkStatus() : OpenSslError("BN_to_ASN1_INTEGER");
}

absl::Status SetCommonName(X509* x, absl::string_view cn) {
  X509_NAME* name = X509_get_subject_name(x);
  const std::string value(cn.substr(0, 64));  // CN is at most 64 characters
  if (X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
          0) != 1) {
    return OpenSslError("X509_NAME_add_entry_by_txt");
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return OpenSslError(
        absl::StrCat("certificate extension ", OBJ_nid2sn(nid), "=", value));
  }
  const bool ok = X509_add_ext(x, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok ? absl::OkStatus() : OpenSslError("X509_add_ext");
}

absl::StatusOr<X509Ptr> NewCertificate(EVP_PKEY* subject_key,
                                       long validity_days) {
  X509Ptr x(X509_new());
  if (x == nullptr) return OpenSslError("X509_new");
  if (X509_set_version(x.get(), X509_VERSION_3) != 1) {
    return OpenSslError("X509_set_version");
  }
  RETURN_IF_ERROR(RandomSerial(x.get()));
  if (X509_gmtime_adj(X509_getm_notBefore(x.get()), -kDay) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x.get()), validity_days * kDay) ==
          nullptr) {
    return OpenSslError("X509_gmtime_adj");
  }
  if (X509_set_pubkey(x.get(), subject_key) != 1) {
    return OpenSslError("X509_set_pubkey");
  }
  return x;
}

std::string ToPem(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::Status WriteFile(const std::string& path, const std::string& data,
                       mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  ::fchmod(fd, mode);  // umask must not widen or narrow what we asked for
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  return absl::OkStatus();
}

// True for names that may go into a SAN as they are: letters, digits, '-',
// '.', '_' and a leading "*.".
bool PlainDnsName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
          c == '*')) {
      return false;
    }
  }
  return true;
}

// `x` read back from its DER encoding. OpenSSL keeps the encoding of a
// certificate it decoded and sends those bytes; one it built (X509_new,
// then signed) is encoded again, all of it, on every handshake that sends
// it (~60k instructions, 2% of a handshake).
absl::StatusOr<X509Ptr> Decoded(X509* x) {
  unsigned char* der = nullptr;
  const int size = i2d_X509(x, &der);
  if (size <= 0) return OpenSslError("encoding a certificate");
  const unsigned char* in = der;
  X509Ptr decoded(d2i_X509(nullptr, &in, size));
  OPENSSL_free(der);
  if (decoded == nullptr) return OpenSslError("decoding a certificate");
  return decoded;
}

}  // namespace

SslCtxPtr Share(SSL_CTX* ctx) {
  SSL_CTX_up_ref(ctx);
  return SslCtxPtr(ctx);
}

absl::Status OpenSslError(absl::string_view what, absl::StatusCode code) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", buf);
  }
  return absl::Status(
      code, absl::StrCat(what, " failed", detail.empty() ? "" : ": ", detail));
}

absl::StatusOr<PkeyPtr> NewP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) return OpenSslError("EC P-256 key generation");
  return key;
}

CertificateAuthority::CertificateAuthority(X509Ptr cert, PkeyPtr key,
                                           std::string cert_path, bool created)
    : cert_(std::move(cert)),
      key_(std::move(key)),
      cert_path_(std::move(cert_path)),
      created_(created) {}

absl::StatusOr<std::unique_ptr<CertificateAuthority>>
CertificateAuthority::Load(const std::string& cert_path,
                           const std::string& key_path) {
  bool ok = false;
  const std::string cert_pem = ReadFile(cert_path, &ok);
  if (!ok)
    return absl::NotFoundError(
        absl::StrCat("cannot read CA certificate ", cert_path));
  const std::string key_pem = ReadFile(key_path, &ok);
  if (!ok)
    return absl::NotFoundError(absl::StrCat("cannot read CA key ", key_path));
  BioPtr cert_bio(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return OpenSslError(absl::StrCat("reading CA certificate ", cert_path),
                        absl::StatusCode::kInvalidArgument);
  }
  BioPtr key_bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StrCat("reading CA key ", key_path),
                        absl::StatusCode::kInvalidArgument);
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        "CA key ", key_path, " does not belong to certificate ", cert_path));
  }
  if (X509_check_ca(cert.get()) <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate ", cert_path,
                     " is not a CA (no CA:TRUE basic constraint)"));
  }
  return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(
      std::move(cert), std::move(key), cert_path, false));
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>>
CertificateAuthority::LoadOrCreate(const std::string& dir) {
  const std::string cert_path = (fs::path(dir) / kCaCertFile).string();
  const std::string key_path = (fs::path(dir) / kCaKeyFile).string();
  std::error_code ec;
  const bool has_cert = fs::exists(cert_path, ec);
  const bool has_key = fs::exists(key_path, ec);
  if (has_cert && has_key) return Load(cert_path, key_path);
  if (has_cert != has_key) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CA directory ", dir, " holds only ", has_cert ? cert_path : key_path,
        "; restore the other file or remove it to create a new CA"));
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create CA directory ", dir, ": ", ec.message()));
  }
  ::chmod(dir.c_str(), 0700);

  ASSIGN_OR_RETURN(PkeyPtr key, NewP256Key());
  ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(key.get(), kCaValidityDays));
  unsigned char id[4];
  RAND_bytes(id, sizeof id);
  const std::string cn =
      absl::StrCat("matgto CA ", absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<char*>(id), sizeof id)));
  RETURN_IF_ERROR(SetCommonName(cert.get(), cn));
  X509_NAME_add_entry_by_txt(
      X509_get_subject_name(cert.get()), "O", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>("matgto-serge"), -1, -1, 0);
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) !=
      1) {
    return OpenSslError("X509_set_issuer_name");
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints,
                               "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage,
                               "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return OpenSslError("signing the CA certificate");
  }

  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  RETURN_IF_ERROR(
      WriteFile(key_path, std::string(data, static_cast<size_t>(len)), 0600));
  RETURN_IF_ERROR(WriteFile(cert_path, ToPem(cert.get()), 0644));
  return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(
      std::move(cert), std::move(key), cert_path, true));
}

absl::StatusOr<X509Ptr> CertificateAuthority::IssueLeaf(
    absl::string_view host, EVP_PKEY* leaf_key) const {
  const std::string h(host);
  unsigned char ip[16];
  const bool is_ip = inet_pton(AF_INET, h.c_str(), ip) == 1 ||
                     inet_pton(AF_INET6, h.c_str(), ip) == 1;
  if (!is_ip && !PlainDnsName(h)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot issue a certificate for host name '", host, "'"));
  }
  ASSIGN_OR_RETURN(X509Ptr leaf, NewCertificate(leaf_key, kLeafValidityDays));
  RETURN_IF_ERROR(SetCommonName(leaf.get(), h));
  if (X509_set_issuer_name(leaf.get(), X509_get_subject_name(cert_.get())) !=
      1) {
    return OpenSslError("X509_set_issuer_name");
  }
  RETURN_IF_ERROR(AddExtension(leaf.get(), cert_.get(), NID_basic_constraints,
                               "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(leaf.get(), cert_.get(), NID_key_usage,
                               "critical,digitalSignature"));
  RETURN_IF_ERROR(
      AddExtension(leaf.get(), cert_.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(
      AddExtension(leaf.get(), cert_.get(), NID_subject_alt_name,
                   absl::StrCat(is_ip ? "IP:" : "DNS:", h).c_str()));
  RETURN_IF_ERROR(AddExtension(leaf.get(), cert_.get(),
                               NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(leaf.get(), key_.get(), EVP_sha256()) == 0) {
    return OpenSslError(absl::StrCat("signing the certificate for ", host));
  }
  return Decoded(leaf.get());
}

std::string CertificateAuthority::CertificatePem() const {
  return ToPem(cert_.get());
}

}  // namespace matgto::tls
