// Conversion between core HTTP values and the cassette protobuf schema, and
// the cassette file encoding (parse with version checks, serialize).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"
#include "server/core/http.h"

namespace matgto::cassette {

// The schema version this build writes. History:
//   1  first version (HTTP exchanges, WebSocket sessions, options).
inline constexpr uint32_t kSchemaVersion = 1;

// A message's http_version as stored: "HTTP/1.0", "HTTP/1.1" or "HTTP/2"
// for a core version of 10, 11 (or any other) or 20.
absl::string_view HttpVersionName(int version);

void ToProto(const core::HttpRequest& in, v1::HttpRequest& out);
void ToProto(const core::HttpResponse& in, v1::HttpResponse& out);
void ToProto(const core::ExchangeTiming& in, v1::Timing& out);
core::HttpRequest FromProto(const v1::HttpRequest& in);
// The same into `out`, reusing its storage (for a loop over many).
void FromProto(const v1::HttpRequest& in, core::HttpRequest& out);
core::HttpResponse FromProto(const v1::HttpResponse& in);
// The same, taking `in`'s body rather than copying it (a body of a
// gigabyte replayed from a mapped cassette is not held twice).
core::HttpResponse FromProto(v1::HttpResponse&& in);

// OK when a cassette file of `bytes` can be read as one protobuf message
// (under 2 GiB); otherwise RESOURCE_EXHAUSTED naming `source`. Replay maps
// a larger one and reads one interaction at a time (image.h).
absl::Status FitsOneMessage(uint64_t bytes, absl::string_view source);

// Parses a binary cassette file's bytes. `source` (a path or name) is quoted
// in errors. DATA_LOSS for bytes that are not a cassette or that were
// truncated; FAILED_PRECONDITION for a file written by a newer schema;
// RESOURCE_EXHAUSTED over 2 GiB (FitsOneMessage). Older schemas are
// upgraded to kSchemaVersion.
absl::StatusOr<v1::Cassette> ParseCassette(absl::string_view bytes,
                                           absl::string_view source);

// What ParseCassette checks of a cassette's own fields: a schema version
// this build reads, the end marker (`interactions` readable ones are
// quoted when it is missing). Shared with cassette/image.h.
absl::Status CheckCassetteHeader(const v1::Cassette& cassette,
                                 int64_t interactions,
                                 absl::string_view source);

// Serializes for storage: sets schema_version, written_by and the trailing
// `complete` marker.
std::string SerializeCassette(const v1::Cassette& cassette);

// What a cassette holds, as a lowercase hex SHA-256: the deterministic
// serialization of `cassette` without what storing it adds or changes
// (schema_version, written_by, complete, updated_at). Two cassettes with the
// same name, options and interactions hash alike whatever their format or
// store; `cassette push/pull` skip a copy when the hashes agree. Text bodies
// must be normalized into `body` first (as loads do).
std::string ContentSha256(const v1::Cassette& cassette);

// ContentSha256 of a cassette whose interactions come one at a time (a
// mapped file: see CassetteImage), without holding them all: `header`'s own
// fields (its interactions are ignored), then Add each interaction in order.
class ContentDigest {
 public:
  explicit ContentDigest(const v1::Cassette& header);
  ~ContentDigest();
  ContentDigest(const ContentDigest&) = delete;
  ContentDigest& operator=(const ContentDigest&) = delete;
  void Add(const v1::Interaction& interaction);
  // The hex digest ("" if OpenSSL failed); call once.
  std::string Finish();

 private:
  void Update(absl::string_view bytes);
  EVP_MD_CTX* ctx_;
  // The serialized header fields that come after the interactions.
  std::string after_;
  std::string scratch_;
};

}  // namespace matgto::cassette
