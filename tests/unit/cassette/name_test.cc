#include "server/cassette/name.h"

#include <ostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::HasSubstr;

class GoodNameTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoodNameTest, IsAccepted) {
  EXPECT_THAT(ValidateCassetteName(GetParam()), IsOk());
}

INSTANTIATE_TEST_SUITE_P(
    Name, GoodNameTest,
    ::testing::Values("a", "suite/test_x", "x-1.2_[3]", "a+b=c@d,e",
                      "deep/er/and/deeper", "...", "a.b", "x.pb",
                      std::string(kMaxCassetteNameLength, 'n')));

struct BadNameCase {
  std::string label;  // for the test name
  std::string name;
  std::string message;
};

void PrintTo(const BadNameCase& c, std::ostream* os) {
  *os << ::testing::PrintToString(c.name);
}

class BadNameTest : public ::testing::TestWithParam<BadNameCase> {};

TEST_P(BadNameTest, IsInvalidArgumentSayingWhy) {
  EXPECT_THAT(ValidateCassetteName(GetParam().name),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Name, BadNameTest,
    ::testing::Values(
        BadNameCase{"Empty", "", "is empty"},
        BadNameCase{"Absolute", "/abs", "absolute path"},
        BadNameCase{"DotDotFirst", "../x", "'..' segment"},
        BadNameCase{"DotDotMiddle", "a/../b", "'..' segment"},
        BadNameCase{"DotDotLast", "a/..", "'..' segment"},
        BadNameCase{"EmptySegment", "a//b", "empty segment"},
        BadNameCase{"TrailingSlash", "a/", "empty segment"},
        BadNameCase{"Dot", ".", "'.' segment"},
        BadNameCase{"DotMiddle", "a/./b", "'.' segment"},
        BadNameCase{"Newline", "a\n", "control character 0x0a"},
        BadNameCase{"Ctrl01", "a\x01", "control character 0x01"},
        BadNameCase{"Del", "a\x7f", "control character 0x7f"},
        BadNameCase{"Nul", std::string("a\0b", 3), "control character 0x00"},
        BadNameCase{"Space", "a b", "contains ' '"},
        BadNameCase{"Backslash", "a\\b", "contains '\\'"},
        BadNameCase{"Colon", "c:x", "contains ':'"},
        BadNameCase{"NonAscii", "caf\xc3\xa9", "contains"},
        BadNameCase{"TooLong", std::string(kMaxCassetteNameLength + 1, 'n'),
                    "201 characters long; the limit is 200"}),
    [](const ::testing::TestParamInfo<BadNameCase>& param_info) {
      return param_info.param.label;
    });

}  // namespace
}  // namespace matgto::cassette
