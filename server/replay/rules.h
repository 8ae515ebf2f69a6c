// From the rules stored in a cassette (proto) to the configurations of the
// matcher and the redactor, and how per-session overrides combine with
// stored options.
#pragma once

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
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

// INVALID_ARGUMENT naming the field (e.g. "on_miss = 7") for an enum field,
// at any depth of `message`, whose value the proto does not define: protobuf
// JSON and binary parsing accept any number for an open enum, and a value
// nothing handles must not be taken silently for the default.
absl::Status CheckEnumValues(const google::protobuf::Message& message);

// `stored` with every field that `overrides` sets replaced (messages such as
// match_rules and redact are replaced whole).
v1::CassetteOptions MergeOptions(const v1::CassetteOptions& stored,
                                 const v1::CassetteOptions& overrides);

}  // namespace matgto::replay
