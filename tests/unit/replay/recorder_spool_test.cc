// A recorder with a journal keeps its interactions in the journal alone
// (issue 12: recording memory does not grow with the recording): what it
// saves must be exactly what the same recording kept in memory saves.
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/cassette/journal.h"
#include "server/core/clock.h"
#include "server/replay/recorder.h"
#include "server/replay/rules.h"
#include "tests/unit/replay/mode_test_util.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::replay {
namespace {

using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;

std::shared_ptr<const cassette::Redactor> TokenRedactor() {
  v1::RedactRules rules;
  rules.add_headers("authorization");
  auto config = ToRedactConfig(rules);
  EXPECT_TRUE(config.ok()) << config.status();
  return std::make_shared<const cassette::Redactor>(*std::move(config));
}

// The same recording: exchanges, a WebSocket session with messages
// interleaved with exchanges, a close, and a secret learned after an
// earlier response echoed it.
void Record(Recorder& r) {
  r.AddHttp(Req("GET", "http://h/a"), Res("echo tok-0123456789abc"), Timing());
  const uint64_t ws = r.BeginWebSocket(
      Req("GET", "ws://h/feed"), core::HttpResponse{.status = 101}, kStart);
  r.AddWsMessage(
      ws, core::WsMessage{.direction = core::WsDirection::kClientToServer,
                          .kind = core::WsKind::kText,
                          .payload = "hello"});
  core::HttpRequest with_token = Req("POST", "http://h/b", "body");
  with_token.headers.push_back({"Authorization", "tok-0123456789abc"});
  Recorder::Stored stored;
  const std::optional<uint64_t> index =
      r.AddHttp(with_token, Res("done"), Timing(), &stored);
  ASSERT_EQ(index, 2u);
  EXPECT_EQ(*core::FindHeader(stored.request.headers, "authorization"),
            "[REDACTED]");
  EXPECT_EQ(stored.response.body, "done");
  r.AddWsMessage(
      ws, core::WsMessage{.direction = core::WsDirection::kServerToClient,
                          .kind = core::WsKind::kBinary,
                          .payload = std::string("\0\1", 2)});
  r.SetWsClose(ws, core::WsClose{.code = 1000,
                                 .reason = "bye",
                                 .since_open = absl::Milliseconds(250)});
  r.SetWsClose(ws, core::WsClose{.code = 4000, .reason = "second"});
  r.AddWsMessage(7, core::WsMessage{.payload = "no such interaction"});
}

TEST(RecorderSpoolTest, JournaledRecordingSavesWhatAnInMemoryOneSaves) {
  core::FakeClock clock{kStart};
  v1::Cassette start;
  start.set_name("spool");
  Recorder in_memory(start, false, TokenRedactor(), clock, nullptr);
  Record(in_memory);

  matgto::testing::TempDir dir;
  auto journal = cassette::Journal::Open(dir.path() + "/spool.pb.journal");
  ASSERT_TRUE(journal.ok()) << journal.status();
  Recorder spooled(start, false, TokenRedactor(), clock, *std::move(journal));
  Record(spooled);

  EXPECT_EQ(spooled.size(), in_memory.size());
  absl::StatusOr<v1::Cassette> a = in_memory.Snapshot();
  absl::StatusOr<v1::Cassette> b = spooled.Snapshot();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->DebugString(), b->DebugString());
  // The echo stored before the token was learned is scrubbed in both.
  EXPECT_EQ(b->interactions(0).http().response().body(), "echo [REDACTED]");
  EXPECT_EQ(b->interactions(1).websocket().messages_size(), 2);
  EXPECT_EQ(b->interactions(1).websocket().close().reason(), "bye");
  EXPECT_EQ(b->interactions(1).websocket().timing().total().nanos(),
            250'000'000);
}

TEST(RecorderSpoolTest, AJournalThatCannotBeReadBackIsAnErrorNotALoss) {
  core::FakeClock clock{kStart};
  v1::Cassette start;
  start.set_name("gone");
  matgto::testing::TempDir dir;
  const std::string path = dir.path() + "/gone.pb.journal";
  auto journal = cassette::Journal::Open(path);
  ASSERT_TRUE(journal.ok()) << journal.status();
  Recorder spooled(start, false, TokenRedactor(), clock, *std::move(journal));
  spooled.AddHttp(Req("GET", "http://h/a"), Res("a"), Timing());
  ASSERT_TRUE(spooled.journal()->Flush().ok());
  ASSERT_EQ(::unlink(path.c_str()), 0);
  absl::StatusOr<v1::Cassette> snapshot = spooled.Snapshot();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_NE(snapshot.status().message().find(path), std::string::npos)
      << snapshot.status();
}

}  // namespace
}  // namespace matgto::replay
