#include "server/cassette/proto_time.h"

#include <cstdint>

#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace matgto::cassette {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kNanosCases[] = {
    0,
    1,
    -1,
    999'999'999,
    -999'999'999,
    1'000'000'000,
    -1'000'000'000,
    1'000'000'001,
    -1'000'000'001,
    1'500'000'000,
    -1'500'000'000,
    1'764'720'000'123'456'789,   // 2025
    -2'208'988'800'000'000'001,  // before 1900
};

// Written straight into the message, as TimeUtil splits them.
TEST(ProtoTimeTest, TimestampsSplitAsTimeUtilSplitsThem) {
  for (const int64_t nanos : kNanosCases) {
    google::protobuf::Timestamp ts;
    SetProtoTimestamp(absl::FromUnixNanos(nanos), ts);
    const google::protobuf::Timestamp want =
        TimeUtil::NanosecondsToTimestamp(nanos);
    EXPECT_EQ(ts.seconds(), want.seconds()) << nanos;
    EXPECT_EQ(ts.nanos(), want.nanos()) << nanos;
    EXPECT_GE(ts.nanos(), 0) << nanos;
  }
}

TEST(ProtoTimeTest, DurationsSplitAsTimeUtilSplitsThem) {
  for (const int64_t nanos : kNanosCases) {
    google::protobuf::Duration d;
    SetProtoDuration(absl::Nanoseconds(nanos), d);
    const google::protobuf::Duration want =
        TimeUtil::NanosecondsToDuration(nanos);
    EXPECT_EQ(d.seconds(), want.seconds()) << nanos;
    EXPECT_EQ(d.nanos(), want.nanos()) << nanos;
    EXPECT_EQ(FromProtoDuration(d), absl::Nanoseconds(nanos)) << nanos;
  }
}

}  // namespace
}  // namespace matgto::cassette
