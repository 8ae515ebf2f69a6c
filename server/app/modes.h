// Names of modes and policies as users type them on the command line.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"

namespace CLI {
class Validator;
}

namespace matgto::app {

// "auto", "record", "replay", "passthrough" (case-insensitive).
std::optional<v1::Mode> ParseMode(absl::string_view text);
std::string ModeName(v1::Mode mode);
// Validator for --mode values (ParseMode).
CLI::Validator ModeValidator();
// "repeat-last", "error".
std::optional<v1::ExhaustedPolicy> ParseExhaustedPolicy(absl::string_view text);

}  // namespace matgto::app
