// The GoogleTest helpers: MATGTO_CASSETTE(), CassetteTest, and the failure a
// replay miss adds to the test (gtest-spi for the scope, a subprocess for
// the fixture, whose failure lands in TearDown).
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "matgto/testing/gtest.h"
#include "support.h"

namespace matgto {
namespace {

using test::Get;
using test::Upstream;

::testing::Environment* const kServer =
    ::testing::AddGlobalTestEnvironment(new testing::ServerEnvironment);

TEST(GtestHelper, NamesTheCassetteAfterTheTest) {
  auto cassette = MATGTO_CASSETTE();
  ASSERT_TRUE(cassette.ok());
  EXPECT_EQ(cassette.name(), "GtestHelper/NamesTheCassetteAfterTheTest");
  EXPECT_TRUE(cassette.session().id().starts_with("s-"));
  EXPECT_NE(cassette.session().info().owner().find("gtest GtestHelper/"),
            std::string::npos);
}

TEST(GtestHelper, AutoRecordsThenReplaysOffline) {
  auto up = std::make_unique<Upstream>();
  const std::string url = up->Url("/auto");
  std::string body;
  {
    auto cassette =
        MATGTO_CASSETTE(testing::CassetteScopeOptions{.name = "gtest/auto"});
    EXPECT_EQ(cassette.session().mode(), v1::RECORD);  // AUTO, cassette missing
    test::HttpResult r = Get(url, cassette.proxy_url());
    ASSERT_EQ(r.status, 200) << r.error;
    body = r.body;
  }
  up.reset();  // offline
  auto cassette =
      MATGTO_CASSETTE(testing::CassetteScopeOptions{.name = "gtest/auto"});
  EXPECT_EQ(cassette.session().mode(), v1::REPLAY);
  test::HttpResult r = Get(url, cassette.proxy_url());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
}

void RecordOne(const std::string& name, const std::string& url) {
  Session s = testing::SharedClient().Record(name);
  ASSERT_EQ(Get(url, s.proxy_url()).status, 200);
}

// A replayed cassette that is asked for something it does not hold.
void MissOnce(const std::string& name, const std::string& url, bool warn_only) {
  auto cassette = MATGTO_CASSETTE(
      testing::CassetteScopeOptions{.name = name,
                                    .session = {.mode = v1::REPLAY},
                                    .misses_as_warnings = warn_only});
  Get(url, cassette.proxy_url());
}

TEST(GtestHelper, ReplayMissFailsTheTestWithTheExplanation) {
  Upstream up;
  RecordOne("gtest/miss", up.Url("/items?page=1"));
  EXPECT_NONFATAL_FAILURE(
      MissOnce("gtest/miss", up.Url("/items?page=2"), false),
      "query: recorded \"page=1\", live \"page=2\"");
}

TEST(GtestHelper, MissesAsWarningsDoNotFail) {
  Upstream up;
  RecordOne("gtest/warn", up.Url("/w?a=1"));
  MissOnce("gtest/warn", up.Url("/w?a=2"), true);
  EXPECT_FALSE(HasFailure());
}

TEST(GtestHelper, ReplayOfAMissingCassetteFails) {
  EXPECT_NONFATAL_FAILURE(
      MATGTO_CASSETTE(testing::CassetteScopeOptions{
          .name = "gtest/never-recorded", .session = {.mode = v1::REPLAY}}),
      "cannot use cassette \"gtest/never-recorded\"");
}

class FixtureTest : public testing::CassetteTest {};

TEST_F(FixtureTest, GivesEachTestItsOwnSession) {
  EXPECT_EQ(cassette_name(), "FixtureTest/GivesEachTestItsOwnSession");
  Upstream up;
  EXPECT_EQ(Get(up.Url("/f"), proxy_url()).status, 200);
  EXPECT_EQ(session().Status().recorded(), 1u);
}

// Run only by FixtureMissFailsTheTest, in a child process: a fixture whose
// replay misses.
class FixtureMissDemo : public testing::CassetteTest {
 protected:
  testing::CassetteScopeOptions Options() override {
    return {.name = "gtest/fixture-miss", .session = {.mode = v1::REPLAY}};
  }
};

TEST_F(FixtureMissDemo, DISABLED_Misses) {
  const char* url = std::getenv("MATGTO_DEMO_URL");
  ASSERT_NE(url, nullptr);
  Get(url, proxy_url());
}

TEST(GtestHelper, FixtureMissFailsTheTest) {
  Upstream up;
  RecordOne("gtest/fixture-miss", up.Url("/fixture?v=1"));
  setenv("MATGTO_DEMO_URL", up.Url("/fixture?v=2").c_str(), 1);
  std::string out;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  int rc = test::Run(self +
                         " --gtest_also_run_disabled_tests "
                         "--gtest_filter=FixtureMissDemo.DISABLED_Misses",
                     &out);
  unsetenv("MATGTO_DEMO_URL");
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("1 request(s) found no recorded answer"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("query: recorded \"v=1\", live \"v=2\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[  FAILED  ] FixtureMissDemo.DISABLED_Misses"),
            std::string::npos)
      << out;
}

// Run only by TwoTestBinariesShareOneServer, each in a child process of its
// own, at the same time, against the parent's server ($MATGTO_SERVER).
void RecordAndReplay(const char* name) {
  auto up = std::make_unique<Upstream>();
  const std::string url = up->Url(std::string("/") + name);
  std::string body;
  {
    auto cassette =
        MATGTO_CASSETTE(testing::CassetteScopeOptions{.name = name});
    ASSERT_EQ(cassette.session().mode(), v1::RECORD);
    body = Get(url, cassette.proxy_url()).body;
  }
  up.reset();
  auto cassette = MATGTO_CASSETTE(testing::CassetteScopeOptions{.name = name});
  ASSERT_EQ(cassette.session().mode(), v1::REPLAY);
  EXPECT_EQ(Get(url, cassette.proxy_url()).body, body);
}
TEST(SharedServerWorker, DISABLED_A) { RecordAndReplay("gtest/shared-a"); }
TEST(SharedServerWorker, DISABLED_B) { RecordAndReplay("gtest/shared-b"); }

TEST(GtestHelper, TwoTestBinariesShareOneServer) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  auto run = [&](const char* test, int* rc, std::string* out) {
    *rc = test::Run(
        self + " --gtest_also_run_disabled_tests --gtest_filter=" + test, out);
  };
  int rc_a = -1, rc_b = -1;
  std::string out_a, out_b;
  std::thread a(run, "SharedServerWorker.DISABLED_A", &rc_a, &out_a);
  std::thread b(run, "SharedServerWorker.DISABLED_B", &rc_b, &out_b);
  a.join();
  b.join();
  EXPECT_EQ(rc_a, 0) << out_a;
  EXPECT_EQ(rc_b, 0) << out_b;
  // Both used this process's server: four sessions ended there.
  int ended = 0;
  const v1::GetStatusResponse status = testing::SharedClient().Status();
  for (const v1::SessionSummary& s : status.ended_sessions()) {
    ended += s.session().cassette().starts_with("gtest/shared-") ? 1 : 0;
  }
  EXPECT_EQ(ended, 4);
}

}  // namespace
}  // namespace matgto
