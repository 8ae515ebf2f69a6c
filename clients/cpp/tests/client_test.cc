// The C++ client against a real server (LocalServer, one per test process)
// and a real upstream, with libcurl through the proxy.
#include "matgto/client.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "matgto/testing/gtest.h"
#include "matgto/testing/proxy_env.h"
#include "support.h"

namespace matgto {
namespace {

using test::Get;
using test::Upstream;

// One server for this test binary; MATGTO_SERVER points at it.
::testing::Environment* const kServer =
    ::testing::AddGlobalTestEnvironment(new testing::ServerEnvironment);

Client& C() { return testing::SharedClient(); }

TEST(ClientTest, RecordThenReplayOffline) {
  Upstream up;
  std::string recorded_body;
  {
    Session s = C().Record("cpp/offline");
    EXPECT_EQ(s.mode(), v1::RECORD);
    EXPECT_TRUE(s.id().starts_with("s-")) << s.id();
    EXPECT_TRUE(s.proxy_url().starts_with("http://127.0.0.1:"))
        << s.proxy_url();
    test::HttpResult r = Get(up.Url("/weather"), s.proxy_url());
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.status, 200);
    recorded_body = r.body;
    v1::SessionSummary sum = s.Stop();
    EXPECT_EQ(sum.session().recorded(), 1u);
    EXPECT_NE(sum.saved_path(), "");
    EXPECT_EQ(sum.end_reason(), "stopped");
  }
  up.Stop();  // offline from here on
  Session s = C().Replay("cpp/offline");
  EXPECT_EQ(s.mode(), v1::REPLAY);
  test::HttpResult r = Get(up.Url("/weather"), s.proxy_url());
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, recorded_body);
  EXPECT_EQ(s.Stop().session().replayed(), 1u);
}

TEST(ClientTest, DestructorStopsAndSaves) {
  Upstream up;
  {
    Session s = C().Record("cpp/raii");
    ASSERT_EQ(Get(up.Url("/x"), s.proxy_url()).status, 200);
  }
  std::vector<v1::CassetteInfo> list = C().ListCassettes("cpp/raii");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].interactions(), 1u);
}

