// matgto: the record/replay proxy server (`matgto serve`) and its
// command-line client (every other subcommand). Here: the command line
// (the flags of `serve` are serve_flags.cc) and the command it runs.
#include <grpc/grpc.h>
#include <openssl/crypto.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "server/app/cassette_cli.h"
#include "server/app/cli.h"
#include "server/app/env_flags.h"
#include "server/app/fault_cli.h"
#include "server/app/modes.h"
#include "server/app/option_flags.h"
#include "server/app/serve.h"
#include "server/app/serve_flags.h"
#include "server/app/store_flags.h"
#include "server/app/tail_cli.h"

namespace {

using matgto::app::CliTarget;

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

int Run(int argc, char** argv) {
  CLI::App app{
      "matgto: a record/replay proxy for tests. `matgto serve` runs the proxy "
      "and its gRPC control API; the other commands drive a running server."};
  app.require_subcommand(1);
  app.fallthrough();  // --server/--timeout may follow the command too
  app.set_version_flag("--version", std::string("matgto ") + MATGTO_VERSION);

  CliTarget target;
  target.server = EnvOr("MATGTO_SERVER", "127.0.0.1:8889");
  double timeout_s = 30;
  app.add_option("--server", target.server,
                 "control API address of the server (env MATGTO_SERVER)")
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "seconds to wait for the server")
      ->capture_default_str();
  // Control API security (client side).
  target.token = EnvOr("MATGTO_TOKEN", "");
  target.tls_ca = EnvOr("MATGTO_TLS_CA", "");
  target.tls_cert = EnvOr("MATGTO_TLS_CERT", "");
  target.tls_key = EnvOr("MATGTO_TLS_KEY", "");
  app.add_option("--token", target.token,
                 "bearer token for a server started with --auth-tokens (env "
                 "MATGTO_TOKEN; prefer the variable: arguments show in ps)");
  app.add_option("--tls-ca", target.tls_ca,
                 "CA certificate (PEM) that the server's control certificate "
                 "chains to; using TLS (env MATGTO_TLS_CA)");
  app.add_option("--tls-cert", target.tls_cert,
                 "client certificate (PEM) for a server that requires mTLS "
                 "(env MATGTO_TLS_CERT; with --tls-key)");
  app.add_option("--tls-key", target.tls_key,
                 "private key (PEM) of --tls-cert (env MATGTO_TLS_KEY)");

  // serve
  matgto::app::ServeFlags serve_flags;
  CLI::App* serve_cmd = app.add_subcommand("serve", "run the proxy server");
  serve_flags.AddTo(serve_cmd);

