#include "server/cassette/interaction_wire.h"

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"

namespace matgto::cassette {
namespace {

using ::google::protobuf::io::CodedInputStream;
using ::google::protobuf::io::CodedOutputStream;
using ::google::protobuf::util::MessageDifferencer;

struct Exchange {
  std::string name;
  uint64_t index = 0;
  absl::Time recorded_at;
  core::HttpRequest request;
  core::HttpResponse response;
  core::ExchangeTiming timing;
};

// The journal entry the recorder built before the direct encoding: the
// messages ToProto fills, numbered and stamped as Recorder::Store did.
v1::JournalEntry ThroughMessages(const Exchange& e) {
  v1::JournalEntry entry;
  v1::Interaction& interaction = *entry.mutable_interaction();
  interaction.set_index(e.index);
  SetProtoTimestamp(e.recorded_at, *interaction.mutable_recorded_at());
  v1::HttpExchange& http = *interaction.mutable_http();
  ToProto(e.request, *http.mutable_request());
  ToProto(e.response, *http.mutable_response());
  ToProto(e.timing, *http.mutable_timing());
  if (!e.timing.fault.empty()) interaction.set_fault(e.timing.fault);
  return entry;
}

std::string Record(const v1::JournalEntry& entry) {
  const std::string bytes = entry.SerializeAsString();
  std::string prefix(CodedOutputStream::VarintSize64(bytes.size()), '\0');
  CodedOutputStream::WriteVarint64ToArray(
      bytes.size(), reinterpret_cast<uint8_t*>(prefix.data()));
  return prefix + bytes;
}

std::string Direct(const Exchange& e) {
  HttpInteractionRecord record;
  record.SetHttp(e.request, e.response, e.timing, e.timing.fault);
  return std::string(record.Finish(e.index, e.recorded_at));
}

std::vector<Exchange> Exchanges() {
  std::vector<Exchange> out;

  Exchange plain{.name = "a GET with headers, the first interaction"};
  plain.recorded_at = absl::FromUnixNanos(1'764'800'000'123'456'789);
  plain.request = {.method = "GET",
                   .url = "http://127.0.0.1:8080/item/1?x=1",
                   .headers = {{"Host", "127.0.0.1:8080"},
                               {"Accept", "*/*"},
                               {"User-Agent", "curl/8.5"}}};
  plain.response = {.status = 200,
                    .reason = "OK",
                    .headers = {{"Content-Type", "application/json"},
                                {"Content-Length", "11"}},
                    .body = "{\"ok\":true}"};
  plain.timing = {.started_at = absl::FromUnixMillis(1'764'800'000'000),
                  .time_to_first_byte = absl::Microseconds(350),
                  .total = absl::Milliseconds(2)};
  out.push_back(plain);

  Exchange binary{.name = "bytes that are not UTF-8, long bodies, HTTP/1.0"};
  binary.index = uint64_t{1} << 40;
  binary.recorded_at = absl::FromUnixNanos(-1'500'000'001);  // before 1970
  binary.request = {.method = "POST",
                    .url = "https://api.example.com/upload",
                    .version = 10,
                    .headers = {{"X-Latin", "caf\xe9"}, {"X-Empty", ""}},
                    .body = std::string(20'000, '\xff')};
  binary.response = {.status = 599,
                     .reason = "Bad \xff reason",
                     .version = 10,
                     .headers = {{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
                     .body = std::string(200, '\0')};
  binary.timing = {.started_at = absl::FromUnixSeconds(-86'400),
                   .time_to_first_byte = -absl::Milliseconds(1500),
                   .total = absl::Seconds(3) + absl::Nanoseconds(7)};
  out.push_back(binary);

  Exchange streamed{.name = "HTTP/2: trailers, chunks, a spooled body, fault"};
  streamed.index = 7;
  streamed.recorded_at = absl::FromUnixSeconds(1'800'000'000);
  streamed.request = {.method = "POST",
                      .url = "http://grpc.local:50051/pkg.Svc/Call",
                      .version = 20,
                      .headers = {{"content-type", "application/grpc"}},
                      .body = std::string("\0\0\0\0\2hi", 7)};
  streamed.response.status = 200;
  streamed.response.version = 20;
  streamed.response.headers = {{"content-type", "application/grpc"}};
  streamed.response.trailers = {{"grpc-status", "0"}, {"x-bin", "\x80\x81"}};
  streamed.response.chunks = {
      {.size = 5, .at = absl::Milliseconds(1)},
      {.size = 0, .at = absl::Seconds(2), .request_bytes = 0},
      {.size = 300, .at = absl::ZeroDuration(), .request_bytes = 1u << 20}};
  streamed.response.spooled = std::make_shared<const core::SpooledBody>(
      core::SpooledBody{.path = "x.pb.journal.body-3", .size = 1u << 30});
  streamed.timing.fault = "f1 delay 2s";
  out.push_back(streamed);

  out.push_back(Exchange{.name = "every value empty or zero"});
  return out;
}

TEST(InteractionWireTest, WritesTheBytesProtobufWrites) {
  for (const Exchange& e : Exchanges()) {
    SCOPED_TRACE(e.name);
    const v1::JournalEntry entry = ThroughMessages(e);
    const std::string direct = Direct(e);
    EXPECT_EQ(direct, Record(entry));

    // And it reads back as the same entry (a readable difference if not).
    CodedInputStream in(reinterpret_cast<const uint8_t*>(direct.data()),
                        static_cast<int>(direct.size()));
    uint32_t size = 0;
    ASSERT_TRUE(in.ReadVarint32(&size));
    EXPECT_EQ(size + CodedOutputStream::VarintSize32(size), direct.size());
    std::string body;
    ASSERT_TRUE(in.ReadString(&body, static_cast<int>(size)));
    v1::JournalEntry parsed;
    ASSERT_TRUE(parsed.ParseFromString(body));
    EXPECT_TRUE(MessageDifferencer::Equals(parsed, entry))
        << parsed.DebugString() << "\nvs\n"
        << entry.DebugString();
  }
}

TEST(InteractionWireTest, OneRecordServesExchangesOfAnySizeInTurn) {
  // Reused as a recording thread reuses it: each exchange after a larger
  // or a smaller one, its buffer grown or left larger than needed.
  const std::vector<Exchange> exchanges = Exchanges();
  HttpInteractionRecord record;
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < exchanges.size(); ++i) {
      const Exchange& e =
          exchanges[(i * 3 + static_cast<size_t>(round)) % exchanges.size()];
      SCOPED_TRACE(e.name);
      record.SetHttp(e.request, e.response, e.timing, e.timing.fault);
      EXPECT_EQ(record.Finish(e.index, e.recorded_at),
                Record(ThroughMessages(e)));
    }
  }
}

TEST(InteractionWireTest, FinishTakesTheIndexAndTimeItIsGivenEachTime) {
  // A draft numbered at its commit: finished again, the record carries
  // only the last index and time.
  Exchange e = Exchanges()[0];
  HttpInteractionRecord record;
  record.SetHttp(e.request, e.response, e.timing, e.timing.fault);
  const std::string first(record.Finish(uint64_t{1} << 50, absl::Now()));
  e.index = 3;
  e.recorded_at = absl::FromUnixSeconds(1);
  EXPECT_EQ(record.Finish(e.index, e.recorded_at), Record(ThroughMessages(e)));
  EXPECT_NE(first, Record(ThroughMessages(e)));
}

TEST(InteractionWireTest, TrimGivesBackALargeBufferAndStillEncodes) {
  const Exchange large = Exchanges()[1];  // a 20,000-byte body
  const Exchange small = Exchanges()[0];
  HttpInteractionRecord record;
  record.SetHttp(large.request, large.response, large.timing, "");
  record.Trim(1024);
  record.SetHttp(small.request, small.response, small.timing, "");
  EXPECT_EQ(record.Finish(small.index, small.recorded_at),
            Record(ThroughMessages(small)));
}

TEST(InteractionWireTest, NonUtf8ValuesGoToTheirRawFields) {
  const Exchange e = Exchanges()[1];
  const std::string direct = Direct(e);
  CodedInputStream in(reinterpret_cast<const uint8_t*>(direct.data()),
                      static_cast<int>(direct.size()));
  uint32_t size = 0;
  ASSERT_TRUE(in.ReadVarint32(&size));
  std::string body;
  ASSERT_TRUE(in.ReadString(&body, static_cast<int>(size)));
  v1::JournalEntry parsed;
  ASSERT_TRUE(parsed.ParseFromString(body));
  const v1::HttpExchange& http = parsed.interaction().http();
  EXPECT_EQ(http.request().headers(0).raw_value(), "caf\xe9");
  EXPECT_EQ(http.request().headers(0).value(), "");
  EXPECT_EQ(http.response().raw_reason(), "Bad \xff reason");
  EXPECT_EQ(http.response().reason(), "");
  EXPECT_EQ(FromProto(http.request()), e.request);
  EXPECT_EQ(parsed.interaction().recorded_at().seconds(), -2);
  EXPECT_EQ(parsed.interaction().recorded_at().nanos(), 499'999'999);
  EXPECT_EQ(http.timing().time_to_first_byte().nanos(), -500'000'000);
}

}  // namespace
}  // namespace matgto::cassette
