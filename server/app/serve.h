// `matgto serve`: wires the components together and runs until Shutdown,
// SIGINT or SIGTERM.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "matgto/v1/control.pb.h"
#include "server/admin/admin_server.h"
#include "server/app/session_ports.h"
#include "server/app/store_flags.h"
#include "server/cassette/store.h"
#include "server/observe/log.h"
#include "server/proxy/config.h"

namespace matgto::app {

struct ServeOptions {
  proxy::ProxyConfig proxy;
  std::string control_bind = "127.0.0.1";
  uint16_t control_port = 8889;
  std::string cassette_dir = "./cassettes";
  // --store (an s3:// bucket instead of cassette_dir) and its cache.
  StoreChoice store;
  // How cassettes are written (both formats are read).
  cassette::CassetteFormat cassette_format = cassette::CassetteFormat::kBinary;
  // Mode of the cassettes and journals written (they may hold secrets).
  mode_t file_mode = cassette::kDefaultFileMode;
  v1::Mode mode = v1::AUTO;
  // Cassette to use from the start (in `mode`); none when empty.
  std::string cassette;
  int threads = 0;  // 0: one per core
  // Written atomically once both listeners are up:
  // {"proxy":..,"control":..,"pid":..}
  std::string ready_file;
  absl::Duration shutdown_grace = absl::Seconds(5);

  // HTTPS interception. The CA lives in `ca_dir` (created on first start)
  // unless `ca_cert` + `ca_key` name a CA of the user's own.
  std::string ca_dir;  // empty: DefaultCaDir()
  std::string ca_cert;
  std::string ca_key;
  size_t leaf_cache_size = 1024;
  std::string upstream_ca_file;
  bool insecure_upstream = false;
  // Reverse mode: origin URL ("https://api.example.com"); empty: off.
  std::string reverse_upstream;

  // Sessions: where their own proxy listeners bind ({0,0}: ephemeral ports
  // on the proxy's bind address) and how many may be open at once.
  PortRange session_ports;
  size_t max_sessions = 256;

  // Control API security (see README "Exposing the control API"). TLS when
  // cert + key are set; mTLS when client_ca is set too. Bearer tokens from
  // the token file when set; otherwise every caller may do everything.
  std::string control_tls_cert;
  std::string control_tls_key;
  std::string control_client_ca;
  std::string auth_tokens;
  // The log: level and text or JSON lines (stdout).
  observe::LogConfig log;
  // Admin HTTP port (/metrics, /healthz, /readyz): -1 off, 0 ephemeral.
  int admin_port = -1;
  std::string admin_bind = "127.0.0.1";
  // What an Authorization header value may do on the admin port (null: the
  // control API's tokens when configured, else everything).
  std::function<admin::AdminAccess(absl::string_view authorization)>
      admin_authorize;
};

// $MATGTO_CA_DIR, else $HOME/.matgto/ca, else ./.matgto/ca.
std::string DefaultCaDir();

// Returns the process exit code.
int RunServe(const ServeOptions& options);

}  // namespace matgto::app
