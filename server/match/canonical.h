// Canonical forms of request parts, so that "semantically equal" becomes
// "byte-equal": JSON with sorted keys and normalised numbers, form and query
// parameters decoded and (optionally) sorted, ignored fields removed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace matgto::match {

// The canonical JSON text of `json` with the RFC 6901 `ignored_pointers`
// removed; nullopt when `json` is not JSON.
std::optional<std::string> CanonicalJson(
    absl::string_view json, const std::vector<std::string>& ignored_pointers);

// The RFC 6901 pointers at which two canonical JSON texts differ (at most
// `limit`, shallowest first); "" is the whole document.
std::vector<std::string> JsonDifferences(absl::string_view a,
                                         absl::string_view b, size_t limit);

// "a=1&b=x%20y" -> [("a","1"), ("b","x y")]; '+' is a space when
// `plus_is_space` (forms).
std::vector<std::pair<std::string, std::string>> ParseParams(
    absl::string_view encoded, bool plus_is_space);

// Decoded, filtered and, when `sorted`, ordered parameters joined as
// "name=value" lines.
std::string CanonicalParams(absl::string_view encoded, bool plus_is_space,
                            const std::vector<std::string>& ignored,
                            bool sorted);

// Percent-decoding (hand-written: Boost.URL's decoders do not take '+').
std::string PercentDecode(absl::string_view s, bool plus_is_space);

}  // namespace matgto::match
