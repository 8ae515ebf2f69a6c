#include "server/observe/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/admin/admin_server.h"
#include "server/observe/observer.h"

namespace matgto::observe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(HistogramTest, BucketsAreCumulativeAndInclusive) {
  Histogram h({1, 2, 5});
  h.Observe(0.5);
  h.Observe(1);  // "le" is inclusive
  h.Observe(3);
  h.Observe(100);
  EXPECT_EQ(h.Cumulative(), (std::vector<uint64_t>{2, 2, 3, 4}));
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 104.5);
}

TEST(TextWriterTest, WritesHelpTypeAndEscapedLabels) {
  TextWriter w;
  w.Family("x_total", "counter", "What x counts.\nSecond line \\ end");
  w.Sample("x_total", {{"reason", "a \"quoted\"\nvalue\\"}}, uint64_t{3});
  EXPECT_EQ(w.Take(),
            "# HELP x_total What x counts.\\nSecond line \\\\ end\n"
            "# TYPE x_total counter\n"
            "x_total{reason=\"a \\\"quoted\\\"\\nvalue\\\\\"} 3\n");
}

TEST(TextWriterTest, HistogramHasBucketsSumAndCount) {
  Histogram h({0.5, 1});
  h.Observe(0.25);
  h.Observe(2);
  TextWriter w;
  w.Family("d_seconds", "histogram", "Durations.");
  w.HistogramSamples("d_seconds", {}, h);
  EXPECT_EQ(w.Take(),
            "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"0.5\"} 1\n"
            "d_seconds_bucket{le=\"1\"} 1\n"
            "d_seconds_bucket{le=\"+Inf\"} 2\n"
            "d_seconds_sum 2.25\n"
            "d_seconds_count 2\n");
}

TEST(FormatValueTest, PrometheusSpellings) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
}

TEST(CounterFamilyTest, CountsPerLabelSorted) {
  CounterFamily f;
  f.With("no-match").Add();
  f.With("exhausted").Add(2);
  f.With("no-match").Add();
  EXPECT_EQ(f.Snapshot(), (std::vector<std::pair<std::string, uint64_t>>{
                              {"exhausted", 2}, {"no-match", 2}}));
}

