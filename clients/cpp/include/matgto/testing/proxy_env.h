// Points the process's proxy and CA-trust environment at a matgto session
// for the duration of a scope, and restores every variable (set or unset)
// afterwards, as VCR/Polly users expect of a test helper:
//   HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy   -> the session's proxy
//   SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE  -> a PEM bundle: the
//       server's CA (it signs every intercepted HTTPS host) + the system roots
// libcurl reads the proxy variables (lowercase http_proxy for http://) but
// not the CA ones: give it CURLOPT_CAINFO = ca_bundle_path(). Child
// processes (curl, Python requests, Go, OpenSSL's default paths) read both.
// NO_PROXY is left as it is.
//
// setenv is not thread-safe: use it where no other thread reads the
// environment (one scope at a time, not in parallel tests of one process).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace matgto {
class Session;
}

namespace matgto::testing {

class ScopedProxyEnv {
 public:
  // The session's own proxy and the server's CA.
  explicit ScopedProxyEnv(const Session& session);
  // Any proxy URL; ca_pem empty: the CA variables are left alone.
  ScopedProxyEnv(const std::string& proxy_url, const std::string& ca_pem);
  ~ScopedProxyEnv();
  ScopedProxyEnv(const ScopedProxyEnv&) = delete;
  ScopedProxyEnv& operator=(const ScopedProxyEnv&) = delete;

  // The bundle SSL_CERT_FILE names (empty without a CA).
  const std::string& ca_bundle_path() const { return bundle_; }

 private:
  void Set(const char* name, const std::string& value);
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  std::string bundle_;
};

}  // namespace matgto::testing
