// What a save is conditional on, from what was seen of each object, and the
// HTTP statuses' codes.
#include "server/cassette/s3/etag_book.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/s3/s3_client.h"

namespace matgto::cassette::s3 {
namespace {

using Header = std::pair<std::string, std::string>;

TEST(ETagBookTest, NeverSeenIsUnconditional) {
  ETagBook book;
  EXPECT_EQ(book.Get("k").kind, ETagBook::Kind::kUnknown);
  EXPECT_FALSE(book.SaveCondition("k").has_value());
}

TEST(ETagBookTest, SeenAbsentCreatesOnlyIfStillAbsent) {
  ETagBook book;
  book.SawAbsent("k", absl::UnixEpoch());
  EXPECT_EQ(book.SaveCondition("k"), Header("If-None-Match", "*"));
}

TEST(ETagBookTest, SeenPresentReplacesOnlyThatVersion) {
  ETagBook book;
  const absl::Time t = absl::FromUnixSeconds(100);
  book.SawPresent("k", "\"e1\"", t);
  EXPECT_EQ(book.SaveCondition("k"), Header("If-Match", "\"e1\""));
  EXPECT_EQ(book.Get("k").at, t);
  // Our own save's answer is the next version to build on.
  book.SawPresent("k", "\"e2\"", t + absl::Seconds(1));
  EXPECT_EQ(book.SaveCondition("k"), Header("If-Match", "\"e2\""));
  // Keys are independent.
  EXPECT_FALSE(book.SaveCondition("other").has_value());
}

TEST(ETagBookTest, PresentWithoutETagOrForgottenIsUnknown) {
  ETagBook book;
  book.SawPresent("k", "\"e1\"", absl::UnixEpoch());
  book.SawPresent("k", "", absl::UnixEpoch());
  EXPECT_EQ(book.Get("k").kind, ETagBook::Kind::kUnknown);
  book.SawAbsent("k", absl::UnixEpoch());
  book.Forget("k");
  EXPECT_FALSE(book.SaveCondition("k").has_value());
}

TEST(ETagBookTest, SerializeRoundTripsForJournals) {
  ETagBook book;
  book.SawPresent("a", "\"abc-1\"", absl::UnixEpoch());
  book.SawAbsent("b", absl::UnixEpoch());
  for (const char* key : {"a", "b", "c"}) {
    const std::string line = ETagBook::Serialize(book.Get(key));
    ETagBook restored;
    restored.Restore(key, ETagBook::Parse(line + "\n"));
    EXPECT_EQ(restored.SaveCondition(key), book.SaveCondition(key)) << line;
  }
  EXPECT_EQ(ETagBook::Parse("garbage").kind, ETagBook::Kind::kUnknown);
  EXPECT_EQ(ETagBook::Parse("etag ").kind, ETagBook::Kind::kUnknown);
}

TEST(HttpStatusCodeTest, EachAnswerHasItsCode) {
  EXPECT_EQ(CodeForHttpStatus(403), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CodeForHttpStatus(404), absl::StatusCode::kNotFound);
  EXPECT_EQ(CodeForHttpStatus(412), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForHttpStatus(409), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForHttpStatus(400), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeForHttpStatus(503), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CodeForHttpStatus(429), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CodeForHttpStatus(301), absl::StatusCode::kInternal);
  EXPECT_TRUE(IsTransientHttpStatus(500));
  EXPECT_TRUE(IsTransientHttpStatus(503));
  EXPECT_TRUE(IsTransientHttpStatus(429));
  EXPECT_FALSE(IsTransientHttpStatus(412));
  EXPECT_FALSE(IsTransientHttpStatus(403));
}

}  // namespace
}  // namespace matgto::cassette::s3
