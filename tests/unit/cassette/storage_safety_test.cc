// FileCassetteStore and Journal where storage can go wrong: names that do
// not match the file's contents, symbolic links inside the cassette
// directory, file modes, journals that a write error, another server or an
// unrecovered crash would otherwise lose or overwrite.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/interaction_wire.h"
#include "server/cassette/journal.h"
#include "server/cassette/store.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

namespace fs = std::filesystem;
using ::matgto::testing::IsOk;
using ::matgto::testing::IsOkAndHolds;
using ::matgto::testing::StatusIs;
using ::matgto::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Cassette Named(const std::string& name, int interactions = 1) {
  v1::Cassette c;
  c.set_name(name);
  for (int i = 0; i < interactions; ++i) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(static_cast<uint64_t>(i));
    it->mutable_http()->mutable_request()->set_method("GET");
    it->mutable_http()->mutable_request()->set_url("http://h/" +
                                                   std::to_string(i));
    it->mutable_http()->mutable_response()->set_status(200);
  }
  return c;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

v1::JournalEntry Begin(const std::string& name) {
  v1::JournalEntry e;
  e.mutable_begin()->set_name(name);
  return e;
}

v1::JournalEntry Interaction(int i, size_t body_bytes = 16) {
  v1::JournalEntry e;
  v1::Interaction* it = e.mutable_interaction();
  it->set_index(static_cast<uint64_t>(i));
  it->mutable_http()->mutable_request()->set_url("http://h/" +
                                                 std::to_string(i));
  it->mutable_http()->mutable_response()->set_body(
      std::string(body_bytes, 'x'));
  return e;
}

class StorageSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FileCassetteStore::Create(Root());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }
  std::string Root() const { return dir_.path() + "/cassettes"; }
  std::string Outside() const { return dir_.path() + "/outside"; }

  TempDir dir_;
  std::unique_ptr<FileCassetteStore> store_;
};

// --- the name it is used as wins (issue 11, defect 11) ---

TEST_F(StorageSafetyTest, ACopiedCassetteLoadsUnderItsNewName) {
  ASSERT_THAT(store_->Save(Named("original", 2)), IsOk());
  fs::copy_file(Root() + "/original.pb", Root() + "/copy.pb");
  absl::StatusOr<v1::Cassette> copy = store_->Load("copy");
  ASSERT_THAT(copy, IsOk());
  EXPECT_EQ(copy->name(), "copy");
  // Saving it back writes the copy, never the original.
  const std::string original = ReadFile(Root() + "/original.pb");
  copy->mutable_interactions()->RemoveLast();
  EXPECT_THAT(store_->Save(*copy), IsOkAndHolds(Root() + "/copy.pb"));
  EXPECT_EQ(ReadFile(Root() + "/original.pb"), original);
}

TEST_F(StorageSafetyTest, AJournalRecoversUnderTheNameItsPathGives) {
  {
    auto journal = Journal::Open(Root() + "/renamed.pb.journal");
    ASSERT_THAT(journal, IsOk());
    (*journal)->Append(Begin("elsewhere"));
    (*journal)->Append(Interaction(0));
    ASSERT_THAT((*journal)->Flush(), IsOk());
  }  // a crash: the journal stays
  EXPECT_THAT(store_->RecoverJournals(),
              ElementsAre(HasSubstr("recovered cassette 'renamed' (1")));
  EXPECT_THAT(store_->Load("renamed"), IsOk());
  EXPECT_THAT(store_->Exists("elsewhere"), IsOkAndHolds(false));
}

// --- symbolic links never lead outside the directory (defect 12) ---

