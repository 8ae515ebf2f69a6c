// Secret redaction applied to every exchange before it is written anywhere.
//
// A redacted value keeps its shape so cassettes stay readable and replayable:
// "Bearer abc" becomes "Bearer [REDACTED]", a cookie keeps its name and
// attributes ("sid=[REDACTED]; Path=/"). The same redaction applied to a live
// request gives the same bytes, so redacted cassettes still match.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "server/core/http.h"

namespace matgto::cassette {

inline constexpr absl::string_view kRedacted = "[REDACTED]";

struct RedactConfig {
  // Header names whose values are secrets (case-insensitive).
  std::vector<std::string> headers;

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

 private:
  RedactConfig config_;
};

}  // namespace matgto::cassette
