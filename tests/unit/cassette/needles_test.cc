// The scrubber's multi-string search (needles.h): what it finds is what
// repeated leftmost-longest searches for the needles find, however many
// needles share a beginning or an end, and a snapshot sees only its own.
#include "server/cassette/needles.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/secrets.h"

namespace matgto::cassette {
namespace {

using Kind = Needles::Kind;

// The reference: at each place from the left, the longest needle there;
// after a match, on from its end.
std::vector<std::pair<size_t, size_t>> Naive(
    const std::string& text, const std::vector<std::string>& needles) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t at = 0; at < text.size();) {
    size_t longest = 0;
    for (const std::string& n : needles) {
      if (!n.empty() && n.size() > longest &&
          text.compare(at, n.size(), n) == 0) {
        longest = n.size();
      }
    }
    if (longest == 0) {
      ++at;
      continue;
    }
    out.emplace_back(at, longest);
    at += longest;
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> Found(const Needles& index,
                                             const std::string& text,
                                             size_t visible, Kind kind) {
  std::vector<std::pair<size_t, size_t>> out;
  for (const Needles::Match& m : index.Find(text, visible, kind)) {
    out.emplace_back(m.start, m.length);
  }
  return out;
}

TEST(NeedlesTest, FindsWhatRepeatedLeftmostLongestSearchesFind) {
  // Two letters, needles of 1 to 20 bytes: overlaps, needles inside
  // others, shared windows and short needles everywhere.
  std::mt19937 rng(7);
  auto word = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += "ab"[rng() % 2];
    return s;
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> needles;
    Needles index;
    const int count = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      needles.push_back(word(1 + rng() % 20));
      index.Add({needles.back()}, Kind::kPlain);
    }
    const std::string text = word(rng() % 200);
    ASSERT_EQ(Found(index, text, index.size(), Kind::kPlain),
              Naive(text, needles))
        << "round " << round << " text " << text;
    EXPECT_EQ(index.Any(text, index.size()), !Naive(text, needles).empty());
  }
}

TEST(NeedlesTest, TokensAlikeAtTheirStartOrEndAreEachFound) {
  // JWTs of one issuer share their first 36 bytes; minted tokens may
  // share their end too.
  Needles index;
  std::vector<std::string> tokens;
  const std::string head = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";
  for (int i = 0; i < 5000; ++i) {
    tokens.push_back(absl::StrCat(head, "payload", i * 7919, ".sig-same"));
    index.Add({tokens.back()}, Kind::kPlain);
  }
  const std::string text =
      absl::StrCat("Bearer ", tokens[0], " then ", tokens[4999], " and ",
                   tokens[2500], " and ", head, "payload-unknown.sig-same");
  const auto found = Found(index, text, index.size(), Kind::kPlain);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(text.substr(found[0].first, found[0].second), tokens[0]);
  EXPECT_EQ(text.substr(found[1].first, found[1].second), tokens[4999]);
  EXPECT_EQ(text.substr(found[2].first, found[2].second), tokens[2500]);
}

TEST(NeedlesTest, ASearchSeesOnlyTheNeedlesOfItsSnapshotAndItsKind) {
  Needles index;
  const size_t first = index.Add({"first-secret"}, Kind::kPlain);
  index.Add({"second-secret"}, Kind::kPlain);
  const size_t all = index.Add({"first%2Dsecret"}, Kind::kEncoded);
  const std::string text = "first-secret second-secret first%2Dsecret";
  EXPECT_EQ(Found(index, text, first, Kind::kPlain),
            (std::vector<std::pair<size_t, size_t>>{{0, 12}}));
  EXPECT_EQ(Found(index, text, all, Kind::kPlain).size(), 2u);
  EXPECT_EQ(Found(index, text, all, Kind::kEncoded),
            (std::vector<std::pair<size_t, size_t>>{{27, 14}}));
  EXPECT_FALSE(index.Any("second-secret", first));
  EXPECT_TRUE(index.Any("second-secret", all));
}

// Over 60 secrets: a scrubber then searches with the index, not with RE2
// alternations.
std::vector<std::string> Many() {
  std::vector<std::string> out;
  for (int i = 0; i < 60; ++i) out.push_back(absl::StrCat("filler/", i, "+x"));
  return out;
}

TEST(ScrubberSnapshotTest, AnOlderScrubberKeepsScrubbingWhatItKnew) {
  for (const bool many : {false, true}) {
    SCOPED_TRACE(many ? "index" : "alternations");
    const Scrubber base(many ? Many() : std::vector<std::string>{});
    const Scrubber one(base, {"secret-number-1"});
    const Scrubber two(one, {"secret-number-2"});
    // Built on `one` again, after `two` added to the index they share.
    const Scrubber other(one, {"secret-number-3"});
    std::string text = "secret-number-1 secret-number-2 secret-number-3";
    std::string by_one = text;
    std::string by_two = text;
    std::string by_other = text;
    EXPECT_TRUE(one.Scrub(by_one));
    EXPECT_TRUE(two.Scrub(by_two));
    EXPECT_TRUE(other.Scrub(by_other));
    EXPECT_EQ(by_one, "[REDACTED] secret-number-2 secret-number-3");
    EXPECT_EQ(by_two, "[REDACTED] [REDACTED] secret-number-3");
    EXPECT_EQ(by_other, "[REDACTED] secret-number-2 [REDACTED]");
    EXPECT_FALSE(one.Finds("secret-number-2"));
    EXPECT_TRUE(two.Finds("x secret-number-2 y"));
  }
  EXPECT_FALSE(Scrubber().Finds("secret-number-1"));
}

TEST(ScrubberTest, FewSecretsAndManyScrubAlike) {
  // The same three secrets, alone (alternations) and among many (index),
  // in every form and overlapping.
  const std::vector<std::string> three = {"a/b c+d=e-long", "abcdefgh",
                                          "abcdefgh-longer"};
  std::vector<std::string> with_many = Many();
  with_many.insert(with_many.end(), three.begin(), three.end());
  const Scrubber few(three);
  const Scrubber lots(with_many);
  for (const std::string& text :
       {std::string("raw a/b c+d=e-long, url a%2Fb%20c%2Bd%3De-long"),
        std::string("form a%2fb+c%2bd%3de-long json a\\/b c+d=e-long"),
        std::string("x abcdefgh-longer y abcdefgh z abcdefghabcdefgh"),
        std::string("nothing here at all")}) {
    std::string a = text;
    std::string b = text;
    EXPECT_EQ(few.Scrub(a), lots.Scrub(b)) << text;
    EXPECT_EQ(a, b) << text;
    EXPECT_EQ(few.Finds(text), lots.Finds(text)) << text;
  }
}

}  // namespace
}  // namespace matgto::cassette
