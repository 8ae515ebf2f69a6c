// A matgto server started from test code: `matgto serve` on ports the
// server picks, with a cassette folder and an interception CA of its own,
// ready once its ready file appears; stopped (SIGTERM, then SIGKILL after
// 5 s) when the object goes.
//
//   matgto::testing::LocalServer server;          // $MATGTO_BIN, else PATH
//   auto client = matgto::Client::Connect(server.control_address());
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace matgto::testing {

struct LocalServerOptions {
  // The matgto binary; empty: $MATGTO_BIN, else `matgto` on PATH.
  std::string binary{};
  // Where cassettes live; empty: a temporary folder removed at the end.
  std::string cassette_dir{};
  // More `matgto serve` flags ("--mode", "replay", "--auth-tokens", FILE).
  std::vector<std::string> extra_args{};
  // How long to wait for the ready file.
  std::chrono::milliseconds ready_timeout{30000};
};

class LocalServer {
 public:
  // Starts the server and waits until it is ready. Throws
  // std::runtime_error (with the server's output) when it cannot start.
  explicit LocalServer(LocalServerOptions options = {});
  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // From the ready file: "127.0.0.1:PORT".
  const std::string& control_address() const { return control_; }
  const std::string& proxy_address() const { return proxy_; }
  const std::string& cassette_dir() const { return cassette_dir_; }
  pid_t pid() const { return pid_; }
  // What the server printed so far (stdout and stderr).
  std::string output() const;
  // SIGTERM, wait up to 5 s, then SIGKILL. Returns the exit status
  // (waitpid's); idempotent.
  int Stop();
  // Waits (up to `timeout`) for the server to exit by itself (after
  // Client::Shutdown); true when it did.
  bool WaitExit(std::chrono::milliseconds timeout);

  // The binary LocalServer would run: $MATGTO_BIN, else `matgto` on PATH;
  // empty when neither exists.
  static std::string FindBinary();

 private:
  std::string work_dir_;  // temporary: ready file, log, CA, maybe cassettes
  std::string cassette_dir_;
  std::string log_path_;
  std::string control_;
  std::string proxy_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = 0;
};

}  // namespace matgto::testing
