#include "server/observe/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "boost/json/parse.hpp"

namespace matgto::observe {
namespace {

using ::testing::HasSubstr;

const absl::Time kTime = absl::FromUnixMillis(1767225600123);  // 2026-01-01

TEST(LogFormatTest, JsonLineHasStableFieldsFirst) {
  boost::json::object fields;
  fields["session"] = "default";
  fields["status"] = 599;
  fields["url"] = "http://h/p?token=[REDACTED]";
  const std::string line =
      FormatRecord(LogFormat::kJson, LogLevel::kWarn, kTime, "miss",
                   "no \"match\"\nhere", fields);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one line";
  const boost::json::object parsed = boost::json::parse(line).as_object();
  EXPECT_EQ(parsed.at("time").as_string(), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(parsed.at("level").as_string(), "warn");
  EXPECT_EQ(parsed.at("event").as_string(), "miss");
  EXPECT_EQ(parsed.at("msg").as_string(), "no \"match\"\nhere");
  EXPECT_EQ(parsed.at("session").as_string(), "default");
  EXPECT_EQ(parsed.at("status").as_int64(), 599);
  EXPECT_TRUE(absl::StartsWith(line, "{\"time\":"));
}

TEST(LogFormatTest, TextLineQuotesOnlyWhatNeedsIt) {
  boost::json::object fields;
  fields["session"] = "default";
  fields["cassette"] = "two words";
  fields["status"] = 200;
  EXPECT_EQ(FormatRecord(LogFormat::kText, LogLevel::kInfo, kTime, "exchange",
                         "GET http://h/ 200 replayed", fields),
            "2026-01-01T00:00:00.123Z info GET http://h/ 200 replayed "
            "session=default cassette=\"two words\" status=200");
}

TEST(LogLevelTest, ParsesTheFlagValues) {
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_THAT(std::string(ParseLogLevel("loud").status().message()),
              HasSubstr("unknown log level 'loud'"));
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

}  // namespace
}  // namespace matgto::observe
