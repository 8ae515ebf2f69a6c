// Command-line flags that build a CassetteOptions (matching rules, repeat
// and miss policies, redaction, body storage, WebSocket pacing) for
// `matgto record|replay|use`. The full message can also be given as
// protobuf JSON with --options.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::app {

struct CassetteOptionFlags {
  std::string options_json;  // JSON text, or @FILE
  std::string on_exhausted, ws_timing, match_body, repeat, on_miss;
  double ws_speed = 0;
  std::string stream_timing;
  double stream_speed = 0;
  std::vector<std::string> match_fields, match_headers, ignore_query,
      ignore_json, ignore_form, url_rewrites;
  bool query_any_order = false;
  std::vector<std::string> redact_headers, redact_query, redact_json,
      redact_form, redact_patterns, redact_json_keys;
  std::string on_unredactable;
  bool no_default_redaction = false;
  bool store_decoded = false;
  // fast | as-recorded | DURATION[±JITTER] ("200ms", "100ms±50ms").
  std::string latency;
  double latency_scale = 0;

  void AddTo(CLI::App* command);
  // INVALID_ARGUMENT for a malformed --options or --url-rewrite.
  absl::StatusOr<v1::CassetteOptions> Build() const;
};

}  // namespace matgto::app
