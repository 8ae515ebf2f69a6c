// Journal::MayHold: the summary of a journal's bytes that rules secrets out
// without reading the file, kept while it is asked for and built again from
// the file after it lapsed (Journal::kGramsLapseBytes).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/cassette/journal.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::TempDir;

// An interaction whose response body carries `text` (and `pad` bytes more).
v1::JournalEntry Carrying(const std::string& text, size_t pad = 0) {
  v1::JournalEntry e;
  v1::Interaction* it = e.mutable_interaction();
  it->mutable_http()->mutable_request()->set_url("http://h/");
  it->mutable_http()->mutable_response()->set_body(
      "{\"token\":\"" + text + "\"}" + std::string(pad, ' '));
  return e;
}

// Long enough that every shift of it has a whole 8-byte word.
std::string Secret(char c) { return "secret-" + std::string(24, c) + "-end"; }

class JournalSummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto journal = Journal::Open(dir_.path() + "/s.pb.journal");
    ASSERT_THAT(journal, IsOk());
    journal_ = *std::move(journal);
    v1::JournalEntry begin;
    begin.mutable_begin()->set_name("s");
    journal_->Append(begin);
  }
  bool MayHold(const std::string& s) { return journal_->MayHold({s}); }
  // Appends interactions without a secret until the journal has grown by
  // `bytes`.
  void Grow(uint64_t bytes) {
    const uint64_t target = journal_->AppendedBytes() + bytes;
    while (journal_->AppendedBytes() < target) {
      journal_->Append(Carrying("nothing to see", 4096));
    }
  }

  TempDir dir_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalSummaryTest, AFirstAskReadsWhatWasAppendedBefore) {
  // Never asked while these were appended: the first call summarises them
  // from the file.
  journal_->Append(Carrying(Secret('a')));
  Grow(64 * 1024);
  EXPECT_TRUE(MayHold(Secret('a')));
  EXPECT_FALSE(MayHold(Secret('b')));
}

TEST_F(JournalSummaryTest, WhileAskedEachEntryIsSummarisedAsItComes) {
  EXPECT_FALSE(MayHold(Secret('a')));
  journal_->Append(Carrying(Secret('a')));
  EXPECT_TRUE(MayHold(Secret('a')));
  for (char c = 'b'; c < 'k'; ++c) {
    EXPECT_FALSE(MayHold(Secret(c))) << c;
    journal_->Append(Carrying(Secret(c)));
    EXPECT_TRUE(MayHold(Secret(c))) << c;
  }
  EXPECT_FALSE(MayHold(Secret('z')));
}

TEST_F(JournalSummaryTest, ALapsedSummaryIsBuiltAgainWithWhatCameMeanwhile) {
  journal_->Append(Carrying(Secret('a')));
  EXPECT_TRUE(MayHold(Secret('a')));
  // Not asked while the journal grows past the lapse: entries are no longer
  // summarised as they come, among them one with a secret.
  Grow(Journal::kGramsLapseBytes + 4096);
  journal_->Append(Carrying(Secret('c')));
  Grow(64 * 1024);
  EXPECT_TRUE(MayHold(Secret('c')));  // read from the file
  EXPECT_TRUE(MayHold(Secret('a')));
  EXPECT_FALSE(MayHold(Secret('d')));
  journal_->Append(Carrying(Secret('d')));
  EXPECT_TRUE(MayHold(Secret('d')));  // live again
}

TEST_F(JournalSummaryTest, ANeedleTooShortIsNeverRuledOut) {
  EXPECT_TRUE(MayHold("short"));
}

}  // namespace
}  // namespace matgto::cassette
