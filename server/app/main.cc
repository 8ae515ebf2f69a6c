// matgto: the record/replay proxy server (`matgto serve`) and its
// command-line client (every other subcommand).
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "server/app/cli.h"
#include "server/app/modes.h"
#include "server/app/serve.h"

namespace {

using matgto::app::CliTarget;

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// Validator for --mode values.
const CLI::Validator kModeValidator(
    [](std::string& value) -> std::string {
      return matgto::app::ParseMode(value).has_value()
                 ? ""
                 : "mode must be auto, record, replay or passthrough";
    },
    "auto|record|replay|passthrough", "mode");

const CLI::Validator kExhaustedValidator(
    [](std::string& value) -> std::string {
      return matgto::app::ParseExhaustedPolicy(value).has_value()
                 ? ""
                 : "must be repeat-last or error";
    },
    "repeat-last|error", "exhausted");

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "matgto: a record/replay proxy for tests. `matgto serve` runs the proxy "
      "and its gRPC control API; the other commands drive a running server."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("matgto ") + MATGTO_VERSION);

  CliTarget target;
  target.server = EnvOr("MATGTO_SERVER", "127.0.0.1:8889");
  double timeout_s = 30;
  app.add_option("--server", target.server,
                 "control API address of the server (env MATGTO_SERVER)")
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "seconds to wait for the server")
      ->capture_default_str();

  // serve
  matgto::app::ServeOptions serve;
  std::string serve_mode = "auto";
  double idle_s = 60, request_s = 30, connect_s = 10, upstream_s = 60,
         grace_s = 5;
  CLI::App* serve_cmd = app.add_subcommand("serve", "run the proxy server");
  serve_cmd->add_option("--proxy-port", serve.proxy.port, "proxy port (0: any free port)")
      ->capture_default_str();
  serve_cmd->add_option("--control-port", serve.control_port,
                        "gRPC control port (0: any free port)")
      ->capture_default_str();
  serve_cmd->add_option("--bind", serve.proxy.bind_address,
                        "address the proxy listens on")
      ->capture_default_str();
  serve_cmd->add_option("--control-bind", serve.control_bind,
                        "address the control API listens on")
      ->capture_default_str();
  serve_cmd->add_option("--cassette-dir", serve.cassette_dir,
                        "directory holding cassettes")
      ->capture_default_str();
  serve_cmd->add_option("--mode", serve_mode,
                        "default mode: used by `matgto use` without --mode; "
                        "with passthrough the proxy forwards while no cassette "
                        "is in use, otherwise it answers 503")
      ->check(kModeValidator)
      ->capture_default_str();
  serve_cmd->add_option("--cassette", serve.cassette,
                        "cassette to use from the start, in --mode");
  serve_cmd->add_option("--threads", serve.threads,
                        "I/O threads (0: one per core)")
      ->capture_default_str();
  serve_cmd->add_option("--ready-file", serve.ready_file,
                        "write {\"proxy\",\"control\",\"pid\"} JSON here once "
                        "listening");
  serve_cmd->add_option("--max-header-bytes", serve.proxy.max_header_bytes,
                        "request line + headers limit (431 beyond)")
      ->capture_default_str();
  serve_cmd->add_option("--max-body-bytes", serve.proxy.max_body_bytes,
                        "request/response body limit (413/502 beyond)")
      ->capture_default_str();
  serve_cmd->add_option("--idle-timeout", idle_s,
                        "seconds a keep-alive connection may stay idle")
      ->capture_default_str();
  serve_cmd->add_option("--request-timeout", request_s,
                        "seconds to read one request body (408 beyond)")
      ->capture_default_str();
  serve_cmd->add_option("--connect-timeout", connect_s,
                        "seconds to connect to an upstream (502 beyond)")
      ->capture_default_str();
  serve_cmd->add_option("--upstream-timeout", upstream_s,
                        "seconds to wait for an upstream response (504 beyond)")
      ->capture_default_str();
  serve_cmd->add_option("--shutdown-grace", grace_s,
                        "seconds in-flight exchanges get on SIGTERM/SIGINT")
      ->capture_default_str();

  double ws_idle_s = 300;
  serve_cmd->add_option("--ws-max-message-bytes", serve.proxy.ws_max_message_bytes,
                        "largest WebSocket message (the session closes with 1009 beyond)")
      ->capture_default_str();
  serve_cmd->add_option("--ws-idle-timeout", ws_idle_s,
                        "seconds a WebSocket session may carry no frame")
      ->capture_default_str();
  serve_cmd->add_option("--ca-dir", serve.ca_dir,
                        "where the interception CA lives (created on first "
                        "start); default $MATGTO_CA_DIR or ~/.matgto/ca");
  serve_cmd->add_option("--ca-cert", serve.ca_cert,
                        "bring your own CA: certificate PEM (with --ca-key)");
  serve_cmd->add_option("--ca-key", serve.ca_key,
                        "bring your own CA: private key PEM (with --ca-cert)");
  serve_cmd->add_option("--no-intercept", serve.proxy.no_intercept,
                        "host glob whose CONNECT tunnels are relayed untouched "
                        "(repeatable), e.g. '*.pinned.example'");
  serve_cmd->add_option("--upstream-ca-file", serve.upstream_ca_file,
                        "extra CA bundle (PEM) trusted for upstream TLS");
  serve_cmd->add_flag("--insecure-upstream", serve.insecure_upstream,
                      "do NOT verify upstream TLS certificates");
  serve_cmd->add_option("--upstream", serve.reverse_upstream,
                        "reverse mode: the proxy port acts as this origin, "
                        "e.g. https://api.example.com");
  serve_cmd->add_flag("--reverse-tls", serve.proxy.reverse_tls,
                      "reverse mode: serve HTTPS on the proxy port with a "
                      "certificate from the CA");

  // client commands
  std::string name, mode = "", on_exhausted, ws_timing;
  double ws_speed = 0;
  bool json = false;
  double shutdown_grace_s = 5;
  auto add_exhausted = [&](CLI::App* cmd) {
    cmd->add_option("--on-exhausted", on_exhausted,
                    "when identical requests outnumber recorded answers: "
                    "repeat-last (default) or error")
        ->check(kExhaustedValidator);
    cmd->add_option("--ws-timing", ws_timing,
                    "WebSocket replay pacing: fast (default) or as-recorded")
        ->check(CLI::IsMember({"fast", "as-recorded"}));
    cmd->add_option("--ws-speed", ws_speed,
                    "with --ws-timing as-recorded: 2 replays twice as fast")
        ->check(CLI::PositiveNumber);
  };
  CLI::App* record_cmd =
      app.add_subcommand("record", "record into cassette NAME (overwrites it on stop)");
  record_cmd->add_option("name", name, "cassette name")->required();
  add_exhausted(record_cmd);
  CLI::App* stop_cmd =
      app.add_subcommand("stop", "end the cassette in use, saving a recording");
  CLI::App* replay_cmd =
      app.add_subcommand("replay", "replay cassette NAME (it must exist)");
  replay_cmd->add_option("name", name, "cassette name")->required();
  add_exhausted(replay_cmd);
  CLI::App* use_cmd = app.add_subcommand(
      "use", "use cassette NAME in a mode (auto: replay if it exists, else record)");
  use_cmd->add_option("name", name, "cassette name")->required();
  use_cmd->add_option("--mode", mode,
                      "auto|record|replay|passthrough (default: the server's)")
      ->check(kModeValidator);
  add_exhausted(use_cmd);
  CLI::App* status_cmd = app.add_subcommand("status", "show the server's state");
  status_cmd->add_flag("--json", json, "print the GetStatus response as JSON");
  CLI::App* shutdown_cmd =
      app.add_subcommand("shutdown", "stop the server gracefully");
  shutdown_cmd->add_option("--grace", shutdown_grace_s,
                           "seconds in-flight exchanges may take")
      ->capture_default_str();
  CLI::App* ca_cmd = app.add_subcommand("ca", "the interception CA");
  ca_cmd->require_subcommand(1);
  CLI::App* ca_export_cmd =
      ca_cmd->add_subcommand("export", "print the CA certificate (PEM)");

  CLI11_PARSE(app, argc, argv);
  target.timeout = absl::Seconds(timeout_s);

  matgto::v1::CassetteOptions options;
  if (!on_exhausted.empty()) {
    options.set_on_exhausted(*matgto::app::ParseExhaustedPolicy(on_exhausted));
  }
  if (!ws_timing.empty()) {
    options.set_ws_timing(ws_timing == "as-recorded" ? matgto::v1::AS_RECORDED
                                                     : matgto::v1::AS_FAST_AS_POSSIBLE);
  }
  if (ws_speed > 0) options.set_ws_speed(ws_speed);

  if (serve_cmd->parsed()) {
    serve.mode = *matgto::app::ParseMode(serve_mode);
    serve.proxy.idle_timeout = absl::Seconds(idle_s);
    serve.proxy.request_timeout = absl::Seconds(request_s);
    serve.proxy.upstream_connect_timeout = absl::Seconds(connect_s);
    serve.proxy.upstream_timeout = absl::Seconds(upstream_s);
    serve.shutdown_grace = absl::Seconds(grace_s);
    serve.proxy.ws_idle_timeout = absl::Seconds(ws_idle_s);
    return matgto::app::RunServe(serve);
  }
  if (record_cmd->parsed()) return matgto::app::CliRecord(target, name, options);
  if (stop_cmd->parsed()) return matgto::app::CliStop(target);
  if (replay_cmd->parsed()) return matgto::app::CliReplay(target, name, options);
  if (use_cmd->parsed()) {
    matgto::v1::Mode m =
        mode.empty() ? matgto::v1::MODE_UNSPECIFIED : *matgto::app::ParseMode(mode);
    return matgto::app::CliUse(target, name, m, options);
  }
  if (status_cmd->parsed()) return matgto::app::CliStatus(target, json);
  if (shutdown_cmd->parsed()) {
    return matgto::app::CliShutdown(target, absl::Seconds(shutdown_grace_s));
  }
  if (ca_export_cmd->parsed()) return matgto::app::CliCaExport(target);
  return 2;
}
