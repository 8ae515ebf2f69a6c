#include "server/app/env_flags.h"

#include <cctype>
#include <cstdlib>
#include <string>

namespace matgto::app {

void ReadFlagsFromEnvironment(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (!option->get_envname().empty()) continue;
    const std::vector<std::string>& names = option->get_lnames();
    if (names.empty() || names.front() == "help" || names.front() == "config") {
      continue;
    }
    std::string env = "MATGTO_";
    for (const char c : names.front()) {
      env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    }
    option->envname(env);
  }
}

void AddConfigFile(CLI::App& app) {
  // CLI11 2.1 reads config files at the top level only; the serve flags go
  // in its [serve] section. MATGTO_CONFIG is the default file name (CLI11
  // 2.1 ignores an environment name on the config option itself).
  const char* env = std::getenv("MATGTO_CONFIG");
  app.set_config("--config", env != nullptr ? env : "",
                 "read flags from this TOML file: `[serve]`, then "
                 "`proxy-port = 8888` lines (the long flags without dashes); "
                 "flags win over it, it wins over MATGTO_* variables (env "
                 "MATGTO_CONFIG)");
}

}  // namespace matgto::app
