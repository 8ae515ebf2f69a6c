#include "server/cassette/interaction_wire.h"

#include <cstring>
#include <type_traits>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"
#include "server/core/utf8.h"

namespace matgto::cassette {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// An encoding runs twice over the same code: into a Counter, to size a
// message before its length prefix (and the record), then into a Writer.
struct Counter {
  size_t size = 0;
  void Varint(uint64_t v) { size += CodedOutputStream::VarintSize64(v); }
  void Raw(absl::string_view bytes) { size += bytes.size(); }
};

// Writes at `at`, which has room (a Counter sized it).
struct Writer {
  uint8_t* at;
  void Varint(uint64_t v) {
    at = CodedOutputStream::WriteVarint64ToArray(v, at);
  }
  void Raw(absl::string_view bytes) {
    if (bytes.empty()) return;
    std::memcpy(at, bytes.data(), bytes.size());
    at += bytes.size();
  }
};

template <class Sink>
void Tag(Sink& sink, int field, WireFormatLite::WireType type) {
  sink.Varint(WireFormatLite::MakeTag(field, type));
}

// A proto3 scalar: left out when zero.
template <class Sink>
void Varint(Sink& sink, int field, uint64_t value) {
  if (value == 0) return;
  Tag(sink, field, WireFormatLite::WIRETYPE_VARINT);
  sink.Varint(value);
}

// int32 and int64 alike: a negative value is its 64-bit two's complement.
template <class Sink>
void SignedVarint(Sink& sink, int field, int64_t value) {
  Varint(sink, field, static_cast<uint64_t>(value));
}

// A proto3 string or bytes field: left out when empty.
template <class Sink>
void Bytes(Sink& sink, int field, absl::string_view value) {
  if (value.empty()) return;
  Tag(sink, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  sink.Varint(value.size());
  sink.Raw(value);
}

// A sub-message that is set (written even when empty, as protobuf writes a
// present one): `fields(sink)` writes its fields.
template <class Sink, class Fields>
void Message(Sink& sink, int field, const Fields& fields) {
  Counter counter;
  fields(counter);
  Tag(sink, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  sink.Varint(counter.size);
  if constexpr (std::is_same_v<Sink, Counter>) {
    sink.size += counter.size;
  } else {
    fields(sink);
  }
}

// google.protobuf.Timestamp and Duration: seconds = 1, nanos = 2.
template <class Sink>
void Time(Sink& sink, int field, ProtoTimeParts parts) {
  Message(sink, field, [&](auto& s) {
    SignedVarint(s, 1, parts.seconds);
    SignedVarint(s, 2, parts.nanos);
  });
}

// v1.Header: name = 1, value = 2 (UTF-8) or raw_value = 3 (any other
// bytes), as codec.cc's HeadersToProto.
template <class Sink>
void Headers(Sink& sink, int field, const core::Headers& headers) {
  for (const core::Header& h : headers) {
    Message(sink, field, [&](auto& s) {
      Bytes(s, 1, h.name);
      Bytes(s, core::IsValidUtf8(h.value) ? 2 : 3, h.value);
    });
  }
}

// v1.HttpRequest, as ToProto(core::HttpRequest).
template <class Sink>
void Request(Sink& sink, const core::HttpRequest& in) {
  Bytes(sink, 1, in.method);
  Bytes(sink, 2, in.url);
  Bytes(sink, 3, HttpVersionName(in.version));
  Headers(sink, 4, in.headers);
  Bytes(sink, 5, in.body);
}

// v1.HttpResponse, as ToProto(core::HttpResponse), in field-number order.
template <class Sink>
void Response(Sink& sink, const core::HttpResponse& in) {
  const bool utf8_reason = core::IsValidUtf8(in.reason);
  Varint(sink, 1, static_cast<uint32_t>(in.status));
  if (utf8_reason) Bytes(sink, 2, in.reason);
  Bytes(sink, 3, HttpVersionName(in.version));
  Headers(sink, 4, in.headers);
  Bytes(sink, 5, in.body);
  if (!utf8_reason) Bytes(sink, 6, in.reason);
  Headers(sink, 8, in.trailers);
  for (const core::BodyChunk& c : in.chunks) {
    Message(sink, 9, [&](auto& s) {
      Varint(s, 1, c.size);
      Time(s, 2, DurationParts(c.at));
      if (c.request_bytes.has_value()) {
        // proto3 `optional`: written when set, zero included.
        Tag(s, 3, WireFormatLite::WIRETYPE_VARINT);
        s.Varint(*c.request_bytes);
      }
    });
  }
  if (in.spooled != nullptr) {
    Message(sink, 10, [&](auto& s) {
      Bytes(s, 1, in.spooled->path);
      Varint(s, 2, in.spooled->size);
    });
  }
}

// v1.Interaction's fault = 3 and http = 10 (v1.HttpExchange: request = 1,
// response = 2, timing = 3; v1.Timing: started_at = 1,
// time_to_first_byte = 2, total = 3).
template <class Sink>
void Tail(Sink& sink, const core::HttpRequest& request,
          const core::HttpResponse& response,
          const core::ExchangeTiming& timing, absl::string_view fault) {
  Bytes(sink, 3, fault);
  Message(sink, 10, [&](auto& http) {
    Message(http, 1, [&](auto& s) { Request(s, request); });
    Message(http, 2, [&](auto& s) { Response(s, response); });
    Message(http, 3, [&](auto& s) {
      Time(s, 1, TimestampParts(timing.started_at));
      Time(s, 2, DurationParts(timing.time_to_first_byte));
      Time(s, 3, DurationParts(timing.total));
    });
  });
}

}  // namespace

void AppendHttpInteractionTail(const core::HttpRequest& request,
                               const core::HttpResponse& response,
                               const core::ExchangeTiming& timing,
                               absl::string_view fault, std::string& out) {
  Counter counter;
  Tail(counter, request, response, timing, fault);
  const size_t start = out.size();
  out.resize(start + counter.size);
  Writer writer{reinterpret_cast<uint8_t*>(out.data() + start)};
  Tail(writer, request, response, timing, fault);
}

std::string JournalInteractionRecord(uint64_t index, absl::Time recorded_at,
                                     absl::string_view tail) {
  const ProtoTimeParts at = TimestampParts(recorded_at);
  // v1.JournalEntry: interaction = 2; v1.Interaction: index = 1,
  // recorded_at = 2, then the tail's fields.
  auto entry = [&](auto& sink) {
    Message(sink, 2, [&](auto& s) {
      Varint(s, 1, index);
      Time(s, 2, at);
      s.Raw(tail);
    });
  };
  Counter counter;
  entry(counter);
  std::string record(
      CodedOutputStream::VarintSize64(counter.size) + counter.size, '\0');
  Writer writer{reinterpret_cast<uint8_t*>(record.data())};
  writer.Varint(counter.size);
  entry(writer);
  return record;
}

}  // namespace matgto::cassette
