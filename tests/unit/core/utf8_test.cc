#include "server/core/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace matgto::core {
namespace {

// Sequences on either side of each rule of RFC 3629's table.
struct Case {
  const char* bytes;
  bool valid;
};
constexpr Case kCases[] = {
    {"", true},
    {"plain ascii", true},
    {"\x7f", true},
    {"\xc3\xa9", true},           // é
    {"\xe2\x82\xac", true},       // €
    {"\xf0\x9f\x98\x80", true},   // U+1F600
    {"\xf4\x8f\xbf\xbf", true},   // U+10FFFF
    {"\xed\x9f\xbf", true},       // U+D7FF
    {"\xee\x80\x80", true},       // U+E000
    {"\x80", false},              // a continuation byte alone
    {"\xc0\xaf", false},          // overlong '/'
    {"\xc1\xbf", false},          // overlong
    {"\xe0\x9f\xbf", false},      // overlong three-byte form
    {"\xed\xa0\x80", false},      // a surrogate (U+D800)
    {"\xf0\x8f\xbf\xbf", false},  // overlong four-byte form
    {"\xf4\x90\x80\x80", false},  // above U+10FFFF
    {"\xf5\x80\x80\x80", false},
    {"\xff", false},
    {"\xc3", false},          // cut short
    {"\xe2\x82", false},      // cut short
    {"\xf0\x9f\x98", false},  // cut short
    {"\xc3\x28", false},      // a second byte that does not continue
    {"\xe2\x28\xac", false},
};

TEST(IsValidUtf8Test, RulesOfRfc3629) {
  for (const Case& c : kCases) {
    EXPECT_EQ(IsValidUtf8(c.bytes), c.valid) << "bytes: " << c.bytes;
  }
}

// ASCII is skipped a word at a time: each case, at each offset of longer
// ASCII text and with text after it, is decided as it is alone (a cut
// short sequence then ends before ASCII, which still does not continue it).
TEST(IsValidUtf8Test, AnyOffsetInAsciiTextGivesTheSameAnswer) {
  for (const Case& c : kCases) {
    for (size_t before = 0; before <= 24; ++before) {
      for (size_t after : {0, 1, 7, 8, 9, 17}) {
        const std::string text =
            std::string(before, 'a') + c.bytes + std::string(after, 'z');
        EXPECT_EQ(IsValidUtf8(text), c.valid)
            << "bytes: " << c.bytes << " after " << before << " and before "
            << after << " ASCII bytes";
      }
    }
  }
}

TEST(IsValidUtf8Test, HighBitInTheLastByteOfAWord) {
  std::string text(16, 'x');
  text[7] = '\x80';
  EXPECT_FALSE(IsValidUtf8(text));
  text[7] = 'x';
  text[15] = '\xc3';
  EXPECT_FALSE(IsValidUtf8(text));
  text += '\xa9';
  EXPECT_TRUE(IsValidUtf8(text));
}

}  // namespace
}  // namespace matgto::core
