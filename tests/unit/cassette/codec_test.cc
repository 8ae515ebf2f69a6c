#include "server/cassette/codec.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/unit/testing/core_printers.h"
#include "tests/unit/testing/status_matchers.h"

namespace matgto::cassette {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::google::protobuf::util::TimeUtil;
using ::matgto::testing::IsOk;
using ::matgto::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

core::HttpRequest SampleRequest() {
  return core::HttpRequest{
      .method = "POST",
      .url = "http://api.example.com:8080/v1/items?b=2&a=1",
      .version = 11,
      .headers = {{"Host", "api.example.com:8080"},
                  {"Content-Type", "application/octet-stream"},
                  {"X-Trace", "2"},
                  {"x-trace", "1"}},
      .body = std::string("bin\0ary\xff\x00\x01", 10)};
}

core::HttpResponse SampleResponse() {
  return core::HttpResponse{.status = 201,
                            .reason = "Created",
                            .version = 10,
                            .headers = {{"Set-Cookie", "a=1; Path=/"},
                                        {"Content-Type", "text/plain"},
                                        {"Set-Cookie", "b=2; HttpOnly"}},
                            .body = std::string("\0\0ok\0", 5)};
}

TEST(CodecTest, RequestRoundTripKeepsHeaderOrderAndBinaryBody) {
  core::HttpRequest in = SampleRequest();
  v1::HttpRequest proto;
  ToProto(in, proto);
  EXPECT_EQ(proto.http_version(), "HTTP/1.1");
  ASSERT_EQ(proto.headers_size(), 4);
  EXPECT_EQ(proto.headers(3).name(), "x-trace");
  EXPECT_EQ(proto.body().size(), 10u);
  EXPECT_EQ(FromProto(proto), in);
}

TEST(CodecTest, ResponseRoundTripKeepsTwoSetCookies) {
  core::HttpResponse in = SampleResponse();
  v1::HttpResponse proto;
  ToProto(in, proto);
  EXPECT_EQ(proto.http_version(), "HTTP/1.0");
  EXPECT_EQ(proto.status(), 201u);
  core::HttpResponse out = FromProto(proto);
  EXPECT_EQ(out, in);
  EXPECT_THAT(out.headers, ::testing::ElementsAre(
                               core::Header{"Set-Cookie", "a=1; Path=/"},
                               core::Header{"Content-Type", "text/plain"},
                               core::Header{"Set-Cookie", "b=2; HttpOnly"}));
}

TEST(CodecTest, Http2ResponseKeepsItsVersionAndTrailers) {
  core::HttpResponse in;
  in.status = 200;
  in.version = 20;
  in.headers = {{"content-type", "application/grpc"}};
  in.body = std::string("\0\0\0\0\2hi", 7);
  in.trailers = {{"grpc-status", "0"}, {"x-trailer", "t1"}};
  in.chunks = {{2, absl::Milliseconds(5)}, {5, absl::Milliseconds(300)}};
  v1::HttpResponse proto;
  ToProto(in, proto);
  EXPECT_EQ(proto.http_version(), "HTTP/2");
  ASSERT_EQ(proto.trailers_size(), 2);
  EXPECT_EQ(proto.trailers(1).value(), "t1");
  ASSERT_EQ(proto.chunks_size(), 2);
  EXPECT_EQ(proto.chunks(1).size(), 5u);
  EXPECT_EQ(FromProto(proto), in);

  core::HttpRequest request;
  request.version = 20;
  v1::HttpRequest request_proto;
  ToProto(request, request_proto);
  EXPECT_EQ(FromProto(request_proto).version, 20);
}

TEST(CodecTest, TimingToProto) {
  core::ExchangeTiming t{
      .started_at = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(5),
      .time_to_first_byte = absl::Milliseconds(12),
      .total = absl::Milliseconds(340)};
  v1::Timing proto;
  ToProto(t, proto);
  EXPECT_EQ(TimeUtil::TimestampToNanoseconds(proto.started_at()),
            1700000000'005000000);
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(proto.time_to_first_byte()), 12);
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(proto.total()), 340);
}

// A cassette as the recorder builds it: three HTTP exchanges.
v1::Cassette ThreeInteractionCassette() {
  v1::Cassette c;
  c.set_name("suite/three");
  *c.mutable_created_at() = TimeUtil::SecondsToTimestamp(1700000000);
  *c.mutable_updated_at() = TimeUtil::SecondsToTimestamp(1700000100);
  c.mutable_options()->set_on_exhausted(v1::EXHAUSTED_ERROR);
  for (int i = 0; i < 3; ++i) {
    v1::Interaction* it = c.add_interactions();
    it->set_index(static_cast<uint64_t>(i));
    *it->mutable_recorded_at() = TimeUtil::SecondsToTimestamp(1700000000 + i);
    core::HttpRequest req = SampleRequest();
    req.url += "&i=" + std::to_string(i);
    ToProto(req, *it->mutable_http()->mutable_request());
    ToProto(SampleResponse(), *it->mutable_http()->mutable_response());
    ToProto(
        core::ExchangeTiming{.started_at = absl::FromUnixSeconds(1700000000),
                             .time_to_first_byte = absl::Milliseconds(3),
                             .total = absl::Milliseconds(9)},
        *it->mutable_http()->mutable_timing());
  }
  return c;
}

