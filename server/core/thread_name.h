// Names the calling thread as `top -H`, `ps -L`, gdb and perf show it
// ("matgto-io-0", "matgto-journal"): Linux keeps the first 15 bytes.
#pragma once

#include "absl/strings/string_view.h"

namespace matgto::core {

void NameThisThread(absl::string_view name);

}  // namespace matgto::core
