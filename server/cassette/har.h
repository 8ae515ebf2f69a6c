// HAR 1.2 export and import of cassettes (`matgto cassette export --format
// har`, `matgto cassette import`). Pure conversions: no I/O, no clock.
//
// Export keeps bodies as they crossed the wire (Content-Encoding untouched,
// so a gzip body is exported as base64 gzip with its Content-Encoding
// header): a HAR exported by matgto imports back into the same bytes.
// WebSocket sessions have no HAR form and are left out (with a note).
//
// Import reads HARs from browsers and other tools too. Their bodies are
// decoded (HAR's rule), so for a HAR not written by matgto the
// Content-Encoding header is dropped; a Content-Length that disagrees with
// the body is corrected; HTTP/2 pseudo-headers are dropped; entries without
// a response (status 0) are skipped. Each such change is reported in notes.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

struct HarExport {
  // The HAR document (indented JSON).
  std::string json;
  // What could not be exported (one line each).
  std::vector<std::string> notes;
};

// `creator_version` goes into log.creator.version.
absl::StatusOr<HarExport> CassetteToHar(const v1::Cassette& cassette,
                                        absl::string_view creator_version);

struct HarImport {
  // Named `name`, interactions indexed in entry order; not stamped (no
  // schema version or `complete` marker: the writer adds them).
  v1::Cassette cassette;
  std::vector<std::string> notes;
};

// INVALID_ARGUMENT when `json` is not a HAR document (no log.entries) or an
// entry cannot be read (the message names the entry).
absl::StatusOr<HarImport> CassetteFromHar(absl::string_view json,
                                          absl::string_view name);

// Whether `json` is a JSON object with a "log" object: HAR rather than a
// protobuf JSON cassette. False for anything that is not JSON.
bool LooksLikeHar(absl::string_view json);

}  // namespace matgto::cassette