  // client commands
  std::string name, mode = "";
  bool json = false;
  double shutdown_grace_s = 5;
  matgto::app::CassetteOptionFlags option_flags;
  matgto::app::CliSession session;
  std::string lease;
  auto add_json = [&](CLI::App* cmd) {
    cmd->add_flag("--json", session.json,
                  "print the answer as JSON (protobuf field names)");
  };
  auto add_exhausted = [&](CLI::App* cmd) {
    option_flags.AddTo(cmd);
    cmd->add_option("--session", session.id,
                    "act on this open session (default: the default "
                    "session, which the shared proxy port serves)");
    cmd->add_flag("--new-session", session.new_session,
                  "open a new session with a proxy port of its own; prints "
                  "its id and proxy address");
    cmd->add_option("--lease", lease,
                    "with --new-session: end the session unless renewed "
                    "within this long (e.g. 30s); default: no lease, it "
                    "lives until `matgto stop --session ID`");
    cmd->add_option("--owner", session.owner,
                    "with --new-session: who opened it (shown by `matgto "
                    "sessions`)");
    add_json(cmd);
  };
  CLI::App* record_cmd = app.add_subcommand(
      "record", "record into cassette NAME (overwrites it on stop)");
  record_cmd->add_option("name", name, "cassette name")->required();
  add_exhausted(record_cmd);
  CLI::App* stop_cmd = app.add_subcommand(
      "stop",
      "end the cassette in use, saving a recording (with --session: end "
      "that session)");
  stop_cmd->add_option("--session", session.id,
                       "the session to end (default: the default session)");
  add_json(stop_cmd);
  CLI::App* replay_cmd =
      app.add_subcommand("replay", "replay cassette NAME (it must exist)");
  replay_cmd->add_option("name", name, "cassette name")->required();
  add_exhausted(replay_cmd);
  CLI::App* use_cmd = app.add_subcommand(
      "use",
      "use cassette NAME in a mode (auto: replay if it exists, else record)");
  use_cmd->add_option("name", name, "cassette name")->required();
  use_cmd
      ->add_option("--mode", mode,
                   "auto|record|replay|passthrough (default: the server's)")
      ->check(matgto::app::ModeValidator());
  add_exhausted(use_cmd);
  CLI::App* status_cmd =
      app.add_subcommand("status", "show the server's state");
  status_cmd->add_flag("--json", json, "print the GetStatus response as JSON");
  status_cmd->add_option("--session", session.id,
                         "show only this session (open or recently ended)");
  CLI::App* sessions_cmd = app.add_subcommand(
      "sessions", "list the open sessions and the recently ended ones");
  sessions_cmd->add_flag("--json", json, "print them as JSON");
  CLI::App* shutdown_cmd =
      app.add_subcommand("shutdown", "stop the server gracefully");
  shutdown_cmd
      ->add_option("--grace", shutdown_grace_s,
                   "seconds in-flight exchanges may take")
      ->capture_default_str();
  add_json(shutdown_cmd);
  // fault injection
  matgto::app::FaultFlags fault_flags;
  std::vector<std::string> fault_ids;
  bool fault_all = false;
  CLI::App* fault_cmd = app.add_subcommand(
      "fault", "inject faults into a session's traffic (any mode)");
  fault_cmd->require_subcommand(1);
  fault_cmd->fallthrough();
  fault_cmd->add_option("--session", session.id,
                        "the session (default: the default session)");
  add_json(fault_cmd);
  CLI::App* fault_add_cmd = fault_cmd->add_subcommand(
      "add",
      "add a fault rule, e.g. --status 503 --first 2 --url '/orders/.*'");
  fault_flags.AddTo(fault_add_cmd);
  CLI::App* fault_ls_cmd =
      fault_cmd->add_subcommand("ls", "list the session's fault rules");
  CLI::App* fault_rm_cmd =
      fault_cmd->add_subcommand("rm", "remove fault rules: IDs, or --all");
  fault_rm_cmd->add_option("ids", fault_ids, "rule ids (f1, f2...)");
  fault_rm_cmd->add_flag("--all", fault_all, "remove every rule");
  for (CLI::App* sub : {fault_add_cmd, fault_ls_cmd, fault_rm_cmd}) {
    sub->fallthrough();
  }
  std::string tail_cassette;
  CLI::App* tail_cmd = app.add_subcommand(
      "tail",
      "follow the server's live events: exchanges, misses (explained) and "
      "session events");
  tail_cmd->add_option("--session", session.id, "only this session");
  tail_cmd->add_option("--cassette", tail_cassette, "only this cassette");
  tail_cmd->add_flag("--json", json,
                     "one JSON object per event (protobuf field names)");
  CLI::App* ca_cmd = app.add_subcommand("ca", "the interception CA");
  ca_cmd->require_subcommand(1);
  CLI::App* ca_export_cmd =
      ca_cmd->add_subcommand("export", "print the CA certificate (PEM)");
  add_json(ca_export_cmd);

