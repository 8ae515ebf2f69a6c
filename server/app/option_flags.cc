#include "server/app/option_flags.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/app/modes.h"
#include "server/cassette/proto_time.h"
#include "server/replay/rules.h"

namespace matgto::app {

namespace {

// "fast", "as-recorded", "200ms", "100ms±50ms" (or "100ms+-50ms").
absl::StatusOr<v1::Latency> ParseLatency(const std::string& text,
                                         double scale) {
  v1::Latency l;
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "fast") {
    l.set_mode(v1::LATENCY_FAST);
  } else if (t == "as-recorded") {
    l.set_mode(v1::LATENCY_AS_RECORDED);
  } else {
    std::string fixed = t, jitter;
    for (const std::string sep : {"\u00b1", "+-"}) {
      if (size_t at = t.find(sep); at != std::string::npos) {
        fixed = t.substr(0, at);
        jitter = t.substr(at + sep.size());
        break;
      }
    }
    absl::Duration f, j;
    if (!absl::ParseDuration(fixed, &f) || f < absl::ZeroDuration() ||
        (!jitter.empty() && (!absl::ParseDuration(jitter, &j) ||
                             j < absl::ZeroDuration() || j > f))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--latency must be fast, as-recorded, or a duration with an "
          "optional jitter no larger than it (200ms, 100ms\u00b150ms); got '",
          text, "'"));
    }
    l.set_mode(v1::LATENCY_FIXED);
    *l.mutable_fixed() = cassette::ToProtoDuration(f);
    if (!jitter.empty()) *l.mutable_jitter() = cassette::ToProtoDuration(j);
  }
  if (scale != 0) {
    if (!(scale > 0) || l.mode() != v1::LATENCY_AS_RECORDED) {
      return absl::InvalidArgumentError(
          "--latency-scale is a positive factor for --latency as-recorded");
    }
    l.set_scale(scale);
  }
  return l;
}

}  // namespace

void CassetteOptionFlags::AddTo(CLI::App* cmd) {
  cmd->add_option("--latency", latency,
                  "how fast replay answers: fast (default), as-recorded, or "
                  "a delay with optional jitter (200ms, 100ms\u00b150ms)");
  cmd->add_option("--latency-scale", latency_scale,
                  "with --latency as-recorded: multiply recorded times "
                  "(2 = twice as slow)");
  cmd->add_option(
      "--options", options_json,
      "CassetteOptions as protobuf JSON (or @FILE); the flags below "
      "are applied on top");
  cmd->add_option("--on-exhausted", on_exhausted,
                  "when identical requests outnumber recorded answers: "
                  "repeat-last (default) or error")
      ->check(CLI::IsMember({"repeat-last", "error"}));
  cmd->add_option("--repeat", repeat,
                  "sequential (default: each answer once, in order) or reuse "
                  "(any matching answer, any number of times)")
      ->check(CLI::IsMember({"sequential", "reuse"}));
  cmd->add_option("--on-miss", on_miss,
                  "error (default: 599), passthrough (forward live) or record "
                  "(forward and append to the cassette)")
      ->check(CLI::IsMember({"error", "passthrough", "record"}));
  cmd->add_option("--match-fields", match_fields,
                  "parts compared (default all but headers): method scheme "
                  "host port path query headers body")
      ->delimiter(',')
      ->check(CLI::IsMember({"method", "scheme", "host", "port", "path",
                             "query", "headers", "body"}));
  cmd->add_option("--match-header", match_headers,
                  "a header that takes part in matching (repeatable)");
  cmd->add_option("--match-body", match_body,
                  "exact (default), json (semantic), form, or ignore")
      ->check(CLI::IsMember({"exact", "json", "form", "ignore"}));
  cmd->add_option("--ignore-query", ignore_query,
                  "query parameter left out of matching (repeatable)");
  cmd->add_flag("--query-any-order", query_any_order,
                "query parameters match in any order");
  cmd->add_option("--ignore-json", ignore_json,
                  "JSON pointer left out of body matching, e.g. /meta/ts "
                  "(repeatable; implies --match-body json)");
  cmd->add_option("--ignore-form", ignore_form,
                  "form field left out of body matching (repeatable; implies "
                  "--match-body form)");
  cmd->add_option("--url-rewrite", url_rewrites,
                  "RE2 rewrite applied to both URLs before matching: "
                  "'PATTERN=>REPLACEMENT' (repeatable)");
  cmd->add_option("--redact-header", redact_headers,
                  "header to redact (repeatable)");
  cmd->add_option("--redact-query", redact_query,
                  "query parameter to redact (repeatable)");
  cmd->add_option("--redact-json", redact_json,
                  "JSON pointer to redact in bodies (repeatable)");
  cmd->add_option("--redact-form", redact_form,
                  "form field to redact (repeatable)");
  cmd->add_option("--redact-pattern", redact_patterns,
                  "RE2 pattern redacted in bodies (repeatable)");
  cmd->add_option("--redact-json-key", redact_json_keys,
                  "JSON member name redacted at any depth (repeatable)");
  cmd->add_option("--on-unredactable", on_unredactable,
                  "a body a redaction rule cannot be applied to (unknown "
                  "Content-Encoding): warn (default: stored as sent, warning "
                  "in the stop summary) or refuse (not stored)")
      ->check(CLI::IsMember({"warn", "refuse"}));
  cmd->add_flag("--no-default-redaction", no_default_redaction,
                "do not redact the usual credential headers and token "
                "fields");
  cmd->add_flag("--store-decoded", store_decoded,
                "store gzip/deflate/br bodies decoded (readable cassettes)");
  cmd->add_option("--ws-timing", ws_timing,
                  "WebSocket replay pacing: fast (default) or as-recorded")
      ->check(CLI::IsMember({"fast", "as-recorded"}));
  cmd->add_option("--ws-speed", ws_speed,
                  "with --ws-timing as-recorded: 2 replays twice as fast")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stream-timing", stream_timing,
                  "replay pacing of streamed bodies (Server-Sent Events, "
                  "chunked): fast (default) or as-recorded")
      ->check(CLI::IsMember({"fast", "as-recorded"}));
  cmd->add_option("--stream-speed", stream_speed,
                  "with --stream-timing as-recorded: 2 replays twice as fast")
      ->check(CLI::PositiveNumber);
}

