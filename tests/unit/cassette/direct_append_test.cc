#include "server/cassette/direct_append.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

using ::matgto::testing::TempDir;

constexpr size_t kBlock = DirectAppender::kAlignment;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Bytes that differ at every offset (a misplaced block shows).
std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (seed + i * 7 + i / 251) % 26);
  }
  return s;
}

class DirectAppendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/f";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override { ::close(fd_); }

  // The appender for the file, ending at `end`; skips the test where the
  // file system refuses direct I/O (the journal then writes through the
  // page cache, which the journal's own tests cover).
  std::unique_ptr<DirectAppender> Open(off_t end) {
    std::unique_ptr<DirectAppender> a = DirectAppender::Enable(fd_, end);
    if (a == nullptr) {
      ADD_FAILURE() << "no direct I/O on " << dir_.path();
    }
    return a;
  }

  // Appends and settles at the new end, as the journal does.
  void Append(DirectAppender& a, const std::string& bytes) {
    int err = -1;
    EXPECT_EQ(a.Write(bytes, err), bytes.size());
    EXPECT_EQ(err, 0);
    EXPECT_TRUE(a.Settle(a.end() + static_cast<off_t>(bytes.size())));
  }

  // The file holds `want`, then zeros to the end of its block.
  void ExpectFileHolds(const std::string& want) {
    const std::string got = ReadAll(path_);
    ASSERT_EQ(got.size() % kBlock, 0u);
    ASSERT_GE(got.size(), want.size());
    ASSERT_LT(got.size() - want.size(), kBlock);
    EXPECT_TRUE(got.compare(0, want.size(), want) == 0);
    EXPECT_EQ(got.find_first_not_of('\0', want.size()), std::string::npos);
  }

  TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

bool DirectIoHere(const std::string& dir) {
  const std::string probe = dir + "/probe";
  const int fd =
      ::open(probe.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

#define SKIP_WITHOUT_DIRECT_IO()                                              \
  if (!DirectIoHere(dir_.path())) {                                           \
    GTEST_SKIP() << "the file system of " << dir_.path()                      \
                 << " refuses O_DIRECT; the journal writes through the page " \
                    "cache there (StorageSafetyTest covers it)";              \
  }

TEST_F(DirectAppendTest, AppendsOfEverySizeLandBackToBack) {
  SKIP_WITHOUT_DIRECT_IO();
  auto a = Open(0);
  ASSERT_NE(a, nullptr);
  std::string want;
  char seed = 0;
  for (size_t n : {size_t{1}, size_t{100}, kBlock - 101, kBlock, kBlock + 1,
                   size_t{3}, DirectAppender::kStageBytes + 10, size_t{7},
                   3 * DirectAppender::kStageBytes - 5, kBlock - 1}) {
    const std::string bytes = Pattern(n, seed++);
    Append(*a, bytes);
    want += bytes;
    ExpectFileHolds(want);
  }
  EXPECT_EQ(a->end(), static_cast<off_t>(want.size()));
}

TEST_F(DirectAppendTest, AFileWithBytesAlreadyKeepsThem) {
  SKIP_WITHOUT_DIRECT_IO();
  const std::string before = Pattern(5000, 3);
  ASSERT_EQ(::pwrite(fd_, before.data(), before.size(), 0),
            static_cast<ssize_t>(before.size()));
  auto a = Open(static_cast<off_t>(before.size()));
  ASSERT_NE(a, nullptr);
  const std::string after = Pattern(300, 9);
  Append(*a, after);
  ExpectFileHolds(before + after);
}

TEST_F(DirectAppendTest, SettlingBackWritesOverWhatFollowed) {
  SKIP_WITHOUT_DIRECT_IO();
  auto a = Open(0);
  ASSERT_NE(a, nullptr);
  const std::string first = Pattern(kBlock + 100, 1);
  Append(*a, first);
  // A long write of which only the start counts (as after a torn record):
  // the next write starts over at the settled end, in an earlier piece
  // of the stage than the one it holds last.
  const std::string long_one = Pattern(2 * DirectAppender::kStageBytes, 2);
  int err = -1;
  ASSERT_EQ(a->Write(long_one, err), long_one.size());
  ASSERT_TRUE(a->Settle(static_cast<off_t>(first.size() + 333)));
  ASSERT_EQ(::ftruncate(fd_, static_cast<off_t>(first.size() + 333)), 0);
  const std::string next = Pattern(50, 5);
  Append(*a, next);
  ExpectFileHolds(first + long_one.substr(0, 333) + next);
}

TEST_F(DirectAppendTest, BytesZeroedInTheFileStayZeroed) {
  SKIP_WITHOUT_DIRECT_IO();
  auto a = Open(0);
  ASSERT_NE(a, nullptr);
  const std::string first = Pattern(kBlock + 700, 4);
  Append(*a, first);
  // What the journal does when a new start entry supersedes the records
  // before it: zeros them in the file, up to `cut` (mid-block here).
  const off_t cut = static_cast<off_t>(kBlock + 500);
  ASSERT_EQ(
      ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, cut), 0);
  a->ZeroBefore(cut);
  const std::string next = Pattern(20, 6);
  Append(*a, next);
  ExpectFileHolds(std::string(static_cast<size_t>(cut), '\0') +
                  first.substr(static_cast<size_t>(cut)) + next);
}

TEST_F(DirectAppendTest, DisableWritesThroughThePageCacheAgain) {
  SKIP_WITHOUT_DIRECT_IO();
  auto a = Open(0);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(::fcntl(fd_, F_GETFL) & O_DIRECT, 0);
  a->Disable();
  EXPECT_EQ(::fcntl(fd_, F_GETFL) & O_DIRECT, 0);
  // An unaligned write, which direct I/O would refuse.
  EXPECT_EQ(::pwrite(fd_, "abc", 3, 1), 3);
}

}  // namespace
}  // namespace matgto::cassette
