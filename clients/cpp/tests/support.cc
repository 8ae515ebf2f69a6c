#include "support.h"

#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace matgto::test {

Upstream::Upstream() : Upstream("", "") {}

Upstream::Upstream(const std::string& cert, const std::string& key)
    : tls_(!cert.empty()) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  std::string script = MATGTO_CPP_TESTS_DIR "/upstream.py";
  std::string c = cert, k = key;
  std::vector<char*> argv = {const_cast<char*>("/usr/bin/python3"),
                             script.data()};
  if (tls_) argv.insert(argv.end(), {c.data(), k.data()});
  argv.push_back(nullptr);
  int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) throw std::runtime_error("cannot start tests/upstream.py");
  stdin_fd_ = in[1];
  FILE* f = fdopen(out[0], "r");
  if (f == nullptr || std::fscanf(f, "%d", &port_) != 1) {
    throw std::runtime_error("tests/upstream.py printed no port");
  }
  std::fclose(f);
}

Upstream::~Upstream() { Stop(); }

void Upstream::Stop() {
  if (pid_ <= 0) return;
  close(stdin_fd_);  // upstream.py exits when its stdin closes
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Upstream::Url(const std::string& path) const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") +
         std::to_string(port_) + path;
}

namespace {
size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
}  // namespace

HttpResult Get(const std::string& url, const std::string& proxy,
               std::chrono::milliseconds timeout, const std::string& ca_file) {
  HttpResult r;
  CURL* h = curl_easy_init();
  char err[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  if (!proxy.empty()) curl_easy_setopt(h, CURLOPT_PROXY, proxy.c_str());
  if (!ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    r.error = err[0] != '\0' ? err : curl_easy_strerror(rc);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_cleanup(h);
  return r;
}

std::string TempDir() {
  std::string tmpl = "/tmp/matgto-cpp-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return tmpl;
}

int Run(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace matgto::test
