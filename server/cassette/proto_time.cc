#include "server/cassette/proto_time.h"

#include "google/protobuf/util/time_util.h"

namespace matgto::cassette {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProtoTimestamp(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  return TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Nanoseconds(TimeUtil::DurationToNanoseconds(d));
}

}  // namespace matgto::cassette