absl::StatusOr<v1::CassetteOptions> CassetteOptionFlags::Build() const {
  v1::CassetteOptions o;
  if (!options_json.empty()) {
    std::string text = options_json;
    if (text.front() == '@') {
      std::ifstream in(text.substr(1));
      if (!in) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot read --options file ", text.substr(1)));
      }
      std::ostringstream s;
      s << in.rdbuf();
      text = s.str();
    }
    auto st = google::protobuf::util::JsonStringToMessage(text, &o);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--options is not a matgto.v1.CassetteOptions in JSON: ",
                       st.message().ToString()));
    }
    if (absl::Status enums = replay::CheckEnumValues(o); !enums.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--options: ", enums.message()));
    }
  }
  if (!latency.empty() || latency_scale != 0) {
    absl::StatusOr<v1::Latency> l =
        ParseLatency(latency.empty() ? "as-recorded" : latency, latency_scale);
    if (!l.ok()) return l.status();
    *o.mutable_latency() = *std::move(l);
  }
  if (!on_exhausted.empty())
    o.set_on_exhausted(*ParseExhaustedPolicy(on_exhausted));
  if (!repeat.empty())
    o.set_repeat(repeat == "reuse" ? v1::REUSE : v1::SEQUENTIAL);
  if (!on_miss.empty()) {
    o.set_on_miss(on_miss == "record"        ? v1::MISS_RECORD
                  : on_miss == "passthrough" ? v1::MISS_PASSTHROUGH
                                             : v1::MISS_ERROR);
  }
  v1::MatchRules* m = o.mutable_match_rules();
  for (const std::string& f : match_fields) {
    v1::MatchField field;
    std::string upper = absl::AsciiStrToUpper(f);
    if (v1::MatchField_Parse(upper, &field)) m->add_fields(field);
  }
  for (const std::string& h : match_headers) m->add_headers(h);
  if (!match_headers.empty() && match_fields.empty()) {
    for (v1::MatchField f : {v1::METHOD, v1::SCHEME, v1::HOST, v1::PORT,
                             v1::PATH, v1::QUERY, v1::BODY, v1::HEADERS}) {
      m->add_fields(f);
    }
  }
  for (const std::string& q : ignore_query) m->add_ignore_query_params(q);
  if (query_any_order) m->set_query_order_insensitive(true);
  if (match_body == "json" || !ignore_json.empty()) m->set_body(v1::BODY_JSON);
  if (match_body == "form" || !ignore_form.empty()) m->set_body(v1::BODY_FORM);
  if (match_body == "ignore") m->set_body(v1::BODY_IGNORE);
  if (match_body == "exact") m->set_body(v1::BODY_EXACT);
  for (const std::string& p : ignore_json) m->add_ignore_json_pointers(p);
  for (const std::string& f : ignore_form) m->add_ignore_form_fields(f);
  for (const std::string& r : url_rewrites) {
    const size_t arrow = r.find("=>");
    if (arrow == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--url-rewrite '", r, "' must look like 'PATTERN=>REPLACEMENT'"));
    }
    v1::UrlRewrite* rw = m->add_url_rewrites();
    rw->set_pattern(r.substr(0, arrow));
    rw->set_replacement(r.substr(arrow + 2));
  }
  if (m->ByteSizeLong() == 0 && !o.has_match_rules()) o.clear_match_rules();
  if (m->ByteSizeLong() == 0) o.clear_match_rules();
  v1::RedactRules* r = o.mutable_redact();
  for (const std::string& h : redact_headers) r->add_headers(h);
  for (const std::string& q : redact_query) r->add_query_params(q);
  for (const std::string& p : redact_json) r->add_json_pointers(p);
  for (const std::string& f : redact_form) r->add_form_fields(f);
  for (const std::string& p : redact_patterns) r->add_body_patterns(p);
  for (const std::string& k : redact_json_keys) r->add_json_keys(k);
  if (!on_unredactable.empty()) {
    r->set_on_unredactable(on_unredactable == "refuse" ? v1::UNREDACTABLE_REFUSE
                                                       : v1::UNREDACTABLE_WARN);
  }
  if (no_default_redaction) r->set_disable_defaults(true);
  if (r->ByteSizeLong() == 0) o.clear_redact();
  if (store_decoded) o.set_body_storage(v1::DECODED);
  if (!ws_timing.empty()) {
    o.set_ws_timing(ws_timing == "as-recorded" ? v1::AS_RECORDED
                                               : v1::AS_FAST_AS_POSSIBLE);
  }
  if (ws_speed > 0) o.set_ws_speed(ws_speed);
  if (!stream_timing.empty()) {
    o.set_stream_timing(stream_timing == "as-recorded"
                            ? v1::AS_RECORDED
                            : v1::AS_FAST_AS_POSSIBLE);
  }
  if (stream_speed > 0) o.set_stream_speed(stream_speed);
  return o;
}

}  // namespace matgto::app
