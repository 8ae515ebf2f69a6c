#include "server/cassette/gram_filter.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace matgto::cassette {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

TEST(GramFilterTest, EveryPartOfARecordAddedMayBeThere) {
  std::mt19937_64 rng(7);
  GramFilter filter;
  std::vector<std::string> records;
  for (size_t size : {15u, 16u, 17u, 100u, 701u}) {
    records.push_back(RandomBytes(rng, size));
    filter.Add(records.back());
  }
  for (const std::string& r : records) {
    for (size_t length : {15u, 16u, 23u, 40u}) {
      for (size_t at = 0; at + length <= r.size(); ++at) {
        EXPECT_TRUE(filter.MayContain(r.substr(at, length)))
            << "record of " << r.size() << " bytes, at " << at << ", " << length
            << " bytes";
      }
    }
  }
}

TEST(GramFilterTest, WhatWasNeverAddedIsRuledOut) {
  std::mt19937_64 rng(11);
  GramFilter filter;
  for (int i = 0; i < 1000; ++i) filter.Add(RandomBytes(rng, 700));
  // ~90,000 words in 4M bits (2%): a 20-byte needle has 8 shifts of one
  // or two words each, so few are kept by chance; a longer one, fewer.
  int ruled_out = 0;
  for (int i = 0; i < 1000; ++i) {
    ruled_out += filter.MayContain(RandomBytes(rng, 20)) ? 0 : 1;
  }
  EXPECT_GE(ruled_out, 900);
  EXPECT_FALSE(
      filter.MayContain("Bearer tok-0123456789abcdef-0123456789abcdef"));
}

TEST(GramFilterTest, AMergedFilterHoldsBothAndAClearedOneNothing) {
  const std::string a = "first secret: 0123456789abcdef";
  const std::string b = "second secret: fedcba9876543210";
  GramFilter one, other;
  one.Add(a);
  other.Add(b);
  EXPECT_FALSE(one.MayContain(b));
  one.Merge(other);
  EXPECT_TRUE(one.MayContain(a));
  EXPECT_TRUE(one.MayContain(b));
  EXPECT_FALSE(one.MayContain("third secret: 0000111122223333"));
  one.Clear();
  EXPECT_FALSE(one.MayContain(a));
  EXPECT_FALSE(one.MayContain(b));
}

TEST(GramFilterTest, ANeedleTooShortForEveryShiftIsNeverRuledOut) {
  GramFilter empty;
  EXPECT_TRUE(empty.MayContain("fourteen bytes"));
  EXPECT_TRUE(empty.MayContain(""));
  EXPECT_FALSE(empty.MayContain("fifteen bytes!!"));
}

}  // namespace
}  // namespace matgto::cassette