TEST_F(StorageSafetyTest, ASymlinkedSegmentIsRefusedForEveryOperation) {
  fs::create_directories(Outside());
  fs::create_directory_symlink(Outside(), Root() + "/lnk");
  WriteFile(Outside() + "/x.pb", SerializeCassette(Named("x")));
  const auto refused =
      StatusIs(absl::StatusCode::kPermissionDenied,
               AllOf(HasSubstr("cassette 'lnk/x'"), HasSubstr(Root() + "/lnk"),
                     HasSubstr("is a symbolic link")));
  EXPECT_THAT(store_->Save(Named("lnk/x")), refused);
  EXPECT_THAT(store_->StartJournal("lnk/x"), refused);
  EXPECT_THAT(store_->Load("lnk/x"), refused);
  EXPECT_THAT(store_->Exists("lnk/x"), refused);
  EXPECT_THAT(store_->Delete("lnk/x"), refused);
  EXPECT_THAT(store_->Save(Named("lnk/deeper/y")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is a symbolic link")));
  // Nothing was written, removed or created outside.
  EXPECT_THAT(dir_.Files(), ElementsAre("outside/x.pb"));
  EXPECT_FALSE(fs::exists(Outside() + "/deeper"));
}

TEST_F(StorageSafetyTest,
       ASymlinkedCassetteFileIsRefusedAndNeverWrittenThrough) {
  fs::create_directories(Outside());
  WriteFile(Outside() + "/secret.pb", SerializeCassette(Named("s")));
  const std::string before = ReadFile(Outside() + "/secret.pb");
  fs::create_symlink(Outside() + "/secret.pb", Root() + "/s.pb");
  EXPECT_THAT(store_->Load("s"), StatusIs(absl::StatusCode::kPermissionDenied,
                                          HasSubstr("is a symbolic link")));
  fs::create_symlink(Outside() + "/j", Root() + "/t.pb.journal");
  EXPECT_THAT(store_->StartJournal("t"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is a symbolic link")));
  EXPECT_FALSE(fs::exists(Outside() + "/j"));
  // A save replaces the link itself; the file it pointed to is untouched.
  ASSERT_THAT(store_->Save(Named("s", 3)), IsOk());
  EXPECT_FALSE(fs::is_symlink(Root() + "/s.pb"));
  EXPECT_EQ(ReadFile(Outside() + "/secret.pb"), before);
}

TEST_F(StorageSafetyTest, AFileWhereADirectoryShouldBeIsInvalidArgument) {
  WriteFile(Root() + "/plain", "x");
  EXPECT_THAT(store_->Save(Named("plain/x")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(Root() + "/plain is a file")));
}

// --- modes (defect 14) ---

TEST_F(StorageSafetyTest, CassettesAndJournalsAre0600ByDefault) {
  const mode_t old_umask = ::umask(0);  // the umask does not widen them
  ASSERT_THAT(store_->Save(Named("a/b")), IsOk());
  auto journal = store_->StartJournal("j");
  ::umask(old_umask);
  ASSERT_THAT(journal, IsOk());
  EXPECT_EQ(ModeOf(Root() + "/a/b.pb"), 0600u);
  EXPECT_EQ(ModeOf(Root() + "/j.pb.journal"), 0600u);
}

TEST_F(StorageSafetyTest, TheFileModeIsConfigurable) {
  auto store =
      FileCassetteStore::Create(Root(), CassetteFormat::kJson, /*mode=*/0640);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Save(Named("shared")), IsOk());
  EXPECT_EQ(ModeOf(Root() + "/shared.json"), 0640u);
  auto journal = (*store)->StartJournal("shared");
  ASSERT_THAT(journal, IsOk());
  EXPECT_EQ(ModeOf(Root() + "/shared.pb.journal"), 0640u);
  // An existing cassette saved again gets the mode too.
  fs::permissions(Root() + "/shared.json", fs::perms(0644));
  ASSERT_THAT((*store)->Save(Named("shared")), IsOk());
  EXPECT_EQ(ModeOf(Root() + "/shared.json"), 0640u);
}

TEST_F(StorageSafetyTest, AModeWithoutOwnerReadWriteIsRefused) {
  for (mode_t mode : {mode_t{0400}, mode_t{0200}, mode_t{01600}}) {
    EXPECT_THAT(
        FileCassetteStore::Create(Root(), CassetteFormat::kBinary, mode),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("file mode")));
  }
}

// --- journals (defect 13 and two servers on one directory) ---

// RLIMIT_FSIZE makes writes beyond a size fail (EFBIG) like a full disk:
// the first write is cut short, the next ones fail, until it is lifted.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &previous_);
    Set(bytes);
  }
  void Set(rlim_t bytes) {
    rlimit limit = previous_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  void Lift() { EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &previous_), 0); }
  ~FileSizeLimit() {
    Lift();
    ::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit previous_{};
  sighandler_t previous_handler_;
};

