// Reading a journal back (journal_read.cc): the recording it holds, with
// the WebSocket entries put back into the sessions they name, superseded
// entries ignored and a torn tail left out; and saving it one interaction
// at a time, to the same bytes as saving it whole.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/journal.h"
#include "server/cassette/store.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MATGTO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MATGTO_ASAN 1
#endif
#ifdef MATGTO_ASAN
// ASan's count of the bytes its allocator holds (declared by hand: GCC ships
// asan_interface.h but not allocator_interface.h, which declares it).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace matgto::cassette {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::matgto::testing::TempDir;
using ::testing::HasSubstr;

// Bytes the heap holds now (ASan's allocator keeps its own count).
size_t HeapInUse() {
#ifdef MATGTO_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

std::string Record(const v1::JournalEntry& entry) {
  std::string out;
  google::protobuf::io::StringOutputStream sink(&out);
  {
    google::protobuf::io::CodedOutputStream coded(&sink);
    coded.WriteVarint32(static_cast<uint32_t>(entry.ByteSizeLong()));
    entry.SerializeWithCachedSizes(&coded);
  }
  return out;
}

v1::Interaction Http(uint64_t index, const std::string& path, size_t body = 0) {
  v1::Interaction it;
  it.set_index(index);
  it.mutable_http()->mutable_request()->set_method("GET");
  it.mutable_http()->mutable_request()->set_url("http://h" + path);
  it.mutable_http()->mutable_response()->set_status(200);
  it.mutable_http()->mutable_response()->set_body(std::string(body, 'b'));
  return it;
}

v1::Interaction Ws(uint64_t index, const std::string& path) {
  v1::Interaction it;
  it.set_index(index);
  it.mutable_websocket()->mutable_upgrade_request()->set_url("ws://h" + path);
  return it;
}

std::string Begin(const std::string& name,
                  std::vector<v1::Interaction> interactions) {
  v1::JournalEntry e;
  e.mutable_begin()->set_name(name);
  for (v1::Interaction& it : interactions) {
    e.mutable_begin()->add_interactions()->Swap(&it);
  }
  return Record(e);
}

std::string Add(v1::Interaction it) {
  v1::JournalEntry e;
  e.mutable_interaction()->Swap(&it);
  return Record(e);
}

std::string Message(uint64_t index, const std::string& payload) {
  v1::JournalEntry e;
  e.mutable_ws_message()->set_interaction_index(index);
  e.mutable_ws_message()->mutable_message()->set_payload(payload);
  return Record(e);
}

std::string Close(uint64_t index, uint32_t code, int64_t seconds) {
  v1::JournalEntry e;
  e.mutable_ws_close()->set_interaction_index(index);
  e.mutable_ws_close()->mutable_close()->set_code(code);
  e.mutable_ws_close()->mutable_close()->mutable_since_open()->set_seconds(
      seconds);
  return Record(e);
}

std::vector<std::string> Payloads(const v1::Interaction& it) {
  std::vector<std::string> out;
  for (const v1::WsMessage& m : it.websocket().messages()) {
    out.push_back(m.payload());
  }
  return out;
}

TEST(JournalReadTest, WebSocketEntriesGoBackIntoTheSessionsTheyName) {
  std::string bytes = Begin("c", {Http(0, "/0"), Ws(1, "/ws1")});
  bytes += Message(1, "m1");  // into a session of the start entry
  bytes += Add(Http(2, "/2"));
  bytes += Add(Ws(3, "/ws3"));
  bytes += Message(3, "m2");
  bytes += Message(1, "m3");
  bytes += Close(3, 1000, 4);
  bytes += Message(7, "nowhere");   // names nothing recorded
  bytes += Message(2, "not-a-ws");  // names an HTTP exchange
  const std::string torn = Add(Http(4, "/torn"));
  bytes += torn.substr(0, torn.size() - 3);  // the crash cut it short

  absl::StatusOr<v1::Cassette> c = RecoverJournal(bytes, "j");
  ASSERT_THAT(c.status(), IsOk());
  EXPECT_EQ(c->name(), "c");
  ASSERT_EQ(c->interactions_size(), 4);
  EXPECT_EQ(c->interactions(0).http().request().url(), "http://h/0");
  EXPECT_EQ(Payloads(c->interactions(1)),
            (std::vector<std::string>{"m1", "m3"}));
  EXPECT_FALSE(c->interactions(1).websocket().has_close());
  EXPECT_EQ(c->interactions(2).http().request().url(), "http://h/2");
  EXPECT_EQ(Payloads(c->interactions(3)), (std::vector<std::string>{"m2"}));
  EXPECT_EQ(c->interactions(3).websocket().close().code(), 1000u);
  EXPECT_EQ(c->interactions(3).websocket().timing().total().seconds(), 4);
}

TEST(JournalReadTest, AnEntryNamingASessionNotYetRecordedIsLeftOut) {
  // Interaction 1 is recorded after the message that names it.
  std::string bytes = Begin("c", {Http(0, "/0")});
  bytes += Message(1, "early");
  bytes += Add(Ws(1, "/ws"));
  bytes += Message(1, "late");
  absl::StatusOr<v1::Cassette> c = RecoverJournal(bytes, "j");
  ASSERT_THAT(c.status(), IsOk());
  ASSERT_EQ(c->interactions_size(), 2);
  EXPECT_EQ(Payloads(c->interactions(1)), (std::vector<std::string>{"late"}));
}

TEST(JournalReadTest, TheLastStartEntrySupersedesWhatCameBefore) {
  // What Journal::Replace leaves: the old records overwritten with zeros
  // (each reading as an empty entry), then a start entry with everything.
  std::string old = Begin("old", {Http(0, "/old")});
  old += Add(Ws(1, "/ws"));
  old += Message(1, "superseded");
  std::string bytes(old.size(), '\0');
  bytes += Begin("new", {Http(0, "/a"), Ws(1, "/ws")});
  bytes += Message(1, "kept");
  bytes += Add(Http(2, "/b"));
  absl::StatusOr<v1::Cassette> c = RecoverJournal(bytes, "j");
  ASSERT_THAT(c.status(), IsOk());
  EXPECT_EQ(c->name(), "new");
  ASSERT_EQ(c->interactions_size(), 3);
  EXPECT_EQ(c->interactions(0).http().request().url(), "http://h/a");
  EXPECT_EQ(Payloads(c->interactions(1)), (std::vector<std::string>{"kept"}));
  EXPECT_EQ(c->interactions(2).http().request().url(), "http://h/b");
}

TEST(JournalReadTest, WithoutAReadableStartEntryItIsDataLoss) {
  EXPECT_THAT(RecoverJournal(Add(Http(0, "/0")), "j").status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("no readable start entry")));
  EXPECT_THAT(RecoverJournal("", "j").status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("start entry")));
}