TEST(ObserverMetricsTest, ExchangesMissesAndErrorsAppearInTheExposition) {
  Observer o;
  core::HttpRequest req{.method = "GET", .url = "http://h/p", .body = "abc"};
  o.OnExchange({.session = "default",
                .cassette = "c",
                .mode = v1::REPLAY,
                .request = &req,
                .status = 200,
                .result = v1::RESULT_REPLAYED,
                .bytes_out = 10});
  o.OnExchange({.session = "default",
                .mode = v1::PASSTHROUGH,
                .request = &req,
                .status = 502,
                .result = v1::RESULT_ERROR,
                .error = "upstream-connect",
                .forwarded = true});
  v1::Miss miss;
  miss.set_reason("no-match");
  o.OnMiss("default", "c", miss, "explained");
  const std::string text = o.RenderMetrics(1);
  EXPECT_THAT(text, HasSubstr("matgto_exchanges_total{mode=\"replay\","
                              "result=\"replayed\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("matgto_exchanges_total{mode=\"passthrough\","
                              "result=\"error\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("matgto_misses_total{reason=\"no-match\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("matgto_upstream_errors_total{kind=\"upstream-"
                              "connect\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("matgto_received_bytes_total 6\n"));
  EXPECT_THAT(text, HasSubstr("matgto_sent_bytes_total 10\n"));
  EXPECT_THAT(text, HasSubstr("matgto_open_sessions 1\n"));
  // A mode never seen has no samples.
  EXPECT_THAT(text, Not(HasSubstr("mode=\"record\"")));
  // Every sample line belongs to a family declared before it.
  std::string family;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      family = parts[2];
      continue;
    }
    if (line[0] == '#') continue;
    EXPECT_TRUE(absl::StartsWith(line, family)) << line;
  }
}

TEST(RedactTest, QueryValuesNeverSurvive) {
  EXPECT_EQ(RedactQueryValues("http://h/p?token=s3cret&flag&a=1"),
            "http://h/p?token=[REDACTED]&flag&a=[REDACTED]");
  EXPECT_EQ(RedactQueryValues("http://h/p"), "http://h/p");
  v1::Miss miss;
  miss.set_url("http://h/p?token=s3cret");
  v1::Candidate* c = miss.add_closest();
  c->set_url("http://h/p?token=old");
  v1::FieldDifference* d = c->add_differences();
  d->set_field("query");
  d->set_recorded("token=old");
  d->set_live("token=s3cret");
  const std::string shown = SanitizeMiss(miss).DebugString();
  EXPECT_THAT(shown, Not(HasSubstr("s3cret")));
  EXPECT_THAT(shown, Not(HasSubstr("old")));
  EXPECT_THAT(shown, HasSubstr("token=[REDACTED]"));
}

TEST(AdminRequestTest, ProbesAreOpenMetricsAskTheHook) {
  admin::AdminHandlers h{
      .metrics = [] { return std::string("m 1\n"); },
      .ready = [] { return absl::UnavailableError("draining"); },
      .authorize =
          [](absl::string_view auth) {
            return auth == "Bearer good" ? admin::AdminAccess::kRead
                                         : admin::AdminAccess::kNone;
          }};
  EXPECT_EQ(admin::HandleAdminRequest(h, "GET", "/healthz", "").status, 200);
  admin::AdminResponse ready =
      admin::HandleAdminRequest(h, "GET", "/readyz", "");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("draining"));
  EXPECT_EQ(admin::HandleAdminRequest(h, "GET", "/metrics", "").status, 401);
  admin::AdminResponse m =
      admin::HandleAdminRequest(h, "GET", "/metrics", "Bearer good");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "m 1\n");
  EXPECT_THAT(m.content_type, HasSubstr("version=0.0.4"));
  EXPECT_EQ(admin::HandleAdminRequest(h, "POST", "/metrics", "").status, 405);
}

TEST(AdminRequestTest, PageFilesAreOpenAndEmbedded) {
  admin::AdminHandlers h{
      .authorize = [](absl::string_view) { return admin::AdminAccess::kNone; }};
  admin::AdminResponse page = admin::HandleAdminRequest(h, "GET", "/", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.content_type, HasSubstr("text/html"));
  EXPECT_THAT(page.body, HasSubstr("page.js"));
  admin::AdminResponse js = admin::HandleAdminRequest(h, "GET", "/page.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_THAT(js.content_type, HasSubstr("javascript"));
  EXPECT_EQ(admin::HandleAdminRequest(h, "GET", "/api/access", "").status, 401);
}

// Deleting needs write access and, from a browser, the same origin;
// downloads name their file.
TEST(AdminRequestTest, DeleteNeedsWriteAndSameOriginDownloadsNameTheFile) {
  std::vector<std::string> deleted;
  admin::AdminHandlers h{
      .authorize =
          [](absl::string_view auth) {
            return auth == "Bearer w" ? admin::AdminAccess::kWrite
                                      : admin::AdminAccess::kRead;
          },
      .cassette_download = [](absl::string_view name, absl::string_view format)
          -> absl::StatusOr<std::string> {
        if (name != "team/a b") return absl::NotFoundError("no such");
        return absl::StrCat("{\"format\":\"", format, "\"}");
      },
      .delete_cassette = [&deleted](absl::string_view name) -> absl::Status {
        if (name == "busy") return absl::FailedPreconditionError("in use");
        deleted.emplace_back(name);
        return absl::OkStatus();
      }};
  auto request = [&](absl::string_view method, absl::string_view target,
                     absl::string_view auth, absl::string_view origin = "") {
    return admin::HandleAdminRequest(
        h, admin::AdminRequest{.method = method,
                               .target = target,
                               .authorization = auth,
                               .origin = origin,
                               .host = "127.0.0.1:9"});
  };
  admin::AdminResponse read = request("DELETE", "/api/cassettes/x", "Bearer r");
  EXPECT_EQ(read.status, 403);
  EXPECT_THAT(read.body, HasSubstr("scope 'write'"));
  EXPECT_EQ(
      request("DELETE", "/api/cassettes/x", "Bearer w", "http://evil.example")
          .status,
      403);
  EXPECT_EQ(request("DELETE", "/metrics", "Bearer w").status, 405);
  EXPECT_EQ(request("DELETE", "/api/cassettes/busy", "Bearer w").status, 409);
  EXPECT_EQ(request("DELETE", "/api/cassettes/team%2Fx", "Bearer w",
                    "http://127.0.0.1:9")
                .status,
            200);
  EXPECT_EQ(deleted, std::vector<std::string>{"team/x"});

  admin::AdminResponse har =
      request("GET", "/api/cassettes/team%2Fa%20b?download=har", "Bearer r");
  EXPECT_EQ(har.status, 200);
  EXPECT_EQ(har.body, "{\"format\":\"har\"}");
  EXPECT_EQ(har.download_name, "a b.har");
  EXPECT_EQ(request("GET", "/api/cassettes/x?download=json", "").status, 404);
  EXPECT_EQ(request("GET", "/api/cassettes/x?download=zip", "").status, 400);
}

}  // namespace
}  // namespace matgto::observe
