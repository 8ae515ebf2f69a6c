// From the rules stored in a cassette (proto) to the configurations of the
// matcher and the redactor, and how per-session overrides combine with
// stored options.
#pragma once

#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/redact.h"
#include "server/match/matcher.h"

namespace matgto::replay {

// INVALID_ARGUMENT (naming the rule) for a bad RE2 pattern or JSON pointer.
absl::StatusOr<match::MatchRules> ToMatchRules(const v1::MatchRules& rules);
// `defaults` (the server's redaction) plus `rules`; `rules.disable_defaults`
// drops `defaults`.
absl::StatusOr<cassette::RedactConfig> ToRedactConfig(
    const v1::RedactRules& rules, const cassette::RedactConfig& defaults =
                                      cassette::RedactConfig::Defaults());

// `stored` with every field that `overrides` sets replaced (messages such as
// match_rules and redact are replaced whole).
v1::CassetteOptions MergeOptions(const v1::CassetteOptions& stored,
                                 const v1::CassetteOptions& overrides);

}  // namespace matgto::replay
