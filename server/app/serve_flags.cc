// The flags of `matgto serve`, and the ServeOptions they make.
#include "server/app/serve_flags.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/app/modes.h"
#include "server/app/session_ports.h"
#include "server/app/store_flags.h"
#include "server/cassette/store.h"
#include "server/core/status_macros.h"
#include "server/observe/log.h"

namespace matgto::app {
namespace {

// Octal file modes with owner read and write, nothing beyond 0777.
std::optional<mode_t> ParseFileMode(const std::string& text) {
  if (text.empty() || text.size() > 4 ||
      text.find_first_not_of("01234567") != std::string::npos) {
    return std::nullopt;
  }
  const auto mode = static_cast<mode_t>(std::stoul(text, nullptr, 8));
  if ((mode & 0600) != 0600) return std::nullopt;
  return mode;
}

const CLI::Validator kFileModeValidator(
    [](std::string& value) -> std::string {
      return ParseFileMode(value).has_value()
                 ? ""
                 : "must be an octal mode with owner read and write (0600), "
                   "no bits beyond 0777, e.g. 0600 or 0640";
    },
    "OCTAL", "file mode");

}  // namespace

void ServeFlags::AddTo(CLI::App* serve_cmd) {
  serve_cmd
      ->add_option("--proxy-port", serve.proxy.port,
                   "proxy port (0: any free port)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--control-port", serve.control_port,
                   "gRPC control port (0: any free port)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--bind", serve.proxy.bind_address,
                   "address the proxy listens on")
      ->capture_default_str();
  serve_cmd
      ->add_option("--control-bind", serve.control_bind,
                   "address the control API listens on")
      ->capture_default_str();
  serve_cmd
      ->add_option("--cassette-dir", serve.cassette_dir,
                   "directory holding cassettes")
      ->capture_default_str();
  AddStoreFlags(serve_cmd, serve.store);
  serve_cmd
      ->add_option("--cassette-format", serve_format,
                   "how cassettes are written: binary (<name>.pb) or json "
                   "(<name>.json, readable in reviews); both are read")
      ->check(CLI::IsMember({"binary", "json"}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--file-mode", file_mode,
                   "octal mode of the cassettes and journals written (they "
                   "may hold secrets the redaction rules missed), e.g. 0640")
      ->check(kFileModeValidator)
      ->capture_default_str();
  serve_cmd
      ->add_option("--mode", serve_mode,
                   "default mode: used by `matgto use` without --mode; "
                   "with passthrough the proxy forwards while no cassette "
                   "is in use, otherwise it answers 503")
      ->check(ModeValidator())
      ->capture_default_str();
  serve_cmd->add_option("--cassette", serve.cassette,
                        "cassette to use from the start, in --mode");
  serve_cmd
      ->add_option("--threads", serve.threads, "I/O threads (0: one per core)")
      ->capture_default_str();
  serve_cmd->add_option("--ready-file", serve.ready_file,
                        "write {\"proxy\",\"control\",\"pid\"} JSON here once "
                        "listening");
  serve_cmd
      ->add_option("--max-header-bytes", serve.proxy.max_header_bytes,
                   "request line + headers limit (431 beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-body-bytes", serve.proxy.max_body_bytes,
                   "request/response body limit (413/502 beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-stored-body-bytes", serve.proxy.max_stored_body_bytes,
                   "largest response body a recording stores: bodies over "
                   "1 MiB are relayed and spooled to disk as they arrive; a "
                   "larger one still reaches the client, unrecorded (at most "
                   "2000000000: one interaction must stay under protobuf's "
                   "2 GiB)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{2000000000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--idle-timeout", idle_s,
                   "seconds a keep-alive connection may stay idle")
      ->capture_default_str();
  serve_cmd
      ->add_option("--request-timeout", request_s,
                   "seconds to read one request, from its first byte (408 "
                   "beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--write-timeout", write_s,
                   "seconds writing a response to a client may take (each "
                   "piece of a streamed one); a client that stops reading "
                   "is disconnected")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option("--dns-timeout", dns_s,
                   "seconds to resolve an upstream's name (504 beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-connections", serve.proxy.max_connections,
                   "open client connections per proxy port (503 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000000u));
  serve_cmd
      ->add_option("--connect-timeout", connect_s,
                   "seconds to connect to an upstream (502 beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--upstream-timeout", upstream_s,
                   "seconds to wait for an upstream response (504 beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--shutdown-grace", grace_s,
                   "seconds in-flight exchanges get on SIGTERM/SIGINT")
      ->capture_default_str();

  serve_cmd->add_option(
      "--session-ports", session_ports,
      "LOW-HIGH: ports for the proxy listeners of new sessions (default: "
      "an ephemeral port on --bind each)");
  serve_cmd
      ->add_option("--max-sessions", serve.max_sessions,
                   "open sessions allowed besides the default one "
                   "(RESOURCE_EXHAUSTED beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option(
          "--ws-max-message-bytes", serve.proxy.ws_max_message_bytes,
          "largest WebSocket message (the session closes with 1009 beyond)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--ws-idle-timeout", ws_idle_s,
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
  serve_cmd
      ->add_flag("--http2,!--no-http2", serve.proxy.http2,
                 "serve HTTP/2 to clients (ALPN h2 on intercepted TLS, "
                 "h2c prior knowledge on plain connections); on by "
                 "default")
      ->capture_default_str();
  serve_cmd->add_flag("--reverse-tls", serve.proxy.reverse_tls,
                      "reverse mode: serve HTTPS on the proxy port with a "
                      "certificate from the CA");
  serve_cmd->add_option("--control-tls-cert", serve.control_tls_cert,
                        "serve the control API over TLS with this certificate "
                        "chain (PEM; with --control-tls-key)");
  serve_cmd->add_option("--control-tls-key", serve.control_tls_key,
                        "private key (PEM) of --control-tls-cert");
  serve_cmd->add_option("--control-client-ca", serve.control_client_ca,
                        "mTLS: require control clients to present a "
                        "certificate signed by this CA (PEM)");
  serve_cmd->add_option("--auth-tokens", serve.auth_tokens,
                        "require bearer tokens on the control API: a file "
                        "of `TOKEN SCOPE [NAME-PREFIX]` lines, SCOPE read, "
                        "write or admin");
  serve_cmd
      ->add_option("--log-level", log_level,
                   "error, warn (+ every replay miss, explained), info (+ "
                   "one line per exchange), debug, or off")
      ->check(CLI::IsMember({"error", "warn", "info", "debug", "off"}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--log-format", log_format,
                   "text, or json (one object per line: time, level, event, "
                   "msg and the event's fields)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--admin-port", serve.admin_port,
                   "HTTP port for /metrics (Prometheus), /healthz and "
                   "/readyz; 0: an ephemeral port; default off")
      ->check(CLI::Range(0, 65535));
  serve_cmd
      ->add_option("--admin-bind", serve.admin_bind,
                   "address the admin port listens on")
      ->capture_default_str();
}

absl::StatusOr<ServeOptions> ServeFlags::Build() const {
  ServeOptions options = serve;
  options.mode = *ParseMode(serve_mode);
  cassette::ParseCassetteFormat(serve_format, &options.cassette_format);
  options.file_mode = *ParseFileMode(file_mode);
  options.proxy.idle_timeout = absl::Seconds(idle_s);
  options.proxy.request_timeout = absl::Seconds(request_s);
  options.proxy.upstream_connect_timeout = absl::Seconds(connect_s);
  options.proxy.dns_timeout = absl::Seconds(dns_s);
  options.proxy.write_timeout = absl::Seconds(write_s);
  options.proxy.upstream_timeout = absl::Seconds(upstream_s);
  options.shutdown_grace = absl::Seconds(grace_s);
  options.proxy.ws_idle_timeout = absl::Seconds(ws_idle_s);
  options.log.level = *observe::ParseLogLevel(log_level);
  options.log.format = *observe::ParseLogFormat(log_format);
  if (!session_ports.empty()) {
    ASSIGN_OR_RETURN(options.session_ports, ParsePortRange(session_ports));
  }
  return options;
}

}  // namespace matgto::app