TEST(CodecTest, SerializeThenParseRoundTrip) {
  v1::Cassette in = ThreeInteractionCassette();
  std::string bytes = SerializeCassette(in);
  absl::StatusOr<v1::Cassette> out = ParseCassette(bytes, "three.pb");
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->schema_version(), kSchemaVersion);
  EXPECT_TRUE(out->complete());
  EXPECT_THAT(out->written_by(), StartsWith("matgto "));
  EXPECT_EQ(out->written_by(), std::string("matgto ") + MATGTO_VERSION);
  // Apart from the writer's stamps, the cassette is unchanged.
  v1::Cassette expected = in;
  expected.set_schema_version(kSchemaVersion);
  expected.set_written_by(out->written_by());
  expected.set_complete(true);
  EXPECT_TRUE(MessageDifferencer::Equals(*out, expected)) << out->DebugString();
  EXPECT_EQ(FromProto(out->interactions(2).http().response()),
            SampleResponse());
}

TEST(CodecTest, SerializeOverridesSchemaVersionAndCompleteness) {
  v1::Cassette in = ThreeInteractionCassette();
  in.set_schema_version(kSchemaVersion + 7);
  in.set_complete(false);
  absl::StatusOr<v1::Cassette> out =
      ParseCassette(SerializeCassette(in), "x.pb");
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->schema_version(), kSchemaVersion);
}

TEST(CodecTest, ContentSha256IgnoresStorageStampsButNotContent) {
  const v1::Cassette in = ThreeInteractionCassette();
  const std::string hash = ContentSha256(in);
  EXPECT_EQ(hash.size(), 64u);
  // What storing adds (schema, writer, completeness, updated_at) is ignored.
  absl::StatusOr<v1::Cassette> stored =
      ParseCassette(SerializeCassette(in), "three.pb");
  ASSERT_THAT(stored, IsOk());
  stored->mutable_updated_at()->set_seconds(1800000000);
  EXPECT_EQ(ContentSha256(*stored), hash);
  // A different name, body or option is a different cassette.
  v1::Cassette renamed = in;
  renamed.set_name("other");
  EXPECT_NE(ContentSha256(renamed), hash);
  v1::Cassette edited = in;
  edited.mutable_interactions(0)->mutable_http()->mutable_response()->set_body(
      "changed");
  EXPECT_NE(ContentSha256(edited), hash);
}

// The hash is that of the content serialized whole, as it always was (a
// push compares it with what another version of matgto listed), though it
// is now computed one interaction at a time: here against that definition,
// with every header field set, options and gRPC descriptors after the
// interactions, and a field this version does not know.
TEST(CodecTest, ContentSha256IsTheHashOfTheWholeContentMessage) {
  v1::Cassette in = ThreeInteractionCassette();
  in.set_written_by("matgto 0.1.0");
  in.set_complete(true);
  *in.mutable_created_at() = TimeUtil::SecondsToTimestamp(1700000000);
  *in.mutable_updated_at() = TimeUtil::SecondsToTimestamp(1800000000);
  in.mutable_options()->set_ws_speed(2.0);
  in.set_grpc_descriptors(
      std::string("\x0a\x03"
                  "abc"));
  in.GetReflection()->MutableUnknownFields(&in)->AddVarint(100, 1);
  v1::Cassette content = in;
  content.clear_schema_version();
  content.clear_written_by();
  content.clear_complete();
  content.clear_updated_at();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    content.SerializeToCodedStream(&out);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  ASSERT_EQ(EVP_Digest(bytes.data(), bytes.size(), digest, &length,
                       EVP_sha256(), nullptr),
            1);
  const std::string expected = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
  EXPECT_EQ(ContentSha256(in), expected);

  ContentDigest streamed(in);
  for (const v1::Interaction& it : in.interactions()) streamed.Add(it);
  EXPECT_EQ(streamed.Finish(), expected);
}

// Found by the cassette_binary fuzzer: such a cassette loaded but could not
// be exported or saved as JSON. It is damaged; loading says where.
TEST(CodecTest, TimesOutOfProtobufRangeAreDataLossNamingTheField) {
  v1::Cassette year_10000 = ThreeInteractionCassette();
  year_10000.mutable_interactions(1)->mutable_recorded_at()->set_seconds(
      253402300800LL);
  EXPECT_THAT(ParseCassette(SerializeCassette(year_10000), "y.pb"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("y.pb"), HasSubstr("interaction 1"),
                             HasSubstr("recorded_at"))));
  v1::Cassette bad_nanos = ThreeInteractionCassette();
  bad_nanos.mutable_interactions(2)
      ->mutable_http()
      ->mutable_timing()
      ->mutable_total()
      ->set_nanos(-5);
  bad_nanos.mutable_interactions(2)
      ->mutable_http()
      ->mutable_timing()
      ->mutable_total()
      ->set_seconds(3);
  EXPECT_THAT(ParseCassette(SerializeCassette(bad_nanos), "n.pb"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("interaction 2 timing.total")));
  v1::Cassette created = ThreeInteractionCassette();
  created.mutable_created_at()->set_nanos(1000000000);
  EXPECT_THAT(ParseCassette(SerializeCassette(created), "c.pb"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("created_at")));
  // The edges of the range load.
  v1::Cassette edges = ThreeInteractionCassette();
  edges.mutable_created_at()->set_seconds(-62135596800LL);
  edges.mutable_updated_at()->set_seconds(253402300799LL);
  edges.mutable_updated_at()->set_nanos(999999999);
  EXPECT_THAT(ParseCassette(SerializeCassette(edges), "e.pb"), IsOk());
}

