// LocalServer: `matgto serve` as a child process, ready-file contract of
// clients/CONTRACT.md.
#include "matgto/testing/local_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

extern char** environ;

namespace matgto::testing {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(
      base != nullptr && *base != '\0' ? base : "/tmp", "/matgto-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error(absl::StrCat("matgto: cannot create ", tmpl));
  }
  return tmpl;
}

bool IsExecutable(const std::string& path) {
  return !path.empty() && access(path.c_str(), X_OK) == 0 &&
         !fs::is_directory(path);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

std::string LocalServer::FindBinary() {
  if (const char* bin = std::getenv("MATGTO_BIN");
      bin != nullptr && *bin != '\0') {
    return IsExecutable(bin) ? std::string(bin) : std::string();
  }
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/matgto");
    if (IsExecutable(candidate)) return candidate;
  }
  return {};
}

LocalServer::LocalServer(LocalServerOptions o) {
  std::string bin = o.binary.empty() ? FindBinary() : o.binary;
  if (!IsExecutable(bin)) {
    throw std::runtime_error(
        o.binary.empty()
            ? "matgto: no matgto binary: set MATGTO_BIN, put `matgto` on PATH, "
              "or give LocalServerOptions::binary"
            : absl::StrCat("matgto: ", o.binary, " is not an executable"));
  }
  work_dir_ = MakeTempDir();
  cassette_dir_ =
      o.cassette_dir.empty() ? work_dir_ + "/cassettes" : o.cassette_dir;
  fs::create_directories(cassette_dir_);
  log_path_ = work_dir_ + "/server.log";
  const std::string ready = work_dir_ + "/ready.json";

  std::vector<std::string> args = {bin,
                                   "serve",
                                   "--proxy-port",
                                   "0",
                                   "--control-port",
                                   "0",
                                   "--cassette-dir",
                                   cassette_dir_,
                                   "--ready-file",
                                   ready};
  bool own_ca = false;
  for (const std::string& a : o.extra_args)
    own_ca |= a == "--ca-dir" || a == "--ca-cert";
  if (!own_ca) {
    // A throwaway interception CA: tests never touch ~/.matgto.
    args.insert(args.end(), {"--ca-dir", work_dir_ + "/ca"});
  }
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  int rc =
      posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error(
        absl::StrCat("matgto: cannot start ", bin, ": ", std::strerror(rc)));
  }

  const auto deadline = std::chrono::steady_clock::now() + o.ready_timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = status;
      throw std::runtime_error(absl::StrCat(
          "matgto: `matgto serve` exited before writing its ready file "
          "(status ",
          status, "); output:\n", output()));
    }
    if (fs::exists(ready)) {
      google::protobuf::Struct rf;
      std::string text = Slurp(ready);
      if (!google::protobuf::util::JsonStringToMessage(text, &rf).ok()) {
        Stop();
        throw std::runtime_error(absl::StrCat(
            "matgto: the ready file is not the JSON object of the contract: ",
            text));
      }
      const auto& f = rf.fields();
      if (f.count("control") != 0) control_ = f.at("control").string_value();
      if (f.count("proxy") != 0) proxy_ = f.at("proxy").string_value();
      if (control_.empty() || proxy_.empty()) {
        Stop();
        throw std::runtime_error(absl::StrCat(
            "matgto: the ready file lacks the proxy or control address: ",
            text));
      }
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Stop();
      throw std::runtime_error(absl::StrCat("matgto: no ready file after ",
                                            o.ready_timeout.count(),
                                            " ms; output:\n", output()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

LocalServer::~LocalServer() {
  Stop();
  std::error_code ignored;
  if (!work_dir_.empty()) fs::remove_all(work_dir_, ignored);
}

std::string LocalServer::output() const { return Slurp(log_path_); }

bool LocalServer::WaitExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || exited_) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = status;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int LocalServer::Stop() {
  if (pid_ <= 0 || exited_) return exit_status_;
  kill(pid_, SIGTERM);
  if (!WaitExit(std::chrono::seconds(5))) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &exit_status_, 0);
    exited_ = true;
  }
  return exit_status_;
}

}  // namespace matgto::testing
