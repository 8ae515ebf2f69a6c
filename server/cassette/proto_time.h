// absl <-> protobuf time values, the one copy the cassette codecs and the
// recorder share.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

// A time or a duration as protobuf's Timestamp and Duration hold it.
struct ProtoTimeParts {
  int64_t seconds = 0;
  int32_t nanos = 0;
};
// Nanoseconds in [0, 1e9), the seconds rounded down (before 1970 too).
ProtoTimeParts TimestampParts(absl::Time t);
// Seconds and nanoseconds of the same sign.
ProtoTimeParts DurationParts(absl::Duration d);

google::protobuf::Timestamp ToProtoTimestamp(absl::Time t);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
// The same, set in place: no temporary message copied into an arena's
// (what a recorded exchange's times go through).
void SetProtoTimestamp(absl::Time t, google::protobuf::Timestamp& out);
void SetProtoDuration(absl::Duration d, google::protobuf::Duration& out);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

// DATA_LOSS naming `source`, the interaction and the field when a timestamp
// or duration in the cassette is outside protobuf's range (years 1-9999,
// nanos 0-999,999,999, durations within ±10,000 years with nanos of the
// same sign): such a value comes only from a damaged file, and protobuf's
// JSON printer refuses it, so the cassette could be replayed but never
// exported or saved as JSON.
absl::Status CheckTimesInRange(const v1::Cassette& cassette,
                               absl::string_view source);
// The same for interaction `i` alone (a cassette checked one interaction at
// a time, as cassette/image.h loads it).
absl::Status CheckTimesInRange(const v1::Interaction& interaction, int64_t i,
                               absl::string_view source);

}  // namespace matgto::cassette
