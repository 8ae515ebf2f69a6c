#include "server/app/env_flags.h"

#include <cctype>
#include <string>

namespace matgto::app {

void ReadFlagsFromEnvironment(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (!option->get_envname().empty()) continue;
    const std::vector<std::string>& names = option->get_lnames();
    if (names.empty() || names.front() == "help" ||
        names.front() == "config") {
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
  app.set_config("--config", "",
                 "read flags from this TOML file (`proxy-port = 8888`, "
                 "names as the long flags without dashes; flags and "
                 "MATGTO_* variables win over it)")
      ->envname("MATGTO_CONFIG");
}

}  // namespace matgto::app
