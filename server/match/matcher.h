// Request matching that explains itself.
//
// A matcher reduces a request to its Fingerprint: every part that takes part
// in matching, in a canonical form under the rules (JSON with sorted keys,
// parameters decoded and filtered, URL rewrites applied, bodies decoded from
// gzip/deflate/br). Two requests match exactly when their fingerprints are
// equal, so a hash of the fingerprint indexes a cassette of any size, and a
// miss is explained part by part against the closest recorded fingerprints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/http.h"

namespace re2 {
class RE2;
}

namespace matgto::match {

enum class BodyMode { kExact, kJson, kForm, kIgnore };

struct UrlRewrite {
  std::shared_ptr<const re2::RE2> pattern;
  std::string replacement;
};

// Which parts of a request take part, and how. The default compares
// method, scheme, host, port, path, query and body byte for byte.
struct MatchRules {
  bool method = true;
  bool url = true;  // scheme, host, port, path and query together
  bool body = true;
  // Finer control; when `url` is false these are all off.
  bool scheme = true;
  bool host = true;
  bool port = true;
  bool path = true;
  bool query = true;
  bool headers = false;
  std::vector<std::string> header_names;  // lower-case
  std::vector<std::string> ignore_query_params;
  bool query_order_insensitive = false;
  BodyMode body_mode = BodyMode::kExact;
  std::vector<std::string> ignore_json_pointers;
  std::vector<std::string> ignore_form_fields;
  std::vector<UrlRewrite> url_rewrites;
};

// Compiles an RE2 rewrite; INVALID_ARGUMENT for a bad pattern.
absl::StatusOr<UrlRewrite> MakeUrlRewrite(absl::string_view pattern,
                                          std::string replacement);

// The parts of a request as matching compares them; a part that does not
// take part is empty.
struct Fingerprint {
  std::string method, scheme, host, port, path, query, headers, body;
  // Whether the body compared is JSON/form-canonical (for explanations).
  bool body_canonical = false;
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

struct FieldDifference {
  // "method", "scheme", "host", "port", "path", "query", "headers", "body",
  // or "body /json/pointer" for a JSON body.
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
  explicit RequestMatcher(MatchRules rules = {});

  Fingerprint Of(const core::HttpRequest& request) const;
  static uint64_t Key(const Fingerprint& fingerprint);
  uint64_t Key(const core::HttpRequest& request) const {
    return Key(Of(request));
  }

  bool Matches(const core::HttpRequest& recorded,
               const core::HttpRequest& live) const {
    return Of(recorded) == Of(live);
  }

  // The parts in which `live` differs from `recorded`, in a fixed order;
  // empty exactly when they match.
  std::vector<FieldDifference> Differences(const Fingerprint& recorded,
                                           const Fingerprint& live) const;
  std::vector<FieldDifference> Differences(
      const core::HttpRequest& recorded, const core::HttpRequest& live) const {
    return Differences(Of(recorded), Of(live));
  }

  // The `limit` recorded requests closest to `live`, closest first: fewest
  // weighted differing parts (method and host weigh most, then path, query,
  // headers, body), ties broken by recording order.
  std::vector<Candidate> Rank(const std::vector<const Fingerprint*>& recorded,
                              const Fingerprint& live, size_t limit) const;
  // The same over `count` recorded fingerprints given one at a time by
  // `recorded(i)` (the reference need only live until the next call), so
  // that a large cassette is ranked without holding every fingerprint.
  std::vector<Candidate> Rank(
      size_t count, absl::FunctionRef<const Fingerprint&(size_t)> recorded,
      const Fingerprint& live, size_t limit) const;
  std::vector<Candidate> Rank(
      const std::vector<const core::HttpRequest*>& recorded,
      const core::HttpRequest& live, size_t limit) const;

  const MatchRules& rules() const { return rules_; }

 private:
  MatchRules rules_;
};

// Renders a body for a human: the text when it is printable UTF-8 (cut at
// `max_chars`), otherwise "<N bytes, binary>".
std::string DescribeBody(absl::string_view body, size_t max_chars = 200);

}  // namespace matgto::match
