#include "server/core/appender.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace matgto::core {
namespace {

TEST(AppenderTest, AppendsAfterWhatTheStringHeldAndTrimsTheRoom) {
  std::string out = "head:";
  {
    Appender a(out, 64);
    a << ' ' << "name" << '=' << absl::string_view("value") << "";
    EXPECT_EQ(a.size(), 16u);
  }
  EXPECT_EQ(out, "head: name=value");
}

TEST(AppenderTest, WritesIntegersOfEveryWidthAndSign) {
  std::string out;
  Appender a(out, 0);
  a << int64_t{-9223372036854775807 - 1} << ' '
    << std::numeric_limits<uint64_t>::max() << ' ' << 0 << ' ' << 599u;
  a.Finish();
  EXPECT_EQ(out, "-9223372036854775808 18446744073709551615 0 599");
}

TEST(AppenderTest, MakesRoomPastAShortGuess) {
  std::string out;
  const std::string big(10000, 'x');
  Appender a(out, 1);
  for (int i = 0; i < 3; ++i) a << big << i;
  a.Finish();
  EXPECT_EQ(out, big + "0" + big + "1" + big + "2");
}

TEST(AppenderTest, AppendsSeveralPiecesInOneGo) {
  std::string out = ">";
  Appender a(out, 2);  // shorter than the pieces: room is made
  a.Append(' ', absl::string_view("key"), '=', absl::string_view("value"))
      .Append(absl::string_view(""), '!');
  a.Finish();
  EXPECT_EQ(out, "> key=value!");
}

TEST(AppenderTest, AppendsAgainAfterFinish) {
  std::string out;
  Appender a(out, 8);
  a << "ab";
  a.Finish();
  EXPECT_EQ(out, "ab");
  a << "cd";
  a.Finish();
  a.Finish();
  EXPECT_EQ(out, "abcd");
}

}  // namespace
}  // namespace matgto::core
