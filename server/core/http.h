// Plain value types for HTTP messages as matgto records and replays them.
//
// These types know nothing about sockets, Beast or protobuf: the proxy fills
// them from the wire, the cassette codec maps them to storage, and every
// decision (matching, modes, redaction) works on them alone.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/memo.h"

namespace matgto::core {

// One header line; order and repeated names are significant.
struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};
using Headers = std::vector<Header>;

// ASCII case-insensitive comparison, as HTTP field names require. (Inline:
// every header lookup makes a few, most ending at the length or the first
// byte.)
inline bool EqualsIgnoreCase(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] &&
        absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
            absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The first header named `name` (case-insensitive), or nullptr.
const std::string* FindHeader(const Headers& headers, absl::string_view name);
// Removes every header named `name`; returns how many were removed.
int RemoveHeaders(Headers& headers, absl::string_view name);
// Replaces the value of every header named `name`, or appends one.
void SetHeader(Headers& headers, absl::string_view name, std::string value);

struct HttpRequest {
  std::string method;
  // Absolute, normalized URL: scheme://host[:port]/path?query (see url.h).
  std::string url;
  // 10 for HTTP/1.0, 11 for HTTP/1.1, 20 for HTTP/2.
  int version = 11;
  Headers headers;
  // After transfer decoding (no chunk framing); content encoding untouched.
  std::string body;
  friend bool operator==(const HttpRequest&, const HttpRequest&) = default;
};

// One piece of a streamed response body (Server-Sent Events, a chunked
// body) as it arrived: its size, and when, counted from the response
// headers. The pieces cover the body in order.
//
// `request_bytes`: for a response that began while its request was still
// arriving (a bidirectional gRPC call that waits for each answer before it
// sends on), how many request body bytes had gone upstream when the piece
// arrived; replay releases the piece once the live request reached as far.
// Unset for the usual exchange, answered after its whole request.
struct BodyChunk {
  uint64_t size = 0;
  absl::Duration at = absl::ZeroDuration();
  std::optional<uint64_t> request_bytes{};
  friend bool operator==(const BodyChunk&, const BodyChunk&) = default;
};

// A response body kept in a file rather than in memory (a recorded body too
// large to hold: see BodySpooler). The file belongs to the recording's
// journal, which removes it.
struct SpooledBody {
  std::string path;
  uint64_t size = 0;
  friend bool operator==(const SpooledBody&, const SpooledBody&) = default;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  int version = 11;
  Headers headers;
  std::string body;
  // Trailer fields sent after the body (HTTP/2 and gRPC: grpc-status,
  // grpc-message; HTTP/1.1 chunked trailers). Empty for most responses.
  Headers trailers{};
  // Set for a streamed body (relayed to the client as it arrived): how it
  // arrived, so that replay can send it in the same pieces. Empty for a
  // body that was read whole.
  std::vector<BodyChunk> chunks{};
  // Set when the body is in a file (`body` is then empty).
  std::shared_ptr<const SpooledBody> spooled{};
  // What the proxy derives from a response it writes many times (a
  // replayed one): its serialized form. Empty in every copy.
  Memo wire{};
  friend bool operator==(const HttpResponse&, const HttpResponse&) = default;
};

// Timing of one forwarded exchange.
struct ExchangeTiming {
  absl::Time started_at;
  absl::Duration time_to_first_byte;
  absl::Duration total;
  // A fault injected into what the client got for this exchange ("f1 delay
  // 2s"), set by the session that injected it: the recording says so, and
  // what it stores is still the upstream's own response and timing.
  std::string fault{};
  // The size of a body relayed to the client as it arrived (its response
  // may not keep it: passed through, or in a spool file); 0 otherwise.
  uint64_t relayed_bytes = 0;
};

// A response made by matgto itself (not by an upstream): `status`, an
// `X-Matgto-Error: <error_code>` header, a Content-Length and `body`.
HttpResponse MakeErrorResponse(
    int status, absl::string_view error_code, std::string body,
    absl::string_view content_type = "text/plain; charset=utf-8");

// A response that has no body whatever its headers say (RFC 9110 6.4.1).
bool ResponseHasNoBody(absl::string_view request_method, int status);

}  // namespace matgto::core
