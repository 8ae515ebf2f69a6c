#include "server/replay/policy.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace matgto::replay {
namespace {

TEST(ReplayPolicyTest, UnsetOptionsMeanTheDocumentedDefaults) {
  const ReplayPolicy p = ReplayPolicy::FromOptions(v1::CassetteOptions());
  EXPECT_EQ(p.repeat, Repeat::kSequential);
  EXPECT_EQ(p.on_exhausted, OnExhausted::kRepeatLast);
  EXPECT_EQ(p.on_miss, OnMiss::kError);
  EXPECT_FALSE(p.ws_pace.as_recorded);
  EXPECT_EQ(p.ws_pace.speed, 1.0);
}

TEST(ReplayPolicyTest, ReadsEveryOption) {
  v1::CassetteOptions options;
  options.set_repeat(v1::REUSE);
  options.set_on_exhausted(v1::EXHAUSTED_ERROR);
  options.set_on_miss(v1::MISS_RECORD);
  options.set_ws_timing(v1::AS_RECORDED);
  options.set_ws_speed(2.5);
  const ReplayPolicy p = ReplayPolicy::FromOptions(options);
  EXPECT_EQ(p.repeat, Repeat::kReuse);
  EXPECT_EQ(p.on_exhausted, OnExhausted::kError);
  EXPECT_EQ(p.on_miss, OnMiss::kRecord);
  EXPECT_TRUE(p.ws_pace.as_recorded);
  EXPECT_EQ(p.ws_pace.speed, 2.5);

  EXPECT_EQ(ToOnMiss(v1::MISS_PASSTHROUGH), OnMiss::kPassthrough);
  EXPECT_EQ(ToOnMiss(v1::MISS_ERROR), OnMiss::kError);
  EXPECT_EQ(ToRepeat(v1::SEQUENTIAL), Repeat::kSequential);
  EXPECT_EQ(ToOnExhausted(v1::REPEAT_LAST), OnExhausted::kRepeatLast);
}

TEST(ReplayPolicyTest, ValuesFromANewerSchemaFallBackToTheDefaults) {
  EXPECT_EQ(ToOnMiss(static_cast<v1::MissPolicy>(42)), OnMiss::kError);
  EXPECT_EQ(ToRepeat(static_cast<v1::RepeatPolicy>(42)), Repeat::kSequential);
  EXPECT_EQ(ToOnExhausted(static_cast<v1::ExhaustedPolicy>(42)),
            OnExhausted::kRepeatLast);
}

TEST(ReplayPolicyTest, ASpeedThatIsNotPositiveMeansOne) {
  for (double speed : {0.0, -3.0, std::nan("")}) {
    v1::CassetteOptions options;
    options.set_ws_speed(speed);
    EXPECT_EQ(ReplayPolicy::FromOptions(options).ws_pace.speed, 1.0) << speed;
  }
}

TEST(PickRecordingTest, NothingMatching) {
  std::vector<uint32_t> uses = {0, 0};
  EXPECT_EQ(
      PickRecording({}, uses, Repeat::kSequential, OnExhausted::kRepeatLast)
          .outcome,
      Pick::Outcome::kNoMatch);
}

TEST(PickRecordingTest, SequentialTakesTheFirstUnusedThenRepeatsTheLast) {
  std::vector<uint32_t> uses = {0, 0, 0};
  const std::vector<size_t> matching = {0, 2};
  auto pick = [&] {
    return PickRecording(matching, uses, Repeat::kSequential,
                         OnExhausted::kRepeatLast);
  };
  Pick p = pick();
  EXPECT_EQ(p.outcome, Pick::Outcome::kAnswer);
  EXPECT_EQ(p.position, 0u);
  p = pick();
  EXPECT_EQ(p.position, 2u);
  p = pick();
  EXPECT_EQ(p.outcome, Pick::Outcome::kAnswer);
  EXPECT_EQ(p.position, 2u);
  EXPECT_EQ(uses, (std::vector<uint32_t>{1, 0, 2}));
}

TEST(PickRecordingTest, ExhaustedErrorNamesTheLastMatch) {
  std::vector<uint32_t> uses = {1, 0, 1};
  const Pick p = PickRecording(std::vector<size_t>{0, 2}, uses,
                               Repeat::kSequential, OnExhausted::kError);
  EXPECT_EQ(p.outcome, Pick::Outcome::kExhausted);
  EXPECT_EQ(p.position, 2u);
  EXPECT_EQ(uses, (std::vector<uint32_t>{1, 0, 1}));
}

TEST(PickRecordingTest, ReuseAlwaysTakesTheFirstMatch) {
  std::vector<uint32_t> uses = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    const Pick p = PickRecording(std::vector<size_t>{1, 2}, uses,
                                 Repeat::kReuse, OnExhausted::kError);
    EXPECT_EQ(p.outcome, Pick::Outcome::kAnswer);
    EXPECT_EQ(p.position, 1u);
  }
  EXPECT_EQ(uses, (std::vector<uint32_t>{0, 3, 0}));
}

}  // namespace
}  // namespace matgto::replay