// A journal longer than the 2 GiB protobuf reads in one stream (a load
// test's recording). Its middle here is 2.25 GiB of zeros, which the reader
// takes as superseded entries, so the test file is sparse: the entries after
// it start past 2 GiB, and are read, saved and looked up at their offsets
// like any other.
TEST(JournalReadTest, AJournalLongerThan2GiBIsReadToItsEnd) {
  TempDir dir;
  const std::string path = dir.path() + "/big.pb.journal";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string head =
      Begin("big", {Http(0, "/0"), Ws(1, "/ws1")}) + Add(Http(2, "/2"));
  std::string tail = Message(1, "after the gap");
  tail += Add(Http(3, "/3", 1024));
  tail += Close(1, 1000, 9);
  tail += Add(Ws(4, "/ws4"));
  tail += Message(4, "last");
  const off_t gap = (off_t{9} << 28);  // 2.25 GiB
  ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 0),
            static_cast<ssize_t>(head.size()));
  const off_t tail_at = static_cast<off_t>(head.size()) + gap;
  ASSERT_EQ(::pwrite(fd, tail.data(), tail.size(), tail_at),
            static_cast<ssize_t>(tail.size()));
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  ASSERT_GT(st.st_size, off_t{INT32_MAX});
  if (st.st_blocks * 512 > (off_t{64} << 20)) {
    ::close(fd);
    GTEST_SKIP() << "the file system under " << dir.path()
                 << " does not keep holes: the test would write 2.25 GiB";
  }

  absl::StatusOr<Recording> recording = ReadJournal(fd, path, false);
  ASSERT_THAT(recording.status(), IsOk());
  std::vector<v1::Interaction> read;
  ASSERT_THAT(recording->ForEach([&](const v1::Interaction& it) {
    read.push_back(it);
    return absl::OkStatus();
  }),
              IsOk());
  ASSERT_EQ(read.size(), 5u);
  EXPECT_EQ(read[2].http().request().url(), "http://h/2");
  EXPECT_EQ(read[3].http().response().body(), std::string(1024, 'b'));
  EXPECT_EQ(Payloads(read[1]), (std::vector<std::string>{"after the gap"}));
  EXPECT_EQ(read[1].websocket().close().code(), 1000u);
  EXPECT_EQ(Payloads(read[4]), (std::vector<std::string>{"last"}));

  // Whole, it would be one protobuf message over 2 GiB: refused before
  // anything is read.
  EXPECT_THAT(recording->Whole().status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("more than the 2 GiB")));

  // A binary cassette is written from it one interaction at a time.
  absl::StatusOr<std::unique_ptr<FileCassetteStore>> store =
      FileCassetteStore::Create(dir.path() + "/cassettes");
  ASSERT_THAT(store.status(), IsOk());
  ASSERT_THAT((*store)->SaveRecording(*recording).status(), IsOk());
  absl::StatusOr<v1::Cassette> saved = (*store)->Load("big");
  ASSERT_THAT(saved.status(), IsOk());
  ASSERT_EQ(saved->interactions_size(), 5);
  EXPECT_EQ(Payloads(saved->interactions(4)),
            (std::vector<std::string>{"last"}));
}

