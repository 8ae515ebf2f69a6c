#include "server/cassette/image.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::cassette {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::HasSubstr;

v1::Cassette Sample(int items) {
  v1::Cassette c;
  c.set_name("sample");
  c.mutable_options()->set_on_miss(v1::MISS_ERROR);
  for (int i = 0; i < items; ++i) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(static_cast<uint64_t>(i) * 2 + 1);
    it->mutable_recorded_at()->set_seconds(1700000000 + i);
    v1::HttpExchange* http = it->mutable_http();
    http->mutable_request()->set_method("POST");
    http->mutable_request()->set_url("http://h/item/" + std::to_string(i));
    http->mutable_request()->set_body("request " + std::to_string(i));
    v1::Header* h = http->mutable_response()->add_headers();
    h->set_name("Content-Type");
    h->set_value("text/plain");
    http->mutable_response()->set_status(200);
    http->mutable_response()->set_body(std::string(1000 + i, 'b'));
    http->mutable_timing()->mutable_total()->set_nanos(i);
  }
  // A text body, as a JSON cassette saved in binary may hold, and a
  // WebSocket session.
  c.mutable_interactions(0)->mutable_http()->mutable_response()->set_body_text(
      "text wins");
  v1::Interaction* ws = c.add_interactions();
  ws->set_index(1000);
  ws->mutable_websocket()->mutable_upgrade_request()->set_url("ws://h/s");
  ws->mutable_websocket()->add_messages()->set_payload("hi");
  return c;
}

absl::StatusOr<std::unique_ptr<CassetteImage>> MapBytes(
    const std::string& bytes) {
  matgto::testing::TempDir dir;
  const std::string path = dir.path() + "/c.pb";
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  auto image = CassetteImage::Map(fd, path);
  ::close(fd);
  return image;
}

TEST(CassetteImageTest, AMappedFileReadsLikeParseCassette) {
  const std::string bytes = SerializeCassette(Sample(20));
  auto image = MapBytes(bytes);
  ASSERT_THAT(image, IsOk());
  auto parsed = ParseCassette(bytes, "x");
  ASSERT_THAT(parsed, IsOk());
  NormalizeTextBodies(*parsed);
  ASSERT_EQ((*image)->size(), 21u);
  EXPECT_EQ((*image)->byte_size(), bytes.size());
  EXPECT_EQ((*image)->header().options().on_miss(), v1::MISS_ERROR);
  EXPECT_EQ((*image)->header().interactions_size(), 0);
  for (size_t i = 0; i < 21; ++i) {
    auto it = (*image)->Interaction(i);
    ASSERT_THAT(it, IsOk());
    EXPECT_TRUE(MessageDifferencer::Equals(
        *it, parsed->interactions(static_cast<int>(i))))
        << i;
    EXPECT_EQ((*image)->index(i), parsed->interactions(i).index());
  }
  EXPECT_EQ((*image)->kind(3), CassetteImage::Kind::kHttp);
  EXPECT_EQ((*image)->kind(20), CassetteImage::Kind::kWebSocket);
  EXPECT_EQ((*image)->Interaction(0)->http().response().body(), "text wins");
  v1::HttpRequest request;
  ASSERT_THAT((*image)->Request(7, request), IsOk());
  EXPECT_EQ(request.body(), "request 7");
  auto whole = (*image)->Materialize();
  ASSERT_THAT(whole, IsOk());
  EXPECT_TRUE(MessageDifferencer::Equals(*whole, *parsed));
}

TEST(CassetteImageTest, AnInMemoryCassetteIsTheSame) {
  v1::Cassette c = Sample(3);
  auto image = CassetteImage::FromCassette(c);
  ASSERT_EQ(image->size(), 4u);
  EXPECT_EQ(image->header().name(), "sample");
  EXPECT_EQ(image->Interaction(2)->http().request().url(), "http://h/item/2");
}

TEST(CassetteImageTest, DamageIsFoundWhenLoadedNotWhenUsed) {
  const std::string good = SerializeCassette(Sample(5));
  EXPECT_THAT(MapBytes(""),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  EXPECT_THAT(MapBytes(good.substr(0, good.size() / 2)),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  // Cut at the end marker: every interaction reads, the marker is missing.
  v1::Cassette unfinished = Sample(2);
  unfinished.set_schema_version(kSchemaVersion);
  EXPECT_THAT(MapBytes(unfinished.SerializeAsString()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("3 interactions were readable")));
  v1::Cassette newer = Sample(1);
  newer.set_schema_version(kSchemaVersion + 1);
  newer.set_complete(true);
  EXPECT_THAT(MapBytes(newer.SerializeAsString()),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  v1::Cassette bad_time = Sample(4);
  bad_time.mutable_interactions(2)
      ->mutable_http()
      ->mutable_timing()
      ->mutable_total()
      ->set_seconds(-400000000000);
  EXPECT_THAT(MapBytes(SerializeCassette(bad_time)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("interaction 2 timing.total")));
  // A damaged header in a response is found although bodies are skipped.
  v1::Cassette bad_utf8 = Sample(2);
  bad_utf8.mutable_interactions(1)
      ->mutable_http()
      ->mutable_response()
      ->mutable_headers(0)
      ->set_name("\xff\xfe");
  EXPECT_THAT(MapBytes(SerializeCassette(bad_utf8)),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
}

TEST(CassetteImageTest, FieldsSplitAcrossTheFileMergeLikeAParser) {
  // A parser merges a message field that appears twice; so does the image.
  v1::Cassette c = Sample(1);
  std::string bytes = SerializeCassette(c);
  v1::Cassette more;
  more.mutable_options()->set_on_exhausted(v1::EXHAUSTED_ERROR);
  bytes += more.SerializeAsString();
  auto image = MapBytes(bytes);
  ASSERT_THAT(image, IsOk());
  EXPECT_EQ((*image)->header().options().on_miss(), v1::MISS_ERROR);
  EXPECT_EQ((*image)->header().options().on_exhausted(), v1::EXHAUSTED_ERROR);
}

}  // namespace
}  // namespace matgto::cassette