  // cassette management, on the server (--server) or in a directory (--dir)
  matgto::app::CassetteCliTarget cassette_target;
  std::string dir_format = "binary", prefix, export_format = "json", output,
              descriptor_set, import_file, diff_a, diff_b;
  CLI::App* cassette_cmd = app.add_subcommand(
      "cassette",
      "manage cassettes on the server, or in a directory with --dir");
  cassette_cmd->require_subcommand(1);
  cassette_cmd->fallthrough();
  cassette_cmd->add_option("--dir", cassette_target.dir,
                           "work on the cassettes in this directory instead of "
                           "the server's");
  matgto::app::AddStoreFlags(cassette_cmd, cassette_target.store);
  cassette_cmd
      ->add_option("--cassette-format", dir_format,
                   "with --dir or --store: how import writes (binary or json)")
      ->check(CLI::IsMember({"binary", "json"}))
      ->capture_default_str();
  CLI::App* ls_cmd = cassette_cmd->add_subcommand("ls", "list cassettes");
  ls_cmd->add_option("prefix", prefix, "only names starting with this");
  CLI::App* show_cmd = cassette_cmd->add_subcommand(
      "show", "list the interactions of cassette NAME");
  show_cmd->add_option("name", name, "cassette name")->required();
  constexpr const char* kDescriptorSetHelp =
      "a FileDescriptorSet of the gRPC services (protoc --descriptor_set_out "
      "--include_imports): gRPC messages are printed as JSON (default: the "
      "cassette's own, see add-descriptors)";
  show_cmd->add_option("--descriptor-set", descriptor_set, kDescriptorSetHelp);
  CLI::App* export_cmd = cassette_cmd->add_subcommand(
      "export", "print cassette NAME as JSON (protobuf mapping) or HAR 1.2");
  export_cmd->add_option("name", name, "cassette name")->required();
  export_cmd->add_option("--format", export_format, "json or har")
      ->check(CLI::IsMember({"json", "har"}))
      ->capture_default_str();
  export_cmd->add_option("-o,--output", output,
                         "write to FILE instead of stdout");
  export_cmd->add_option("--descriptor-set", descriptor_set,
                         kDescriptorSetHelp);
  CLI::App* describe_cmd = cassette_cmd->add_subcommand(
      "add-descriptors",
      "store a FileDescriptorSet in cassette NAME, so that show and export "
      "print its gRPC messages as JSON");
  describe_cmd->add_option("name", name, "cassette name")->required();
  describe_cmd
      ->add_option("file", descriptor_set,
                   "FileDescriptorSet (protoc --descriptor_set_out=FILE "
                   "--include_imports)")
      ->required();
  CLI::App* import_cmd = cassette_cmd->add_subcommand(
      "import", "store a JSON cassette, a HAR 1.2 file or a binary cassette");
  import_cmd->add_option("file", import_file, "file to import")->required();
  import_cmd->add_option("--name", name,
                         "cassette name (default: the cassette's own, or the "
                         "file name without extension)");
  CLI::App* diff_cmd = cassette_cmd->add_subcommand(
      "diff",
      "what changed between cassettes A and B (exit 1 when they differ)");
  diff_cmd->add_option("a", diff_a, "cassette A")->required();
  diff_cmd->add_option("b", diff_b, "cassette B")->required();
  CLI::App* rm_cmd = cassette_cmd->add_subcommand("rm", "delete cassette NAME");
  rm_cmd->add_option("name", name, "cassette name")->required();
  std::vector<std::string> push_names;
  bool progress = false;
  CLI::App* push_cmd = cassette_cmd->add_subcommand(
      "push",
      "copy cassettes from --dir (default ./cassettes) to the server, "
      "skipping those the server already holds identical");
  push_cmd->add_option("names", push_names,
                       "cassette names (default: every cassette of --dir)");
  CLI::App* pull_cmd = cassette_cmd->add_subcommand(
      "pull",
      "copy the server's cassettes into --dir (default ./cassettes), "
      "skipping those already identical there");
  pull_cmd->add_option("prefix", prefix, "only names starting with this");
  for (CLI::App* sub : {push_cmd, pull_cmd}) {
    sub->add_flag("--progress", progress,
                  "show progress of cassettes over 1 MiB on stderr even when "
                  "it is not a terminal");
    sub->fallthrough();
  }
  for (CLI::App* sub : {ls_cmd, show_cmd, export_cmd, describe_cmd, import_cmd,
                        diff_cmd, rm_cmd}) {
    sub->fallthrough();
  }

  // Every serve flag also reads MATGTO_<FLAG>, and a --config file.
  matgto::app::AddConfigFile(app);
  matgto::app::ReadFlagsFromEnvironment(*serve_cmd);

  CLI11_PARSE(app, argc, argv);
  target.timeout = absl::Seconds(timeout_s);
  if (!serve_cmd->parsed()) {
    if (absl::Status tls = matgto::app::LoadCliTls(target); !tls.ok()) {
      std::fprintf(stderr, "matgto: %s\n", std::string(tls.message()).c_str());
      return 2;
    }
  }

  matgto::v1::CassetteOptions options;
  if (record_cmd->parsed() || replay_cmd->parsed() || use_cmd->parsed()) {
    auto built = option_flags.Build();
    if (!built.ok()) {
      std::fprintf(stderr, "matgto: %s\n",
                   std::string(built.status().message()).c_str());
      return 2;
    }
    options = *std::move(built);
    if (!lease.empty()) {
      session.lease = matgto::app::ParseCliDuration(lease);
      if (!session.lease.has_value()) {
        std::fprintf(stderr,
                     "matgto: --lease must be a duration such as 30s or 5m, "
                     "got '%s'\n",
                     lease.c_str());
        return 2;
      }
    }
  }

