#include "server/app/proxy_tls.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace matgto::app {

namespace fs = std::filesystem;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool LooksLikePem(const std::string& path, absl::string_view begin) {
  return absl::StrContains(ReadFile(path), begin);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProxyTls>> ProxyTls::Create(
    const ProxyTlsOptions& options,
    std::function<void(const absl::Status&)> on_load_error) {
  std::unique_ptr<ProxyTls> tls(new ProxyTls());
  tls->options_ = options;
  tls->on_load_error_ = std::move(on_load_error);
  if (!options.ca_cert.empty()) {
    auto ca = tls::CertificateAuthority::Load(options.ca_cert, options.ca_key);
    if (!ca.ok()) return ca.status();
    tls->ca_ = *std::move(ca);
  } else {
    const std::string cert = (fs::path(options.ca_dir) / tls::kCaCertFile);
    const std::string key = (fs::path(options.ca_dir) / tls::kCaKeyFile);
    // Files that are not PEM at all (empty, truncated, overwritten) are
    // loaded now, so that the error stops the start as before; a CA that
    // looks right is parsed by its first use.
    if (!LooksLikePem(cert, "-----BEGIN CERTIFICATE-----") ||
        !LooksLikePem(key, "-----BEGIN ")) {
      // Creates the CA, or says what is wrong with it.
      auto ca = tls::CertificateAuthority::LoadOrCreate(options.ca_dir);
      if (!ca.ok()) return ca.status();
      tls->ca_ = *std::move(ca);
      tls->ca_created_ = tls->ca_->created();
    }
    tls->ca_cert_path_ = cert;
  }
  if (tls->ca_ != nullptr) tls->ca_cert_path_ = tls->ca_->cert_path();
  tls->upstream_ = std::make_unique<tls::UpstreamContext>(options.upstream);
  if (!options.upstream.ca_file.empty()) {
    // A file the user named is checked now.
    if (auto context = tls->upstream_->Get(); !context.ok()) {
      return context.status();
    }
  }
  ProxyTls* self = tls.get();
  tls->interception_ = tls::InterceptionContext::Create(
      [self] { return self->Leaves(); }, options.http2);
  return tls;
}

// Called once, by the interception context's first use.
absl::StatusOr<tls::LeafCache*> ProxyTls::Leaves() {
  if (ca_ == nullptr) {
    auto ca = tls::CertificateAuthority::LoadOrCreate(options_.ca_dir);
    if (!ca.ok()) {
      on_load_error_(ca.status());
      return ca.status();
    }
    ca_ = *std::move(ca);
  }
  auto leaves = tls::LeafCache::Create(*ca_, options_.leaf_cache_size);
  if (!leaves.ok()) {
    on_load_error_(leaves.status());
    return leaves.status();
  }
  leaves_ = *std::move(leaves);
  return leaves_.get();
}

std::string ProxyTls::CaPem() const {
  if (ca_ != nullptr) return ca_->CertificatePem();
  return ReadFile(ca_cert_path_);
}

}  // namespace matgto::app