// HTTP field values may carry obs-text (bytes 0x80-0xFF, RFC 9110 5.5), e.g.
// a Latin-1 filename in Content-Disposition, and reason phrases may too. A
// cassette recording such a response must load again.
TEST(CodecTest, NonUtf8HeaderValueSurvivesSerializeAndParse) {
  v1::Cassette c;
  c.set_name("latin1");
  v1::Interaction* it = c.add_interactions();
  core::HttpResponse res = SampleResponse();
  res.headers.push_back(
      {"Content-Disposition", "attachment; filename=\"caf\xe9.txt\""});
  ToProto(res, *it->mutable_http()->mutable_response());
  absl::StatusOr<v1::Cassette> out =
      ParseCassette(SerializeCassette(c), "latin1.pb");
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(FromProto(out->interactions(0).http().response()), res);
}

TEST(CodecTest, NonUtf8ReasonPhraseSurvivesSerializeAndParse) {
  v1::Cassette c;
  c.set_name("latin1-reason");
  core::HttpResponse res = SampleResponse();
  res.reason = "Cr\xe9\xe9";  // Latin-1 "Créé"
  ToProto(res, *c.add_interactions()->mutable_http()->mutable_response());
  absl::StatusOr<v1::Cassette> out =
      ParseCassette(SerializeCassette(c), "latin1-reason.pb");
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(FromProto(out->interactions(0).http().response()), res);
}

TEST(ParseCassetteTest, EmptyIsDataLoss) {
  EXPECT_THAT(
      ParseCassette("", "dir/empty.pb"),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("dir/empty.pb"), HasSubstr("is empty"))));
}

TEST(ParseCassetteTest, GarbageIsDataLossNamingTheSource) {
  for (const std::string& garbage :
       {std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11),
        std::string("this is not a cassette"), std::string("{\"json\":1}"),
        std::string("\x0a\x7f", 2)}) {
    SCOPED_TRACE(garbage);
    EXPECT_THAT(ParseCassette(garbage, "cassettes/garbage.pb"),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("cassettes/garbage.pb")));
  }
}

TEST(ParseCassetteTest, EveryTruncationIsDataLoss) {
  const std::string bytes = SerializeCassette(ThreeInteractionCassette());
  ASSERT_GT(bytes.size(), 100u);
  ASSERT_THAT(ParseCassette(bytes, "full.pb"), IsOk());
  int end_marker_missing = 0;
  for (size_t len = 0; len < bytes.size(); ++len) {
    absl::StatusOr<v1::Cassette> parsed =
        ParseCassette(absl::string_view(bytes.data(), len), "cut.pb");
    EXPECT_THAT(parsed,
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("cut.pb")))
        << "truncated to " << len << " of " << bytes.size() << " bytes";
    if (absl::StrContains(parsed.status().message(), "end marker")) {
      ++end_marker_missing;
    }
  }
  // Cuts on a field boundary parse as protobuf; only the missing end marker
  // can reject those, so that check must have been exercised.
  EXPECT_GE(end_marker_missing, 3);
}

TEST(ParseCassetteTest, NewerSchemaIsFailedPrecondition) {
  v1::Cassette c = ThreeInteractionCassette();
  c.set_schema_version(kSchemaVersion + 1);
  c.set_complete(true);
  EXPECT_THAT(ParseCassette(c.SerializeAsString(), "new.pb"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("new.pb"), HasSubstr("schema version 2"),
                             HasSubstr("upgrade matgto"))));
}

TEST(ParseCassetteTest, MissingSchemaIsDataLoss) {
  v1::Cassette c = ThreeInteractionCassette();
  c.set_complete(true);  // schema_version left at 0
  EXPECT_THAT(ParseCassette(c.SerializeAsString(), "noschema.pb"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("noschema.pb"),
                             HasSubstr("no schema version"))));
}

TEST(ParseCassetteTest, MissingEndMarkerIsDataLossCountingInteractions) {
  v1::Cassette c = ThreeInteractionCassette();
  c.set_schema_version(kSchemaVersion);
  EXPECT_THAT(ParseCassette(c.SerializeAsString(), "partial.pb"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("partial.pb"), HasSubstr("truncated"),
                             HasSubstr("3 interactions were readable"))));
}

}  // namespace
}  // namespace matgto::cassette
