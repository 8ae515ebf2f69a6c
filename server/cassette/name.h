// Cassette names: what users may call a cassette, and how it maps to a file.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace matgto::cassette {

inline constexpr size_t kMaxCassetteNameLength = 200;

// OK for names made of segments of [A-Za-z0-9._-+=@,[]] separated by '/'.
// INVALID_ARGUMENT (saying why) for an empty name, an absolute path, a "." or
// ".." segment, an empty segment, a control character or any other
// character, or a name longer than kMaxCassetteNameLength.
absl::Status ValidateCassetteName(absl::string_view name);

}  // namespace matgto::cassette