TEST(ClientTest, ReplayMissAnswers599WithExplanation) {
  Upstream up;
  {
    Session s = C().Record("cpp/miss");
    ASSERT_EQ(Get(up.Url("/users?page=1"), s.proxy_url()).status, 200);
  }
  Session s = C().Replay("cpp/miss");
  test::HttpResult r = Get(up.Url("/users?page=2"), s.proxy_url());
  EXPECT_EQ(r.status, 599);
  std::optional<v1::ProxyError> pe = ParseProxyError(r.body);
  ASSERT_TRUE(pe.has_value()) << r.body;
  EXPECT_EQ(pe->error(), "no-match");
  EXPECT_EQ(pe->cassette(), "cpp/miss");
  v1::SessionSummary sum = s.Stop();
  ASSERT_EQ(FailedMisses(sum.session()).size(), 1u);
  std::string why = ExplainMisses(sum.session());
  EXPECT_NE(why.find("GET " + up.Url("/users?page=2") + " (no-match)"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("query: recorded \"page=1\", live \"page=2\""),
            std::string::npos)
      << why;
}

TEST(ClientTest, ErrorsAreTyped) {
  try {
    C().Replay("cpp/does-not-exist");
    FAIL() << "no exception";
  } catch (const CassetteNotFound& e) {
    EXPECT_EQ(e.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(e.op(), "Replay");
    EXPECT_NE(e.message().find("cpp/does-not-exist"), std::string::npos)
        << e.message();
  }
  EXPECT_THROW(C().Record("../escape"), InvalidArgument);
  EXPECT_THROW(C().GetCassette("cpp/none"), CassetteNotFound);
  EXPECT_THROW(C().DeleteCassette("cpp/none"), CassetteNotFound);
  EXPECT_THROW(C().RenewSession("s-0000000000000000"), SessionNotFound);
  EXPECT_THROW(C().StopRecording(), NoCassette);
  Session s = C().Record("cpp/errors");
  EXPECT_THROW(s.ClearFaults({"f99"}), FaultNotFound);
  EXPECT_THROW(s.AddFault(Fault::Status(503).Url("(")), InvalidArgument);
  // A second session recording the same cassette: the message names the
  // holder.
  try {
    C().Record("cpp/errors");
    FAIL() << "no exception";
  } catch (const FailedPrecondition& e) {
    EXPECT_NE(e.message().find(s.id()), std::string::npos) << e.message();
  }
  // Every error is a matgto::Error (and a std::runtime_error).
  EXPECT_THROW(C().Replay("cpp/does-not-exist"), Error);
}

TEST(ClientTest, TwoSessionsInParallel) {
  Upstream up;
  auto work = [&](const std::string& name, const std::string& path,
                  int* status) {
    Session s = C().Record(name);
    *status = static_cast<int>(Get(up.Url(path), s.proxy_url()).status);
    s.Stop();
  };
  int a = 0, b = 0;
  std::thread ta(work, "cpp/parallel-a", "/a", &a);
  std::thread tb(work, "cpp/parallel-b", "/b", &b);
  ta.join();
  tb.join();
  EXPECT_EQ(a, 200);
  EXPECT_EQ(b, 200);
  v1::Cassette ca = C().GetCassette("cpp/parallel-a");
  v1::Cassette cb = C().GetCassette("cpp/parallel-b");
  ASSERT_EQ(ca.interactions_size(), 1);
  ASSERT_EQ(cb.interactions_size(), 1);
  EXPECT_EQ(ca.interactions(0).http().request().url(), up.Url("/a"));
  EXPECT_EQ(cb.interactions(0).http().request().url(), up.Url("/b"));
}

TEST(ClientTest, StatusListsOpenSessions) {
  Session s = C().Record("cpp/status", {.owner = "client_test status"});
  v1::GetStatusResponse st = C().Status();
  EXPECT_EQ(st.api_version(), kApiVersion);
  bool found = false;
  for (const v1::SessionInfo& si : st.sessions()) {
    if (si.id() == s.id()) {
      found = true;
      EXPECT_EQ(si.owner(), "client_test status");
      EXPECT_EQ(si.lease().seconds(), 30);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(s.Status().cassette(), "cpp/status");
}

TEST(ClientTest, CassetteManagementRoundTrip) {
  Upstream up;
  {
    Session s = C().Record("cpp/manage");
    ASSERT_EQ(Get(up.Url("/m"), s.proxy_url()).status, 200);
  }
  v1::Cassette c = C().GetCassette("cpp/manage");
  ASSERT_EQ(c.interactions_size(), 1);
  v1::CassetteInfo info = C().PutCassette("cpp/manage-copy", c);
  EXPECT_EQ(info.name(), "cpp/manage-copy");
  EXPECT_EQ(info.interactions(), 1u);
  EXPECT_EQ(C().ListCassettes("cpp/manage").size(), 2u);
  C().DeleteCassette("cpp/manage-copy");
  EXPECT_EQ(C().ListCassettes("cpp/manage").size(), 1u);
}

TEST(ClientTest, FaultsAnswerFirstNThenTheRealAnswer) {
  Upstream up;
  Session s = C().Record("cpp/faults");
  v1::Fault f = s.AddFault(
      Fault::Status(503, {{"Retry-After", "1"}}).Url("/orders/.*").FirstN(2));
  EXPECT_EQ(f.id(), "f1");
  EXPECT_EQ(Get(up.Url("/orders/1"), s.proxy_url()).status, 503);
  EXPECT_EQ(Get(up.Url("/orders/1"), s.proxy_url()).status, 503);
  EXPECT_EQ(Get(up.Url("/orders/1"), s.proxy_url()).status, 200);
  EXPECT_EQ(Get(up.Url("/other"), s.proxy_url()).status, 200);
  // A reset is a connection error for the HTTP client.
  s.AddFault(Fault::Reset().Url("/boom"));
  test::HttpResult r = Get(up.Url("/boom"), s.proxy_url());
  EXPECT_NE(r.error, "");
  EXPECT_TRUE(s.ClearFaults().empty());
  EXPECT_EQ(s.Stop().session().recorded(), 2u);  // the 503s were not recorded
}

TEST(ClientTest, OptionsReachTheServer) {
  Session s = C().Record(
      "cpp/options",
      {.cassette = CassetteOptions()
                       .IgnoreJsonPointers({"/meta/ts"})
                       .OnMiss(v1::MISS_PASSTHROUGH)
                       .RedactHeaders({"X-Secret"})
                       .LatencyFixed(std::chrono::milliseconds(250))});
  const v1::CassetteOptions& o = s.info().options();
  EXPECT_EQ(o.match_rules().body(), v1::BODY_JSON);
  ASSERT_EQ(o.match_rules().ignore_json_pointers_size(), 1);
  EXPECT_EQ(o.on_miss(), v1::MISS_PASSTHROUGH);
  EXPECT_EQ(o.redact().headers(0), "X-Secret");
  EXPECT_EQ(o.latency().mode(), v1::LATENCY_FIXED);
  EXPECT_EQ(o.latency().fixed().nanos(), 250000000);
}

TEST(ClientTest, LeaseIsRenewedInTheBackground) {
  // A 1 s lease (the shortest the server takes) outlives 2.5 s because the
  // session renews it every 333 ms.
  Session s = C().Record("cpp/lease", {.lease = std::chrono::seconds(1)});
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_FALSE(s.lost());
  EXPECT_EQ(s.Stop().end_reason(), "stopped");
}

TEST(ClientTest, SessionStoppedElsewhereIsLost) {
  Session s = C().Record("cpp/lost", {.lease = std::chrono::seconds(1)});
  // Someone else ends it: Stop reports the loss.
  C().StopRecording(s.id());
  EXPECT_THROW(s.Stop(), SessionLost);
}

TEST(ClientTest, ControlChannelIgnoresHttpProxy) {
  // A dead proxy in every proxy variable: the control calls still work.
  testing::ScopedProxyEnv env("http://127.0.0.1:1", "");
  Client fresh = Client::Connect(C().address());
  EXPECT_EQ(fresh.Status().api_version(), kApiVersion);
}

TEST(ClientTest, ProxyEnvScopeSetsAndRestores) {
  setenv("HTTP_PROXY", "http://before.invalid:1", 1);
  unsetenv("http_proxy");
  unsetenv("SSL_CERT_FILE");
  Upstream up;
  Session s = C().Record("cpp/env");
  {
    testing::ScopedProxyEnv env(s);
    EXPECT_EQ(std::string(std::getenv("HTTP_PROXY")), s.proxy_url());
    EXPECT_EQ(std::string(std::getenv("http_proxy")), s.proxy_url());
    EXPECT_EQ(std::string(std::getenv("CURL_CA_BUNDLE")), env.ca_bundle_path());
    ASSERT_NE(std::getenv("SSL_CERT_FILE"), nullptr);
    // libcurl given no proxy takes http_proxy: the request is recorded.
    EXPECT_EQ(Get(up.Url("/env"), "").status, 200);
  }
  EXPECT_EQ(std::string(std::getenv("HTTP_PROXY")), "http://before.invalid:1");
  EXPECT_EQ(std::getenv("http_proxy"), nullptr);
  EXPECT_EQ(std::getenv("SSL_CERT_FILE"), nullptr);
  unsetenv("HTTP_PROXY");
  EXPECT_EQ(s.Stop().session().recorded(), 1u);
}

TEST(ClientTest, HttpsIsInterceptedRecordedAndReplayed) {
  // An HTTPS upstream with a certificate of its own, which the server
  // trusts (--upstream-ca-file); libcurl trusts the server's CA through the
  // bundle ScopedProxyEnv writes.
  std::string dir = test::TempDir();
  std::string out;
  ASSERT_EQ(
      test::Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                "-nodes -days 1 -subj /CN=127.0.0.1 -addext "
                "subjectAltName=IP:127.0.0.1 -keyout " +
                    dir + "/key.pem -out " + dir + "/cert.pem",
                &out),
      0)
      << out;
  testing::LocalServer server(
      {.extra_args = {"--upstream-ca-file", dir + "/cert.pem"}});
  Client c = Client::Connect(server.control_address());
  auto up = std::make_unique<Upstream>(dir + "/cert.pem", dir + "/key.pem");
  const std::string url = up->Url("/secure");
  std::string body;
  {
    Session s = c.Record("cpp/https");
    testing::ScopedProxyEnv env(s);
    test::HttpResult r =
        Get(url, s.proxy_url(), std::chrono::seconds(10), env.ca_bundle_path());
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.status, 200) << r.body;
    body = r.body;
  }
  up.reset();  // offline
  Session s = c.Replay("cpp/https");
  testing::ScopedProxyEnv env(s);
  test::HttpResult r =
      Get(url, s.proxy_url(), std::chrono::seconds(10), env.ca_bundle_path());
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.body, body);
  // Without the server's CA, libcurl refuses the intercepted certificate.
  EXPECT_NE(Get(url, s.proxy_url(), std::chrono::seconds(10), dir + "/cert.pem")
                .error,
            "");
  std::filesystem::remove_all(dir);
}

TEST(HelpersTest, CassetteNameFromTestNames) {
  EXPECT_EQ(CassetteName("Suite/Test"), "Suite/Test");
  EXPECT_EQ(CassetteName("Inst/Param.Test/0"), "Inst/Param.Test/0");
  std::string a = CassetteName("Suite/a:b"), b = CassetteName("Suite/a;b");
  EXPECT_TRUE(a.starts_with("Suite/a_b,h")) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(CassetteName("x/../y").find(".."), std::string::npos);
  EXPECT_LE(CassetteName(std::string(300, 'x')).size(), 200u);
}

TEST(HelpersTest, ProxyUrlForAddressForms) {
  EXPECT_EQ(ProxyUrlFor("127.0.0.1:8888", "127.0.0.1:8889"),
            "http://127.0.0.1:8888");
  EXPECT_EQ(ProxyUrlFor("0.0.0.0:8888", "10.1.2.3:8889"),
            "http://10.1.2.3:8888");
  // Both unspecified: the loopback of the proxy's family.
  EXPECT_EQ(ProxyUrlFor("[::]:8888", "[::]:8889"), "http://[::1]:8888");
  EXPECT_EQ(ProxyUrlFor("0.0.0.0:8888", "[::]:8889"), "http://127.0.0.1:8888");
  EXPECT_EQ(ProxyUrlFor("[::1]:8888", "x:1"), "http://[::1]:8888");
  EXPECT_EQ(ProxyUrlFor("[::]:8888", "[fd00::1]:8889"),
            "http://[fd00::1]:8888");
}

TEST(HelpersTest, ConnectRefusesPlaintextTokenToAnotherHost) {
  EXPECT_THROW(Client::Connect("10.9.8.7:8889", {.token = "0123456789abcdef"}),
               InvalidArgument);
  EXPECT_NO_THROW(Client::Connect(
      "10.9.8.7:8889", {.token = "0123456789abcdef", .plaintext = true}));
  EXPECT_NO_THROW(
      Client::Connect("localhost:8889", {.token = "0123456789abcdef"}));
  EXPECT_NO_THROW(Client::Connect("[::1]:8889", {.token = "0123456789abcdef"}));
  EXPECT_THROW(Client::Connect("127.0.0.1:1", {.tls_cert = "/x.pem"}),
               InvalidArgument);
}

}  // namespace
}  // namespace matgto
