// Content-Encoding decoding (gzip, deflate, br), so that matching, redaction
// and displays see the real body while the recorded wire bytes stay as sent.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/http.h"

namespace matgto::core {

// Decodes `body` per `content_encoding`, a comma-separated list of the
// codings in the order they were applied (RFC 9110 8.4: "deflate, gzip" is
// deflated, then gzipped), so they are undone last first. "identity" and
// empty leave it as is. UNIMPLEMENTED for an unknown coding;
// INVALID_ARGUMENT for corrupt data. Output is capped at `max_bytes`
// (RESOURCE_EXHAUSTED beyond).
absl::StatusOr<std::string> DecodeContent(absl::string_view body,
                                          absl::string_view content_encoding,
                                          size_t max_bytes = 256u << 20);

// Every Content-Encoding line of `headers` joined with ", " (a sender may
// list codings on several lines); empty when there is none.
std::string ContentEncodingOf(const Headers& headers);

// The body of a message with its Content-Encoding undone (the original
// bytes when there is none); the error of DecodeContent otherwise.
absl::StatusOr<std::string> DecodeBody(const Headers& headers,
                                       const std::string& body);

// DecodeBody, or the original bytes when the body cannot be decoded (for
// matching and displays; redaction uses DecodeBody and reports failures).
std::string DecodedBody(const Headers& headers, const std::string& body);

}  // namespace matgto::core