  if (serve_cmd->parsed()) {
    absl::StatusOr<matgto::app::ServeOptions> serve = serve_flags.Build();
    if (!serve.ok()) {
      std::fprintf(stderr, "matgto: %s\n",
                   std::string(serve.status().message()).c_str());
      return 2;
    }
    return matgto::app::RunServe(*serve);
  }
  if (record_cmd->parsed())
    return matgto::app::CliRecord(target, name, options, session);
  if (stop_cmd->parsed()) return matgto::app::CliStop(target, session);
  if (replay_cmd->parsed())
    return matgto::app::CliReplay(target, name, options, session);
  if (use_cmd->parsed()) {
    matgto::v1::Mode m = mode.empty() ? matgto::v1::MODE_UNSPECIFIED
                                      : *matgto::app::ParseMode(mode);
    return matgto::app::CliUse(target, name, m, options, session);
  }
  if (status_cmd->parsed())
    return matgto::app::CliStatus(target, json, session.id);
  if (sessions_cmd->parsed()) return matgto::app::CliSessions(target, json);
  if (shutdown_cmd->parsed()) {
    return matgto::app::CliShutdown(target, absl::Seconds(shutdown_grace_s),
                                    session.json);
  }
  if (fault_add_cmd->parsed()) {
    auto fault = fault_flags.Build();
    if (!fault.ok()) {
      std::fprintf(stderr, "matgto: %s\n",
                   std::string(fault.status().message()).c_str());
      return 2;
    }
    return matgto::app::CliFaultAdd(target, session.id, *fault,
                                    fault_flags.seed, session.json);
  }
  if (fault_ls_cmd->parsed()) {
    return matgto::app::CliFaultList(target, session.id, session.json);
  }
  if (fault_rm_cmd->parsed()) {
    if (!fault_ids.empty() != fault_all) {
      return matgto::app::CliFaultRemove(target, session.id, fault_ids,
                                         session.json);
    }
    std::fprintf(stderr, "matgto: give rule ids or --all\n");
    return 2;
  }
  if (tail_cmd->parsed()) {
    return matgto::app::CliTail(target, session.id, tail_cassette, json);
  }
  if (ca_export_cmd->parsed())
    return matgto::app::CliCaExport(target, session.json);
  if (cassette_cmd->parsed()) {
    cassette_target.server = target;
    matgto::cassette::ParseCassetteFormat(dir_format,
                                          &cassette_target.dir_format);
    if (ls_cmd->parsed())
      return matgto::app::CliCassetteList(cassette_target, prefix);
    if (show_cmd->parsed())
      return matgto::app::CliCassetteShow(cassette_target, name,
                                          descriptor_set);
    if (export_cmd->parsed()) {
      return matgto::app::CliCassetteExport(
          cassette_target, name, export_format, output, descriptor_set);
    }
    if (describe_cmd->parsed()) {
      return matgto::app::CliCassetteAddDescriptors(cassette_target, name,
                                                    descriptor_set);
    }
    if (import_cmd->parsed()) {
      return matgto::app::CliCassetteImport(cassette_target, import_file, name);
    }
    if (diff_cmd->parsed()) {
      return matgto::app::CliCassetteDiff(cassette_target, diff_a, diff_b);
    }
    if (rm_cmd->parsed())
      return matgto::app::CliCassetteRemove(cassette_target, name);
    if (push_cmd->parsed() || pull_cmd->parsed()) {
      if (cassette_target.dir.empty()) cassette_target.dir = "./cassettes";
      return push_cmd->parsed() ? matgto::app::CliCassettePush(
                                      cassette_target, push_names, progress)
                                : matgto::app::CliCassettePull(
                                      cassette_target, prefix, progress);
    }
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Every thread that touched OpenSSL must be done with it before the
  // process exits. OpenSSL's own clean-up at exit deletes the keys of its
  // per-thread state, and a thread still finishing after that leaves its
  // state behind (LeakSanitizer reported a 904-byte error queue, now and
  // then, at the exit of a CLI call over TLS). So: no clean-up at exit (the
  // process is ending; its memory goes with it), and gRPC, whose threads
  // are those, shut down before main returns: it frees its state when its
  // last user goes, on a detached thread when that user was released on
  // one of gRPC's threads; holding one reference here and letting it go
  // with grpc_shutdown_blocking, after every channel and server is gone,
  // makes that clean-up finish first.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
  grpc_init();
  const int code = Run(argc, argv);
  grpc_shutdown_blocking();
  return code;
}