// The same limit crossed for real: a CodedInputStream reads at most the
// limit in its life (2 GiB; 4 KiB here), so a reader that used one stream for
// the whole file stopped there and lost every entry after it. 400 entries of
// ~1.1 KiB and a 64 KiB run of zeros, read through 4 KiB streams.
TEST(JournalReadTest, EachRecordIsReadPastTheStreamLimit) {
  TempDir dir;
  const std::string path = dir.path() + "/long.pb.journal";
  std::string bytes = Begin("long", {Ws(0, "/ws")});
  for (uint64_t i = 1; i <= 200; ++i) {
    bytes += Add(Http(i, "/" + std::to_string(i), 1024));
  }
  bytes += std::string(64 << 10, '\0');
  bytes += Message(0, "late");
  for (uint64_t i = 201; i <= 400; ++i) {
    bytes += Add(Http(i, "/" + std::to_string(i), 1024));
  }
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  absl::StatusOr<Recording> recording =
      ReadJournal(fd, path, false, /*stream_bytes=*/4096);
  ASSERT_THAT(recording.status(), IsOk());
  absl::StatusOr<v1::Cassette> whole = recording->Whole();
  ASSERT_THAT(whole.status(), IsOk());
  ASSERT_EQ(whole->interactions_size(), 401);
  EXPECT_EQ(Payloads(whole->interactions(0)),
            (std::vector<std::string>{"late"}));
  EXPECT_EQ(whole->interactions(400).http().request().url(), "http://h/400");
  EXPECT_EQ(whole->interactions(400).http().response().body(),
            std::string(1024, 'b'));
}

class JournalSaveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FileCassetteStore>> store =
        FileCassetteStore::Create(dir_.path());
    ASSERT_THAT(store.status(), IsOk());
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<Journal>> journal =
        store_->StartJournal("rec");
    ASSERT_THAT(journal.status(), IsOk());
    journal_ = *std::move(journal);
  }
  // A recording of `n` exchanges with `body` bytes each, and a WebSocket
  // session with one message.
  void Fill(int n, size_t body) {
    v1::JournalEntry begin;
    begin.mutable_begin()->set_name("rec");
    journal_->Append(begin);
    for (int i = 0; i < n; ++i) {
      v1::JournalEntry e;
      *e.mutable_interaction() =
          Http(static_cast<uint64_t>(i), "/" + std::to_string(i), body);
      journal_->Append(e);
    }
    v1::JournalEntry ws;
    *ws.mutable_interaction() = Ws(static_cast<uint64_t>(n), "/ws");
    journal_->Append(ws);
    v1::JournalEntry m;
    m.mutable_ws_message()->set_interaction_index(static_cast<uint64_t>(n));
    m.mutable_ws_message()->mutable_message()->set_payload("hello");
    journal_->Append(m);
  }
  static std::string FileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  TempDir dir_;
  std::unique_ptr<FileCassetteStore> store_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalSaveTest, AStreamedSaveWritesTheBytesAWholeSaveWrites) {
  Fill(50, 100);
  absl::StatusOr<v1::Cassette> whole = journal_->Recover();
  ASSERT_THAT(whole.status(), IsOk());
  whole->set_name("whole");
  absl::StatusOr<std::string> whole_path = store_->Save(*whole);
  ASSERT_THAT(whole_path.status(), IsOk());

  absl::StatusOr<Recording> recording = journal_->ReadBack();
  ASSERT_THAT(recording.status(), IsOk());
  recording->head().set_name("whole");  // the same name: the same bytes
  // Remove() does not take the recording's bytes away.
  ASSERT_THAT(journal_->Remove(), IsOk());
  std::filesystem::rename(*whole_path, *whole_path + ".first");
  absl::StatusOr<std::string> streamed = store_->SaveRecording(*recording);
  ASSERT_THAT(streamed.status(), IsOk());
  EXPECT_EQ(FileBytes(*streamed), FileBytes(*whole_path + ".first"));
  EXPECT_EQ(recording->interactions(), 51u);
  EXPECT_GT(recording->bytes(), 50u * 100u);

  absl::StatusOr<v1::Cassette> loaded = store_->Load("whole");
  ASSERT_THAT(loaded.status(), IsOk());
  ASSERT_EQ(loaded->interactions_size(), 51);
  EXPECT_EQ(Payloads(loaded->interactions(50)),
            (std::vector<std::string>{"hello"}));
}

TEST_F(JournalSaveTest, AStreamedSaveHoldsOneInteractionAtATime) {
  // 2,000 exchanges of 16 KiB: 32 MiB of recording. Saving it whole (as
  // before) held all of it at once; streamed, the heap never grows by more
  // than a few interactions and the write buffer.
  constexpr int kExchanges = 2000;
  constexpr size_t kBody = 16 << 10;
  Fill(kExchanges, kBody);
  absl::StatusOr<Recording> recording = journal_->ReadBack();
  ASSERT_THAT(recording.status(), IsOk());
  const size_t before = HeapInUse();
  size_t peak = 0;
  recording->AddTransform([&](v1::Interaction&) {
    const size_t now = HeapInUse();
    if (now > before) peak = std::max(peak, now - before);
  });
  absl::StatusOr<std::string> saved = store_->SaveRecording(*recording);
  ASSERT_THAT(saved.status(), IsOk());
  EXPECT_EQ(recording->interactions(), kExchanges + 1u);
  EXPECT_LT(peak, size_t{4} << 20) << "heap grew by " << peak << " bytes";
  // And the cassette holds every body.
  absl::StatusOr<v1::Cassette> loaded = store_->Load("rec");
  ASSERT_THAT(loaded.status(), IsOk());
  ASSERT_EQ(loaded->interactions_size(), kExchanges + 1);
  EXPECT_EQ(loaded->interactions(kExchanges - 1).http().response().body(),
            std::string(kBody, 'b'));
}

TEST_F(JournalSaveTest, ARecordingCanBeWrittenTwice) {
  Fill(3, 10);
  absl::StatusOr<Recording> recording = journal_->ReadBack();
  ASSERT_THAT(recording.status(), IsOk());
  absl::StatusOr<v1::Cassette> first = recording->Whole();
  absl::StatusOr<v1::Cassette> second = recording->Whole();
  ASSERT_THAT(first.status(), IsOk());
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(first->SerializeAsString(), second->SerializeAsString());
  EXPECT_EQ(first->interactions_size(), 4);
}

TEST_F(JournalSaveTest, EntriesAppendedAfterTheReadBackAreNotInIt) {
  Fill(3, 10);
  absl::StatusOr<Recording> recording = journal_->ReadBack();
  ASSERT_THAT(recording.status(), IsOk());
  v1::JournalEntry later;
  *later.mutable_interaction() = Http(5, "/later");
  journal_->Append(later);
  ASSERT_THAT(journal_->Flush(), IsOk());
  absl::StatusOr<v1::Cassette> whole = recording->Whole();
  ASSERT_THAT(whole.status(), IsOk());
  EXPECT_EQ(whole->interactions_size(), 4);
}

}  // namespace
}  // namespace matgto::cassette
