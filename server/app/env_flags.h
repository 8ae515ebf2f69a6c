// Configuration of `matgto serve` without a command line: every flag also
// reads MATGTO_<FLAG> from the environment (CI service containers), and
// --config FILE reads them from a TOML file (the central server).
#pragma once

#include <CLI/CLI.hpp>

namespace matgto::app {

// For every long option of `app` without an environment name yet:
// `--proxy-port` reads MATGTO_PROXY_PORT (shown in --help). A flag given on
// the command line wins over --config, --config over the variable (CLI11's
// order).
void ReadFlagsFromEnvironment(CLI::App& app);

// Adds `--config FILE` to the top-level `app`: a TOML file with a [serve]
// section of `flag-name = value` lines (names as the long flags without
// their dashes, e.g. `proxy-port = 8888`, `redact-header = ["X-A", "X-B"]`
// for repeated flags). Env MATGTO_CONFIG names the file.
void AddConfigFile(CLI::App& app);

}  // namespace matgto::app
