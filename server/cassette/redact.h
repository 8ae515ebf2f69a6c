// Secret redaction applied to every exchange before it is written anywhere.
//
// A redacted value keeps its shape so cassettes stay readable and replayable:
// "Bearer abc" becomes "Bearer [REDACTED]", a cookie keeps its name and
// attributes ("sid=[REDACTED]; Path=/"), a JSON field keeps its key. The
// same redaction applied to a live request gives the same bytes, so
// redacted cassettes still match. A body that changes gets a correct
// Content-Length; a compressed one is stored decoded (Content-Encoding
// dropped) when its contents had to change.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/core/http.h"

namespace re2 {
class RE2;
}

namespace matgto::cassette {

inline constexpr absl::string_view kRedacted = "[REDACTED]";

struct RedactConfig {
  // Header names whose values are secrets (case-insensitive).
  std::vector<std::string> headers;
  // Query parameter names (exact, after percent-decoding).
  std::vector<std::string> query_params;
  // RFC 6901 pointers into JSON bodies.
  std::vector<std::string> json_pointers;
  // application/x-www-form-urlencoded field names.
  std::vector<std::string> form_fields;
  // Every match in a body is replaced by [REDACTED].
  std::vector<std::shared_ptr<const re2::RE2>> body_patterns;

  // Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and the
  // other usual credential headers.
  static RedactConfig Defaults();
};

// Thread-safety: immutable after construction; share freely.
class Redactor {
 public:
  explicit Redactor(RedactConfig config);

  void Redact(core::HttpRequest& request) const;
  void Redact(core::HttpResponse& response) const;
  // Redacts one header value in place when `name` is a secret header.
  void RedactHeader(absl::string_view name, std::string& value) const;
  // True when redaction can change a request's URL or body (so a live
  // request must be redacted before it is matched).
  bool ChangesUrlOrBody() const;
  bool IsSecretHeader(absl::string_view name) const;

 private:
  void RedactBody(core::Headers& headers, std::string& body) const;

  RedactConfig config_;
};

}  // namespace matgto::cassette
