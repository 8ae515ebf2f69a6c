// S3's XML: error documents and ListObjectsV2 pages (expat).
#include "server/cassette/s3/s3_xml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette::s3 {
namespace {

using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::HasSubstr;

TEST(S3ErrorXmlTest, CodeAndMessage) {
  auto error = ParseS3Error(
      R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Resource>/b/k.pb</Resource><RequestId>1</RequestId></Error>)");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "PreconditionFailed");
  EXPECT_EQ(error->message,
            "At least one of the pre-conditions you specified did not hold");
}

TEST(S3ErrorXmlTest, EntitiesAreDecoded) {
  auto error = ParseS3Error(
      "<Error><Code>SlowDown</Code><Message>a &lt;b&gt; &amp; "
      "c</Message></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "SlowDown");
  EXPECT_EQ(error->message, "a <b> & c");
}

TEST(S3ErrorXmlTest, NotAnErrorDocument) {
  EXPECT_FALSE(ParseS3Error("").has_value());
  EXPECT_FALSE(
      ParseS3Error("<html><body>502 Bad Gateway</body></html>").has_value());
  EXPECT_FALSE(ParseS3Error("<Error><Code>Trunc").has_value());
  EXPECT_FALSE(ParseS3Error("not xml at all").has_value());
}

constexpr absl::string_view kPage = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
  <MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok/en+1</NextContinuationToken>
  <Contents><Key>p/a.pb</Key><LastModified>2026-12-01T17:51:48.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/dir/b.json</Key><LastModified>2026-12-01T17:51:49Z</LastModified>
    <ETag>"e2"</ETag><Size>5</Size></Contents>
</ListBucketResult>)";

TEST(S3ListXmlTest, ObjectsAndContinuation) {
  auto page = ParseListObjectsV2(kPage, "s3://bucket/p/");
  ASSERT_THAT(page, IsOk());
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok/en+1");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a.pb");
  EXPECT_EQ(page->objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
  EXPECT_EQ(page->objects[0].size, 1234u);
  EXPECT_EQ(absl::FormatTime(absl::RFC3339_sec, page->objects[0].last_modified,
                             absl::UTCTimeZone()),
            "2026-12-01T17:51:48+00:00");
  EXPECT_EQ(page->objects[1].key, "p/dir/b.json");
  EXPECT_EQ(page->objects[1].etag, "\"e2\"");
  EXPECT_EQ(page->objects[1].size, 5u);
}

TEST(S3ListXmlTest, EmptyListing) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
      "s3://b/");
  ASSERT_THAT(page, IsOk());
  EXPECT_FALSE(page->truncated);
  EXPECT_TRUE(page->objects.empty());
}

TEST(S3ListXmlTest, RefusesWhatIsNotAListing) {
  EXPECT_THAT(ParseListObjectsV2("<ListBucketResult><Contents>", "s3://b/p/"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("s3://b/p/ is not well-formed XML")));
  EXPECT_THAT(
      ParseListObjectsV2("<Error><Code>x</Code></Error>", "s3://b/"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not a ListObjectsV2")));
  EXPECT_THAT(ParseListObjectsV2("<ListBucketResult><Contents><Size>x</Size>"
                                 "</Contents></ListBucketResult>",
                                 "s3://b/"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("Size 'x' is not a number")));
  EXPECT_THAT(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</"
                                 "IsTruncated></ListBucketResult>",
                                 "s3://b/"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("no continuation token")));
}

}  // namespace
}  // namespace matgto::cassette::s3
