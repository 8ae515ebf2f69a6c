#include "server/replay/mode.h"

namespace matgto::replay {

absl::StatusOr<std::optional<v1::Cassette>> ModeHandler::Recording() const {
  absl::StatusOr<std::optional<cassette::Recording>> recording = ToSave();
  if (!recording.ok()) return recording.status();
  if (!recording->has_value()) return std::nullopt;
  absl::StatusOr<v1::Cassette> whole = (*recording)->Whole();
  if (!whole.ok()) return whole.status();
  return std::optional<v1::Cassette>(*std::move(whole));
}

}  // namespace matgto::replay
