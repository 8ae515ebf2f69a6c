// ScopedProxyEnv: set the proxy/CA variables, restore them afterwards.
#include "matgto/testing/proxy_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "matgto/client.h"

namespace matgto::testing {
namespace {

// The system roots Debian, Fedora and Alpine keep.
constexpr const char* kSystemBundles[] = {"/etc/ssl/certs/ca-certificates.crt",
                                          "/etc/pki/tls/certs/ca-bundle.crt",
                                          "/etc/ssl/cert.pem"};

}  // namespace

ScopedProxyEnv::ScopedProxyEnv(const Session& session)
    : ScopedProxyEnv(session.proxy_url(), session.CACertificate()) {}

ScopedProxyEnv::ScopedProxyEnv(const std::string& proxy_url,
                               const std::string& ca_pem) {
  for (const char* name :
       {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
    Set(name, proxy_url);
  }
  if (ca_pem.empty()) return;
  char tmpl[] = "/tmp/matgto-ca-XXXXXX.pem";
  int fd = mkstemps(tmpl, 4);
  if (fd < 0)
    throw std::runtime_error("matgto: cannot create a CA bundle in /tmp");
  close(fd);
  bundle_ = tmpl;
  std::ofstream out(bundle_, std::ios::binary | std::ios::trunc);
  out << ca_pem;
  if (!ca_pem.empty() && ca_pem.back() != '\n') out << '\n';
  for (const char* sys : kSystemBundles) {
    std::ifstream in(sys, std::ios::binary);
    if (in) {
      out << in.rdbuf();
      break;
    }
  }
  out.close();
  for (const char* name :
       {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"}) {
    Set(name, bundle_);
  }
}

void ScopedProxyEnv::Set(const char* name, const std::string& value) {
  const char* old = std::getenv(name);
  saved_.emplace_back(
      name, old == nullptr ? std::nullopt : std::optional<std::string>(old));
  setenv(name, value.c_str(), 1);
}

ScopedProxyEnv::~ScopedProxyEnv() {
  // Restored in reverse, so a variable set twice ends as it was first.
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    if (it->second.has_value()) {
      setenv(it->first.c_str(), it->second->c_str(), 1);
    } else {
      unsetenv(it->first.c_str());
    }
  }
  if (!bundle_.empty()) std::remove(bundle_.c_str());
}

}  // namespace matgto::testing
