// Test support for the C++ client: a real upstream (tests/upstream.py on
// 127.0.0.1) and libcurl requests through a proxy.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace matgto::test {

// A Python http.server on 127.0.0.1 whose every answer differs.
class Upstream {
 public:
  Upstream();
  // HTTPS with this certificate and key (PEM).
  Upstream(const std::string& cert, const std::string& key);
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  // "http://127.0.0.1:PORT" + path.
  std::string Url(const std::string& path) const;
  // Ends the server (replay must then work offline).
  void Stop();

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
  bool tls_ = false;
};

struct HttpResult {
  long status = 0;
  std::string body{};
  std::string error{};  // libcurl's error, empty on success
};

// GET url through `proxy` with libcurl (empty: libcurl's own choice, i.e.
// the http_proxy/https_proxy variables), trusting `ca_file` when given.
HttpResult Get(const std::string& url, const std::string& proxy,
               std::chrono::milliseconds timeout = std::chrono::seconds(10),
               const std::string& ca_file = {});

// A fresh temporary folder (removed by the caller, or left in /tmp).
std::string TempDir();

// Runs a command with /bin/sh, returns its exit status and output (2>&1).
int Run(const std::string& command, std::string* output);

}  // namespace matgto::test
