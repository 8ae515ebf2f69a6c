// WatchEvents against a real server and upstream (libcurl through the
// proxy): a session's exchange and miss arrive with their details, Cancel
// ends the stream from another thread, and a server that wants tokens
// refuses a reader without one.
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "matgto/client.h"
#include "matgto/testing/gtest.h"
#include "matgto/testing/local_server.h"
#include "support.h"

namespace matgto {
namespace {

using test::Get;
using test::Upstream;

::testing::Environment* const kServer =
    ::testing::AddGlobalTestEnvironment(new testing::ServerEnvironment);

Client& C() { return testing::SharedClient(); }

TEST(EventsTest, SessionExchangeAndMissArrive) {
  Upstream up;
  {
    Session rec = C().Record("cpp/watch");
    ASSERT_EQ(Get(up.Url("/known"), rec.proxy_url()).status, 200);
  }
  Session s = C().Replay("cpp/watch");
  EventReader events = s.WatchEvents();

  ASSERT_EQ(Get(up.Url("/known"), s.proxy_url()).status, 200);
  v1::Event e;
  ASSERT_TRUE(events.Next(&e));
  ASSERT_TRUE(e.has_exchange()) << e.DebugString();
  EXPECT_TRUE(e.has_time());
  const v1::ExchangeEvent& x = e.exchange();
  EXPECT_EQ(x.session(), s.id());
  EXPECT_EQ(x.cassette(), "cpp/watch");
  EXPECT_EQ(x.method(), "GET");
  EXPECT_EQ(x.url(), up.Url("/known"));
  EXPECT_EQ(x.status(), 200);
  EXPECT_EQ(x.result(), v1::RESULT_REPLAYED);
  EXPECT_EQ(x.mode(), v1::REPLAY);

  ASSERT_EQ(Get(up.Url("/unknown"), s.proxy_url()).status, 599);
  std::optional<v1::MissEvent> miss;
  std::optional<v1::ExchangeEvent> missed;
  while (!miss || !missed) {
    ASSERT_TRUE(events.Next(&e));
    if (e.has_miss()) {
      miss = e.miss();
    } else if (e.has_exchange()) {
      missed = e.exchange();
    } else {
      FAIL() << "unexpected event " << e.DebugString();
    }
  }
  EXPECT_EQ(missed->status(), 599);
  EXPECT_EQ(missed->result(), v1::RESULT_MISSED);
  EXPECT_EQ(missed->url(), up.Url("/unknown"));
  EXPECT_EQ(miss->session(), s.id());
  EXPECT_EQ(miss->miss().method(), "GET");
  EXPECT_EQ(miss->miss().url(), up.Url("/unknown"));
  EXPECT_EQ(miss->miss().reason(), "no-match");
  ASSERT_GT(miss->miss().closest_size(), 0);
  EXPECT_EQ(miss->miss().closest(0).url(), up.Url("/known"));
  EXPECT_NE(miss->explanation().find("/unknown"), std::string::npos)
      << miss->explanation();
  EXPECT_NE(miss->explanation().find("/known"), std::string::npos)
      << miss->explanation();
}

TEST(EventsTest, CancelFromAnotherThreadEndsNext) {
  EventReader events = C().WatchEvents();
  std::future<bool> next = std::async(std::launch::async, [&events] {
    v1::Event e;
    return events.Next(&e);
  });
  events.Cancel();
  ASSERT_EQ(next.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "Next still blocked 10s after Cancel";
  EXPECT_FALSE(next.get());
  v1::Event e;
  EXPECT_FALSE(events.Next(&e));
}

TEST(EventsTest, NeedsAReadToken) {
  std::string dir = test::TempDir();
  std::string tokens = dir + "/tokens";
  std::ofstream(tokens) << "read-token-for-watching read\n"
                        << "team-token-for-watching write team-a/\n";
  std::filesystem::permissions(tokens, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write);
  testing::LocalServer server({.extra_args = {"--auth-tokens", tokens}});
  Client none = Client::Connect(server.control_address(), {.token = ""});
  EXPECT_THROW(
      {
        EventReader r = none.WatchEvents();
        v1::Event e;
        r.Next(&e);
      },
      Unauthenticated);
  // Refused by WatchEvents itself (GetStatus is allowed): a prefix token
  // asking for a cassette outside its prefix; Next throws it.
  Client team = Client::Connect(server.control_address(),
                                {.token = "team-token-for-watching"});
  try {
    EventReader r = team.WatchEvents({.cassette = "elsewhere/x"});
    v1::Event e;
    r.Next(&e);
    ADD_FAILURE() << "a team-a/ token watched elsewhere/x";
  } catch (const PermissionDenied& e) {
    EXPECT_EQ(e.op(), "WatchEvents");
  }
  Client reader = Client::Connect(server.control_address(),
                                  {.token = "read-token-for-watching"});
  EventReader r = reader.WatchEvents({.session = "default"});
  r.Cancel();
  v1::Event e;
  EXPECT_FALSE(r.Next(&e));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace matgto
