#include "server/observe/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
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

TEST(LogFormatTest, WriterEscapesWhatEachFormatNeeds) {
  std::string json;
  RecordWriter(json, LogFormat::kJson, LogLevel::kInfo, kTime, "exchange", "m")
      .Add("tab", "a\tb")
      .Add("plain", "x")
      .Add("n", int64_t{-3})
      .Add("big", uint64_t{18446744073709551615u})
      .Add("ws", true)
      .AddJson("list", "[1,2]")
      .Finish();
  const boost::json::object parsed = boost::json::parse(json).as_object();
  EXPECT_EQ(parsed.at("tab").as_string(), "a\tb");
  EXPECT_EQ(parsed.at("n").as_int64(), -3);
  EXPECT_EQ(parsed.at("big").as_uint64(), 18446744073709551615u);
  EXPECT_TRUE(parsed.at("ws").as_bool());
  EXPECT_EQ(parsed.at("list").as_array().size(), 2u);

  std::string text;
  RecordWriter(text, LogFormat::kText, LogLevel::kInfo, kTime, "exchange", "m")
      .Add("tab", "a\tb")
      .Add("empty", "")
      .Add("slash", "a\\b")
      .Add("plain", "x")
      .Finish();
  EXPECT_EQ(text,
            "2026-01-01T00:00:00.123Z info m tab=\"a\\tb\" empty=\"\" "
            "slash=\"a\\\\b\" plain=x");
}

// The log as the process writes it to stdout, with `run`'s records.
template <typename F>
std::vector<std::string> LoggedLines(F run) {
  InitLogging({.level = LogLevel::kInfo, .format = LogFormat::kText});
  testing::internal::CaptureStdout();
  run();
  FlushLogging();
  const std::string out = testing::internal::GetCapturedStdout();
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST(HotLogTest, ExchangesComeBeforeTheSyncRecordThatFollowsThem) {
  const std::vector<std::string> lines = LoggedLines([] {
    for (int i = 0; i < 3; ++i) {
      LogRecord r(LogLevel::kInfo, "exchange", "GET / 200 replayed",
                  /*hot=*/true);
      r.fields().Add("i", i);
      r.Write();
    }
    Log(LogLevel::kInfo, "session", "session s-1 ended");
  });
  ASSERT_EQ(lines.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(lines[i], HasSubstr(absl::StrCat("replayed i=", i)));
  }
  EXPECT_THAT(lines[3], HasSubstr("session s-1 ended"));
}

TEST(HotLogTest, EveryThreadsRecordsArriveWhole) {
  constexpr int kThreads = 4, kEach = 2000;
  const std::vector<std::string> lines = LoggedLines([] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([t] {
        for (int i = 0; i < kEach; ++i) {
          LogRecord r(LogLevel::kInfo, "exchange", "GET /", /*hot=*/true);
          r.fields().Add("thread", t).Add("i", i).Add("url", "http://h/p");
          r.Write();
        }
      });
    }
    for (std::thread& t : threads) t.join();
  });
  ASSERT_EQ(lines.size(), size_t{kThreads * kEach});
  int last[kThreads] = {-1, -1, -1, -1};
  for (const std::string& line : lines) {
    ASSERT_TRUE(absl::EndsWith(line, " url=http://h/p")) << line;
    const size_t t = line.find(" thread=");
    ASSERT_NE(t, std::string::npos) << line;
    const int thread = line[t + 8] - '0';
    const int i = std::stoi(line.substr(line.find(" i=") + 3));
    EXPECT_EQ(i, last[thread] + 1) << "a thread's records stay in order";
    last[thread] = i;
  }
}

TEST(HotLogTest, AHotWarningIsWrittenAtOnceWithWhatWaitedBeforeIt) {
  InitLogging({.level = LogLevel::kInfo, .format = LogFormat::kJson});
  testing::internal::CaptureStdout();
  {
    LogRecord r(LogLevel::kInfo, "exchange", "GET /a 200 replayed", true);
    r.Write();
  }
  {
    LogRecord r(LogLevel::kWarn, "miss", "no match for GET /b", true);
    r.fields().Add("url", "http://h/b");
    r.Write();
  }
  // No FlushLogging: the warning flushed both.
  const std::string out = testing::internal::GetCapturedStdout();
  const std::vector<std::string> lines =
      absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_EQ(boost::json::parse(lines[0]).at("event").as_string(), "exchange");
  EXPECT_EQ(boost::json::parse(lines[1]).at("url").as_string(), "http://h/b");
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
