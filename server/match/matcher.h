// Request matching that explains itself.
//
// A matcher decides whether a live request is "the same" as a recorded one
// and, when nothing matches, says which recorded request came closest and
// which fields differed. Hash keys are only an index to find candidates fast;
// Matches() is the decision and Differences() the explanation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

#include "server/core/http.h"

namespace matgto::match {

// Which parts of a request take part in matching. The default compares
// method, full URL and body byte for byte.
struct MatchRules {
  bool method = true;
  bool url = true;
  bool body = true;
};

struct FieldDifference {
  // "method", "scheme", "host", "port", "path", "query", "body".
  std::string field;
  std::string recorded;
  std::string live;
  friend bool operator==(const FieldDifference&,
                         const FieldDifference&) = default;
};

struct Candidate {
  // Index of the recorded request in the list given to Rank().
  size_t index = 0;
  std::vector<FieldDifference> differences;
};

// Thread-safety: immutable after construction; share freely.
class RequestMatcher {
 public:
  explicit RequestMatcher(MatchRules rules = {}) : rules_(rules) {}

  // Equal for any two requests that Matches() accepts; used as an index key.
  uint64_t Key(const core::HttpRequest& request) const;

  bool Matches(const core::HttpRequest& recorded,
               const core::HttpRequest& live) const;

  // The fields in which `live` differs from `recorded`, in a fixed order;
  // empty exactly when Matches() is true.
  std::vector<FieldDifference> Differences(const core::HttpRequest& recorded,
                                           const core::HttpRequest& live) const;

  // The `limit` recorded requests closest to `live`, closest first: fewest
  // weighted differing fields (method and host weigh most, then path, query,
  // body), ties broken by recording order.
  std::vector<Candidate> Rank(
      const std::vector<const core::HttpRequest*>& recorded,
      const core::HttpRequest& live, size_t limit) const;

 private:
  MatchRules rules_;
};

// Renders a body for a human: the text when it is printable UTF-8 (cut at
// `max_chars`), otherwise "<N bytes, binary>".
std::string DescribeBody(absl::string_view body, size_t max_chars = 200);

}  // namespace matgto::match
