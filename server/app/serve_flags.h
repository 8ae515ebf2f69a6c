// The flags of `matgto serve`: listeners, cassette store, timeouts and
// limits, sessions, TLS interception, control API security, log and admin
// port. (Each also reads MATGTO_<FLAG> and --config: env_flags.h.)
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "server/app/serve.h"

namespace matgto::app {

struct ServeFlags {
  // What the flags set as they are.
  ServeOptions serve;
  // What Build converts.
  std::string serve_mode = "auto";
  std::string serve_format = "binary";
  std::string file_mode = "0600";
  double idle_s = 60, request_s = 30, connect_s = 10, upstream_s = 60,
         grace_s = 5, dns_s = 5, write_s = 60;
  std::string session_ports;
  double ws_idle_s = 300;
  std::string log_level = "info", log_format = "text";

  // The flags write into this object: it must outlive the parse.
  void AddTo(CLI::App* serve_cmd);
  // The ServeOptions of the parsed flags; the error of a malformed
  // --session-ports (the flags' own checks refuse every other bad value).
  absl::StatusOr<ServeOptions> Build() const;
};

}  // namespace matgto::app
