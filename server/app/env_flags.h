// Configuration of `matgto serve` without a command line: every flag also
// reads MATGTO_<FLAG> from the environment (CI service containers), and
// --config FILE reads them from a TOML file (the central server).
#pragma once

#include <CLI/CLI.hpp>

namespace matgto::app {

// For every long option of `app` without an environment name yet:
// `--proxy-port` reads MATGTO_PROXY_PORT (shown in --help). A flag given on
// the command line wins over the variable, the variable over --config.
void ReadFlagsFromEnvironment(CLI::App& app);

// Adds `--config FILE`: a TOML file of `flag-name = value` lines (names as
// the long flags without their dashes, e.g. `proxy-port = 8888`,
// `redact-header = ["X-A", "X-B"]` for repeated flags). Env MATGTO_CONFIG.
void AddConfigFile(CLI::App& app);

}  // namespace matgto::app
