// The JSON cassette encoding: the protobuf JSON mapping of matgto.v1.Cassette
// (proto field names, indented), with every body and WebSocket payload that
// is valid UTF-8 written as `body_text`/`payload_text` instead of base64
// `body`/`payload`, so that cassettes read (and diff) well in code review.
// Header values already use `raw_value` only for bytes that are not UTF-8.
//
// Everything past the loaders sees `body`/`payload` only:
// NormalizeTextBodies() moves the text fields back, and every load path
// (binary or JSON) calls it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

// Moves each valid-UTF-8 body/payload into body_text/payload_text (clearing
// the bytes field). Empty bodies stay empty.
void MoveTextBodiesOut(v1::Cassette& cassette);

// The inverse: a set body_text/payload_text replaces body/payload and is
// cleared ("readers take body_text when it is set").
void NormalizeTextBodies(v1::Cassette& cassette);
// The same for one interaction, or one request (cassette/image.h).
void NormalizeTextBodies(v1::Interaction& interaction);
void NormalizeTextBody(v1::HttpRequest& request);

// The JSON text of `cassette` exactly as given (no schema stamping), text
// bodies moved out. INTERNAL only if protobuf refuses to print it.
absl::StatusOr<std::string> CassetteToJson(v1::Cassette cassette);

// What the JSON store writes: stamped like SerializeCassette (schema
// version, written_by, the `complete` marker), then CassetteToJson.
absl::StatusOr<std::string> SerializeCassetteJson(const v1::Cassette& cassette);

// Parses a JSON cassette with the same checks as ParseCassette (DATA_LOSS for
// text that is not a cassette, lacks a schema version or the `complete`
// marker; FAILED_PRECONDITION for a newer schema), then normalizes the text
// bodies. `source` (a path or name) is quoted in errors. Unknown fields are
// refused, so that a typo in a hand-edited cassette does not go unnoticed.
absl::StatusOr<v1::Cassette> ParseCassetteJson(absl::string_view json,
                                               absl::string_view source);

// Protobuf's JSON printer writes '<' and '>' as \u003c and \u003e (safe to
// embed in HTML). Cassettes are read by people, not embedded in HTML: this
// returns the same JSON value with those two characters written plainly.
// Only escapes that are really escapes are touched ("\\u003c", an escaped
// backslash followed by "u003c", stays).
std::string UnescapeAngleBrackets(absl::string_view json);

// Whether `bytes` look like JSON (first non-blank byte is '{'), to tell a
// JSON file from a binary one without trusting its name.
bool LooksLikeJson(absl::string_view bytes);

}  // namespace matgto::cassette
