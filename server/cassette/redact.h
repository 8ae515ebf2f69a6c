// Secret redaction applied to every exchange before it is written anywhere.
//
// A redacted value keeps its shape so cassettes stay readable and replayable:
// "Bearer abc" becomes "Bearer [REDACTED]", a cookie keeps its name and
// attributes ("sid=[REDACTED]; Path=/"), a JSON field keeps its key. The
// same redaction applied to a live request gives the same bytes, so
// redacted cassettes still match. A body that changes gets a correct
// Content-Length; a compressed one is stored decoded (Content-Encoding
// dropped) when its contents had to change.
//
// Rules find secrets where they are expected (a header, a query parameter,
// a JSON field, a pattern); RedactExchange then scrubs every value the rules
// removed wherever else it appears (secrets.h), and reports a body that a
// rule could not be applied to (a coding matgto cannot decode) instead of
// silently storing it as sent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/cassette/secrets.h"
#include "server/core/http.h"
#include "server/core/websocket.h"

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
  // JSON member names redacted at any depth (case-insensitive).
  std::vector<std::string> json_keys;
  // An exchange whose body a rule could not be applied to is not stored
  // (UNREDACTABLE_REFUSE); otherwise it is stored as sent, with a warning.
  bool refuse_unredactable = false;

  // Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and the
  // other usual credential headers; the token fields (TokenFields()) as JSON
  // keys, form fields and query parameters.
  static RedactConfig Defaults();
};

// access_token, refresh_token, id_token, client_secret, password (and their
// camelCase spellings): redacted by default in JSON bodies, form bodies and
// query strings.
const std::vector<std::string>& TokenFields();

// What a redaction found besides the changes it made.
struct RedactReport {
  // The values the rules removed (what KnownSecrets learns).
  std::vector<std::string> removed;
  // Bodies a rule could not be applied to, and why ("response body
  // (Content-Encoding: zstd) cannot be decoded: unknown content coding
  // 'zstd'"). Each problem once.
  std::vector<std::string> unredactable;

  void AddProblem(std::string problem);
};

// Thread-safety: immutable after construction; share freely.
class Redactor {
 public:
  explicit Redactor(RedactConfig config);

  // The rules alone (no scrubbing of values seen elsewhere).
  void Redact(core::HttpRequest& request, RedactReport* report = nullptr) const;
  void Redact(core::HttpResponse& response,
              RedactReport* report = nullptr) const;
  // A WebSocket message's payload, like a body: JSON pointers and keys when
  // it is a JSON document, patterns always.
  void Redact(core::WsMessage& message, RedactReport* report = nullptr) const;

  // The rules on both messages; `secrets` learns what they removed; then
  // every known secret is scrubbed from both messages (URL path and query,
  // header values, decoded bodies). `response` may be null (a live request
  // redacted before it is matched). What is recorded and what is matched
  // both go through here, so they agree.
  RedactReport RedactExchange(core::HttpRequest& request,
                              core::HttpResponse* response,
                              KnownSecrets& secrets) const;
  // The same for one WebSocket message.
  RedactReport RedactMessage(core::WsMessage& message,
                             KnownSecrets& secrets) const;

  // Scrubbing alone (for exchanges stored before a secret was learned).
  void Scrub(core::HttpRequest& request, const Scrubber& scrubber,
             RedactReport* report = nullptr) const;
  void Scrub(core::HttpResponse& response, const Scrubber& scrubber,
             RedactReport* report = nullptr) const;
  void Scrub(core::WsMessage& message, const Scrubber& scrubber) const;

  bool refuse_unredactable() const { return config_.refuse_unredactable; }
  // Redacts one header value in place when `name` is a secret header.
  void RedactHeader(absl::string_view name, std::string& value) const;
  // True when redaction can change a request's URL or body (so a live
  // request must be redacted before it is matched).
  bool ChangesUrlOrBody() const;
  bool IsSecretHeader(absl::string_view name) const;

 private:
  void RedactHeaderLearning(absl::string_view name, std::string& value,
                            RedactReport* report) const;
  // Redacts `text` (a decoded body or a message payload); true if changed.
  bool RedactText(std::string& text, bool is_form, RedactReport* report) const;
  void RedactBody(absl::string_view what, core::Headers& headers,
                  std::string& body, RedactReport* report) const;
  void ScrubBody(absl::string_view what, core::Headers& headers,
                 std::string& body, const Scrubber& scrubber,
                 RedactReport* report) const;
  bool HasBodyRules(const core::Headers& headers) const;
  // Whether the rules could change a body with these headers, judged
  // without reading it (a body kept on disk): patterns apply to any; form
  // rules to a form; JSON rules to a JSON content type.
  bool MayChangeBody(const core::Headers& headers) const;

  // Whether `text` may hold a JSON member named one of config_.json_keys:
  // one pass over a body decides whether it is worth parsing as JSON.
  bool MayHoldJsonKey(absl::string_view text) const;

  RedactConfig config_;
  // For each length of a header name (63: 63 or more), the first letters
  // of the secret headers that long (HeaderInitialBit): most names are
  // ruled out without comparing them.
  std::array<uint32_t, 64> header_initials_{};
  // Bit n set: a secret JSON key has n bytes (bit 63: 63 or more). Most
  // names are ruled out by their length alone.
  uint64_t key_lengths_ = 0;
};

}  // namespace matgto::cassette
