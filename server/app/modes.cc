#include "server/app/modes.h"

#include <CLI/CLI.hpp>

#include "absl/strings/ascii.h"
#include "server/observe/observer.h"

namespace matgto::app {

std::optional<v1::Mode> ParseMode(absl::string_view text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "auto") return v1::AUTO;
  if (t == "record") return v1::RECORD;
  if (t == "replay") return v1::REPLAY;
  if (t == "passthrough") return v1::PASSTHROUGH;
  return std::nullopt;
}

std::string ModeName(v1::Mode mode) {
  // The log and metrics label, except that the CLI says "unspecified".
  return mode == v1::MODE_UNSPECIFIED ? "unspecified"
                                      : std::string(observe::ModeLabel(mode));
}

CLI::Validator ModeValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return ParseMode(value).has_value()
                   ? ""
                   : "mode must be auto, record, replay or passthrough";
      },
      "auto|record|replay|passthrough", "mode");
}

std::optional<v1::ExhaustedPolicy> ParseExhaustedPolicy(
    absl::string_view text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "repeat-last") return v1::REPEAT_LAST;
  if (t == "error") return v1::EXHAUSTED_ERROR;
  return std::nullopt;
}

}  // namespace matgto::app
