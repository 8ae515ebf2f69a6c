// The S3 XML bodies the store reads, parsed with expat (Debian's libexpat):
// error documents (<Error><Code/><Message/></Error>) and ListObjectsV2
// results.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace matgto::cassette::s3 {

struct S3Error {
  std::string code{};     // e.g. "NoSuchKey", "SlowDown", "AccessDenied"
  std::string message{};  // S3's human-readable text
};

// The <Error> document of a failed request; nullopt when `xml` is not one
// (an empty body, HTML from a proxy, a truncated document).
std::optional<S3Error> ParseS3Error(absl::string_view xml);

struct S3Object {
  std::string key{};
  std::string etag{};  // as S3 sends it, quotes included
  uint64_t size = 0;
  absl::Time last_modified = absl::InfinitePast();  // unknown
};

struct S3ListPage {
  std::vector<S3Object> objects{};
  bool truncated = false;
  std::string next_continuation_token{};
};

// One page of a ListObjectsV2 answer. DATA_LOSS when `xml` is not a
// well-formed ListBucketResult (`source` names it in the message).
absl::StatusOr<S3ListPage> ParseListObjectsV2(absl::string_view xml,
                                              absl::string_view source);

}  // namespace matgto::cassette::s3
