#include "server/core/http.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/core_printers.h"

namespace matgto::core {
namespace {

using ::testing::ElementsAre;
using ::testing::IsNull;
using ::testing::Pointee;

TEST(EqualsIgnoreCaseTest, AsciiCaseOnly) {
  EXPECT_TRUE(EqualsIgnoreCase("Content-Type", "content-TYPE"));
  EXPECT_FALSE(EqualsIgnoreCase("Content-Type", "Content-Typ"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "b"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
}

TEST(FindHeaderTest, FirstMatchCaseInsensitive) {
  Headers h = {{"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}, {"X", "y"}};
  EXPECT_THAT(FindHeader(h, "SET-COOKIE"), Pointee(std::string("a=1")));
  EXPECT_THAT(FindHeader(h, "x"), Pointee(std::string("y")));
  EXPECT_THAT(FindHeader(h, "missing"), IsNull());
  EXPECT_THAT(FindHeader({}, "x"), IsNull());
}

TEST(RemoveHeadersTest, RemovesEveryMatchKeepingOrder) {
  Headers h = {{"A", "1"}, {"x-remove", "2"}, {"B", "3"}, {"X-Remove", "4"}};
  EXPECT_EQ(RemoveHeaders(h, "X-REMOVE"), 2);
  EXPECT_THAT(h, ElementsAre(Header{"A", "1"}, Header{"B", "3"}));
  EXPECT_EQ(RemoveHeaders(h, "absent"), 0);
  EXPECT_THAT(h, ElementsAre(Header{"A", "1"}, Header{"B", "3"}));
}

TEST(SetHeaderTest, ReplacesEveryMatchInPlace) {
  Headers h = {{"A", "1"}, {"Via", "x"}, {"B", "2"}, {"via", "y"}};
  SetHeader(h, "VIA", "z");
  EXPECT_THAT(h, ElementsAre(Header{"A", "1"}, Header{"Via", "z"},
                             Header{"B", "2"}, Header{"via", "z"}));
}

TEST(SetHeaderTest, AppendsWhenMissing) {
  Headers h = {{"A", "1"}};
  SetHeader(h, "B", "2");
  EXPECT_THAT(h, ElementsAre(Header{"A", "1"}, Header{"B", "2"}));
}

TEST(MakeErrorResponseTest, StatusHeadersAndLength) {
  HttpResponse r = MakeErrorResponse(503, "no-cassette", "hello\n");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "hello\n");
  EXPECT_THAT(FindHeader(r.headers, "X-Matgto-Error"),
              Pointee(std::string("no-cassette")));
  EXPECT_THAT(FindHeader(r.headers, "Content-Length"),
              Pointee(std::string("6")));
  EXPECT_THAT(FindHeader(r.headers, "Content-Type"),
              Pointee(std::string("text/plain; charset=utf-8")));
  EXPECT_THAT(FindHeader(r.headers, "Cache-Control"),
              Pointee(std::string("no-store")));
}

TEST(MakeErrorResponseTest, CustomContentTypeAndEmptyBody) {
  HttpResponse r = MakeErrorResponse(599, "no-match", "", "application/json");
  EXPECT_THAT(FindHeader(r.headers, "Content-Type"),
              Pointee(std::string("application/json")));
  EXPECT_THAT(FindHeader(r.headers, "Content-Length"),
              Pointee(std::string("0")));
  EXPECT_TRUE(r.body.empty());
}

TEST(ResponseHasNoBodyTest, Rfc9110Cases) {
  EXPECT_TRUE(ResponseHasNoBody("HEAD", 200));
  EXPECT_TRUE(ResponseHasNoBody("GET", 100));
  EXPECT_TRUE(ResponseHasNoBody("GET", 199));
  EXPECT_TRUE(ResponseHasNoBody("GET", 204));
  EXPECT_TRUE(ResponseHasNoBody("GET", 304));
  EXPECT_FALSE(ResponseHasNoBody("GET", 200));
  EXPECT_FALSE(ResponseHasNoBody("POST", 404));
  EXPECT_FALSE(ResponseHasNoBody("", 500));
}

}  // namespace
}  // namespace matgto::core
