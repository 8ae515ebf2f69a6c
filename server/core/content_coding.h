// Content-Encoding decoding (gzip, deflate, br), so that matching, redaction
// and displays see the real body while the recorded wire bytes stay as sent.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/http.h"

namespace matgto::core {

// Decodes `body` per `content_encoding` (a comma-separated list applied in
// order, e.g. "gzip"). "identity" and empty leave it as is.
// UNIMPLEMENTED for an unknown coding; INVALID_ARGUMENT for corrupt data.
// Output is capped at `max_bytes` (RESOURCE_EXHAUSTED beyond).
absl::StatusOr<std::string> DecodeContent(absl::string_view body,
                                          absl::string_view content_encoding,
                                          size_t max_bytes = 256u << 20);

// The body of a message with its Content-Encoding undone; the original
// bytes when there is none or it cannot be decoded.
std::string DecodedBody(const Headers& headers, const std::string& body);

}  // namespace matgto::core