TEST_F(StorageSafetyTest, ATransientWriteErrorLosesNoJournalEntry) {
  auto journal = store_->StartJournal("full");
  ASSERT_THAT(journal, IsOk());
  Journal& j = **journal;
  j.Append(Begin("full"));
  j.Append(Interaction(0));
  ASSERT_THAT(j.Flush(), IsOk());
  // Where the records end (direct writes pad the file to a block with
  // zeros, which read as empty entries).
  const uintmax_t good = j.AppendedBytes();
  {
    // "The disk is full": room for part of the next record only.
    FileSizeLimit limit(good + 100);
    j.Append(Interaction(1, 4000));
    EXPECT_THAT(j.Flush(), StatusIs(absl::StatusCode::kResourceExhausted,
                                    HasSubstr("cannot write journal")));
    // No torn record is left behind for recovery to stop at.
    EXPECT_EQ(fs::file_size(j.path()), good);
    j.Append(Interaction(2));
    EXPECT_THAT(j.Flush(),
                StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
    limit.Lift();  // space again
    j.Append(Interaction(3));
    EXPECT_THAT(j.Flush(), IsOk());
  }
  absl::StatusOr<v1::Cassette> recovered =
      RecoverJournal(ReadFile(j.path()), j.path());
  ASSERT_THAT(recovered, IsOk());
  ASSERT_EQ(recovered->interactions_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(recovered->interactions(i).index(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(recovered->interactions(1).http().response().body().size(), 4000u);
}

// Records waiting together go out in one write: a disk that fills
// in the middle of one keeps the records before it and cuts off the rest.
TEST_F(StorageSafetyTest, AWriteCutShortKeepsTheWholeRecordsBeforeIt) {
  auto journal = store_->StartJournal("cut");
  ASSERT_THAT(journal, IsOk());
  Journal& j = **journal;
  j.Append(Begin("cut"));
  ASSERT_THAT(j.Flush(), IsOk());
  const uintmax_t good = j.AppendedBytes();  // (see above)
  const v1::JournalEntry first = Interaction(0, 1000);
  const uintmax_t first_bytes =
      google::protobuf::io::CodedOutputStream::VarintSize32(
          static_cast<uint32_t>(first.ByteSizeLong())) +
      first.ByteSizeLong();
  {
    // Room for the first record and part of the second.
    FileSizeLimit limit(good + first_bytes + 500);
    j.Append(first);
    j.Append(Interaction(1, 4000));
    j.Append(Interaction(2, 10));
    EXPECT_THAT(j.Flush(), StatusIs(absl::StatusCode::kResourceExhausted,
                                    HasSubstr("cannot write journal")));
    EXPECT_EQ(fs::file_size(j.path()), good + first_bytes);
    limit.Lift();
    EXPECT_THAT(j.Flush(), IsOk());
  }
  absl::StatusOr<v1::Cassette> recovered =
      RecoverJournal(ReadFile(j.path()), j.path());
  ASSERT_THAT(recovered, IsOk());
  ASSERT_EQ(recovered->interactions_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recovered->interactions(i).index(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(recovered->interactions(1).http().response().body().size(), 4000u);
}

// A disk that fills at a block boundary in the middle of a direct write
// (whole blocks go out, see direct_append.h): the file keeps the whole
// records before it, and the rest follows once there is room.
TEST_F(StorageSafetyTest, ADiskFullAtABlockBoundaryKeepsTheWholeRecordsBefore) {
  auto journal = store_->StartJournal("blocks");
  ASSERT_THAT(journal, IsOk());
  Journal& j = **journal;
  j.Append(Begin("blocks"));
  ASSERT_THAT(j.Flush(), IsOk());
  constexpr int kRecords = 12;  // about 12.5 KB: past three blocks
  {
    FileSizeLimit limit(3 * 4096);
    for (int i = 0; i < kRecords; ++i) j.Append(Interaction(i, 1000));
    EXPECT_THAT(j.Flush(), StatusIs(absl::StatusCode::kResourceExhausted,
                                    HasSubstr("cannot write journal")));
    absl::StatusOr<v1::Cassette> partial =
        RecoverJournal(ReadFile(j.path()), j.path());
    ASSERT_THAT(partial, IsOk());
    EXPECT_GT(partial->interactions_size(), 8);
    EXPECT_LT(partial->interactions_size(), kRecords);
    for (int i = 0; i < partial->interactions_size(); ++i) {
      EXPECT_EQ(partial->interactions(i).index(), static_cast<uint64_t>(i));
    }
    limit.Lift();
    EXPECT_THAT(j.Flush(), IsOk());
  }
  j.Append(Interaction(kRecords, 10));
  ASSERT_THAT(j.Flush(), IsOk());
  absl::StatusOr<v1::Cassette> recovered =
      RecoverJournal(ReadFile(j.path()), j.path());
  ASSERT_THAT(recovered, IsOk());
  ASSERT_EQ(recovered->interactions_size(), kRecords + 1);
  for (int i = 0; i <= kRecords; ++i) {
    EXPECT_EQ(recovered->interactions(i).index(), static_cast<uint64_t>(i));
    EXPECT_EQ(recovered->interactions(i).http().response().body().size(),
              i < kRecords ? 1000u : 10u);
  }
}

// Entries appended from several threads while the writer writes batch
// after batch (the runs' memory passing back and forth), with flushes at
// odd moments and one record that supersedes the ones before it: every
// entry after that record is recovered, once, in the order appended.
TEST_F(StorageSafetyTest, EntriesAppendedFromSeveralThreadsAreAllRecovered) {
  auto journal = store_->StartJournal("many");
  ASSERT_THAT(journal, IsOk());
  Journal& j = **journal;
  j.Append(Begin("many"));
  absl::Mutex order;  // numbers the entries in the order they are appended
  int next = 0;
  bool replaced = false;
  auto append = [&](int count) {
    HttpInteractionRecord record;  // each thread's, as a recorder's
    for (int n = 0; n < count; ++n) {
      absl::MutexLock lock(&order);
      if (next == 1500 && !replaced) {
        replaced = true;
        j.Replace(Begin("many"));  // what a catch-up of secrets appends
      }
      core::HttpRequest request{.url = "http://h/" + std::to_string(next)};
      core::HttpResponse response{
          .body = std::string(static_cast<size_t>(next % 700), 'x')};
      record.SetHttp(request, response, {}, "");
      j.AppendRecord(record.Finish(static_cast<uint64_t>(next++), absl::Now()));
      if (n % 997 == 0) {
        EXPECT_THAT(j.Flush(), IsOk());
      }
    }
  };
  std::thread a(append, 2000);
  std::thread b(append, 2000);
  a.join();
  b.join();
  ASSERT_THAT(j.Flush(), IsOk());
  absl::StatusOr<v1::Cassette> recovered =
      RecoverJournal(ReadFile(j.path()), j.path());
  ASSERT_THAT(recovered, IsOk());
  ASSERT_EQ(recovered->interactions_size(), 4000 - 1500);
  for (int i = 0; i < recovered->interactions_size(); ++i) {
    const v1::Interaction& it = recovered->interactions(i);
    ASSERT_EQ(it.index(), static_cast<uint64_t>(1500 + i));
    EXPECT_EQ(it.http().request().url(),
              "http://h/" + std::to_string(1500 + i));
    EXPECT_EQ(it.http().response().body().size(),
              static_cast<size_t>((1500 + i) % 700));
  }
}

TEST_F(StorageSafetyTest, AWrittenRunsMemoryServesTheNextRun) {
  auto journal = store_->StartJournal("reuse");
  ASSERT_THAT(journal, IsOk());
  Journal& j = **journal;
  j.Append(Begin("reuse"));
  HttpInteractionRecord record;
  record.SetHttp({}, core::HttpResponse{.body = std::string(1024, 'x')}, {},
                 "");
  for (int batch = 0; batch < 3; ++batch) {
    for (int n = 0; n < 100; ++n) {
      j.AppendRecord(
          record.Finish(static_cast<uint64_t>(batch * 100 + n), absl::Now()));
    }
    ASSERT_THAT(j.Flush(), IsOk());
    // Kept: at least one written record's worth (an empty string's
    // short buffer holds 15 bytes).
    EXPECT_GE(j.SpareRunCapacityForTest(), size_t{1024}) << "batch " << batch;
  }
}

TEST_F(StorageSafetyTest, AFailedWriteIsTriedAgainWithoutNewEntries) {
  auto journal = store_->StartJournal("retry");
  ASSERT_THAT(journal, IsOk());
  FileSizeLimit limit(4);
  (*journal)->Append(Begin("retry"));
  (*journal)->Append(Interaction(0, 100));
  EXPECT_THAT((*journal)->Flush(),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  limit.Lift();
  // No Append and no Flush: the writer tries again on its own.
  const std::string path = (*journal)->path();
  const absl::Time deadline = absl::Now() + 5 * Journal::kRetryInterval;
  int recovered = -1;
  while (recovered < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    absl::StatusOr<v1::Cassette> c = RecoverJournal(ReadFile(path), path);
    recovered = c.ok() ? c->interactions_size() : -1;
  }
  EXPECT_EQ(recovered, 1);
  EXPECT_THAT((*journal)->Flush(), IsOk());
}

TEST_F(StorageSafetyTest, RecoverySkipsAJournalAnotherServerHolds) {
  auto live = store_->StartJournal("live");
  ASSERT_THAT(live, IsOk());
  (*live)->Append(Begin("live"));
  ASSERT_THAT((*live)->Flush(), IsOk());
  // A second server starting on the same directory.
  auto other = FileCassetteStore::Create(Root());
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(
      (*other)->RecoverJournals(),
      ElementsAre(AllOf(HasSubstr(Root() + "/live.pb.journal"),
                        HasSubstr("is live"), HasSubstr("left alone"))));
  EXPECT_TRUE(fs::exists(Root() + "/live.pb.journal"));
  EXPECT_THAT(store_->Exists("live"), IsOkAndHolds(false));
  // Nor can it record the same cassette over it.
  EXPECT_THAT((*other)->StartJournal("live"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("locked by another process")));
  // Once the recording ends (it saved and removed its journal), nothing is
  // left to recover.
  ASSERT_THAT(store_->Save(Named("live")), IsOk());
  ASSERT_THAT((*live)->Remove(), IsOk());
  live->reset();
  EXPECT_THAT((*other)->RecoverJournals(), IsEmpty());
}

TEST_F(StorageSafetyTest, AJournalLeftInPlaceIsNeverTruncated) {
  const std::string path = Root() + "/kept.pb.journal";
  WriteFile(path, "\x05garbage and more");
  EXPECT_THAT(store_->RecoverJournals(),
              ElementsAre(AllOf(HasSubstr("cannot recover " + path),
                                HasSubstr("left in place"))));
  EXPECT_THAT(store_->StartJournal("kept"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path),
                             HasSubstr("interrupted recording that was not "
                                       "recovered"))));
  EXPECT_EQ(ReadFile(path), "\x05garbage and more");
}

TEST_F(StorageSafetyTest, AnEmptyJournalIsRemovedAtRecovery) {
  WriteFile(Root() + "/empty.pb.journal", "");
  EXPECT_THAT(store_->RecoverJournals(), IsEmpty());
  EXPECT_THAT(dir_.Files(), IsEmpty());
}

}  // namespace
}  // namespace matgto::cassette
