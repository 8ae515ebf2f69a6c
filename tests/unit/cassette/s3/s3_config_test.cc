// s3://BUCKET/PREFIX parsing, configuration from the AWS variables and
// flags, object keys and URLs (path-style and virtual-hosted).
#include "server/cassette/s3/s3_config.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette::s3 {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::HasSubstr;

GetEnv FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(S3UrlTest, BucketAndPrefix) {
  auto loc = ParseS3Url("s3://my-bucket/team-a/cassettes/");
  ASSERT_THAT(loc, IsOk());
  EXPECT_EQ(loc->bucket, "my-bucket");
  EXPECT_EQ(loc->prefix, "team-a/cassettes");
  EXPECT_EQ(FormatS3Url(*loc), "s3://my-bucket/team-a/cassettes");
}

TEST(S3UrlTest, BucketOnly) {
  for (const char* url : {"s3://bucket", "s3://bucket/"}) {
    auto loc = ParseS3Url(url);
    ASSERT_THAT(loc, IsOk()) << url;
    EXPECT_EQ(loc->bucket, "bucket");
    EXPECT_EQ(loc->prefix, "");
    EXPECT_EQ(KeyPrefix(*loc), "");
    EXPECT_EQ(ObjectKey(*loc, "a/b", ".pb"), "a/b.pb");
  }
}

TEST(S3UrlTest, RefusesBadBucketsAndPrefixes) {
  EXPECT_THAT(ParseS3Url("http://bucket/x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an s3://BUCKET/PREFIX")));
  EXPECT_THAT(ParseS3Url("s3://Upper/x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bucket name 'Upper'")));
  EXPECT_THAT(
      ParseS3Url("s3://ab"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad length")));
  EXPECT_THAT(
      ParseS3Url("s3://-bucket"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("start and end")));
  EXPECT_THAT(ParseS3Url("s3://bucket/a/../b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefix is not usable")));
  EXPECT_THAT(ParseS3Url("s3://bucket//x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefix is not usable")));
}

TEST(S3ConfigTest, ReadsTheAwsVariables) {
  auto loc = ParseS3Url("s3://bucket/p");
  ASSERT_THAT(loc, IsOk());
  auto config = S3ConfigFromEnvironment(
      *loc, {},
      FakeEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"},
               {"AWS_DEFAULT_REGION", "eu-west-1"},
               {"AWS_ACCESS_KEY_ID", "AKID"},
               {"AWS_SECRET_ACCESS_KEY", "secret"},
               {"AWS_SESSION_TOKEN", "token"},
               {"AWS_CA_BUNDLE", "/etc/ca.pem"}}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(config->region, "eu-west-1");
  EXPECT_EQ(config->credentials.access_key_id, "AKID");
  EXPECT_EQ(config->credentials.secret_access_key, "secret");
  EXPECT_EQ(config->credentials.session_token, "token");
  EXPECT_EQ(config->ca_file, "/etc/ca.pem");
  // A custom endpoint means path-style unless told otherwise.
  EXPECT_TRUE(UsesPathStyle(*config));
  EXPECT_EQ(ObjectUrl(*config, "p/a b+c.pb"),
            "http://127.0.0.1:9000/bucket/p/a%20b%2Bc.pb");
  EXPECT_EQ(ObjectUrl(*config, "", "list-type=2&prefix=p%2F"),
            "http://127.0.0.1:9000/bucket?list-type=2&prefix=p%2F");
}

TEST(S3ConfigTest, RegionAndServiceEndpointPrecedence) {
  S3Location loc{.bucket = "bucket", .prefix = ""};
  auto config = S3ConfigFromEnvironment(
      loc, {},
      FakeEnv({{"AWS_REGION", "us-west-2"},
               {"AWS_DEFAULT_REGION", "eu-west-1"},
               {"AWS_ENDPOINT_URL", "http://general:1"},
               {"AWS_ENDPOINT_URL_S3", "http://s3-only:2"}}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->region, "us-west-2");
  EXPECT_EQ(config->endpoint, "http://s3-only:2");
  EXPECT_TRUE(config->credentials.access_key_id.empty());
}

TEST(S3ConfigTest, FlagsOverrideTheEnvironment) {
  S3Location loc{.bucket = "bucket", .prefix = "x"};
  auto config = S3ConfigFromEnvironment(
      loc,
      S3Overrides{.endpoint = "https://store.example:8443",
                  .region = "ap-south-1",
                  .addressing = S3Addressing::kVirtualHosted},
      FakeEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:9000"},
               {"AWS_REGION", "us-east-2"}}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->region, "ap-south-1");
  EXPECT_FALSE(UsesPathStyle(*config));
  EXPECT_EQ(ObjectUrl(*config, "x/c.pb"),
            "https://bucket.store.example:8443/x/c.pb");
}

TEST(S3ConfigTest, AwsDefaultsToVirtualHosted) {
  S3Location loc{.bucket = "bucket", .prefix = ""};
  auto config = S3ConfigFromEnvironment(loc, {}, FakeEnv({}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->region, "us-east-1");
  EXPECT_EQ(EffectiveEndpoint(*config), "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(ObjectUrl(*config, "c.json"),
            "https://bucket.s3.us-east-1.amazonaws.com/c.json");
  auto path = S3ConfigFromEnvironment(
      loc,
      S3Overrides{
          .endpoint = "", .region = "", .addressing = S3Addressing::kPath},
      FakeEnv({}));
  ASSERT_THAT(path, IsOk());
  EXPECT_EQ(ObjectUrl(*path, "c.json"),
            "https://s3.us-east-1.amazonaws.com/bucket/c.json");
}

TEST(S3ConfigTest, RefusesHalfCredentialsAndBadEndpoints) {
  S3Location loc{.bucket = "bucket", .prefix = ""};
  EXPECT_THAT(
      S3ConfigFromEnvironment(loc, {},
                              FakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"}})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("go together")));
  EXPECT_THAT(S3ConfigFromEnvironment(
                  loc, {}, FakeEnv({{"AWS_ENDPOINT_URL", "ftp://host"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be http(s)://HOST[:PORT]")));
  EXPECT_THAT(
      S3ConfigFromEnvironment(loc, {},
                              FakeEnv({{"AWS_ENDPOINT_URL", "http://h/path"}})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("http://h/path")));
  EXPECT_THAT(
      S3ConfigFromEnvironment(loc, {}, FakeEnv({{"AWS_REGION", "us east"}})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("region")));
  S3Location dotted{.bucket = "my.bucket", .prefix = ""};
  EXPECT_THAT(S3ConfigFromEnvironment(dotted, {}, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--s3-path-style")));
}

TEST(S3ConfigTest, UriEncodeKeepsUnreservedOnly) {
  EXPECT_EQ(UriEncode("a-b_c.d~e/f", true), "a-b_c.d~e/f");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("x=1,[2]@+", true), "x%3D1%2C%5B2%5D%40%2B");
  EXPECT_EQ(UriEncode("\xc3\xa9", true), "%C3%A9");
}

}  // namespace
}  // namespace matgto::cassette::s3
