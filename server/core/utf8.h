// Strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF). Protobuf `string` fields must hold valid UTF-8,
// so every byte string headed for one is checked here first. Hand-written:
// Debian's Abseil has no public validator and protobuf's is internal.
#pragma once

#include "absl/strings/string_view.h"

namespace matgto::core {

bool IsValidUtf8(absl::string_view s);

}  // namespace matgto::core
