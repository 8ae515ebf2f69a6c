#include "server/cassette/interaction_wire.h"

#include <cstring>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"
#include "server/core/utf8.h"

namespace matgto::cassette {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// An encoding runs twice over the same code: into a Counter, which sizes
// the whole and each sub-message (a message's length comes before it) and
// picks the field of each text value (UTF-8 or raw), then into a Writer,
// which reads those back in the same order (as protobuf caches its
// messages' sizes): each value is sized and checked once.
struct Counter {
  size_t size = 0;
  std::vector<size_t>& sizes;  // and fields
  void Varint(uint64_t v) { size += CodedOutputStream::VarintSize64(v); }
  void Raw(absl::string_view bytes) { size += bytes.size(); }
};

// Writes at `at`, which has room, with what a Counter picked (`sizes`).
struct Writer {
  uint8_t* at;
  const std::vector<size_t>& sizes;
  size_t next = 0;
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
template <class Fields>
void Message(Counter& counter, int field, const Fields& fields) {
  const size_t slot = counter.sizes.size();
  counter.sizes.push_back(0);
  const size_t before = counter.size;
  fields(counter);
  const size_t size = counter.size - before;
  counter.sizes[slot] = size;
  Tag(counter, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  counter.Varint(size);
}

template <class Fields>
void Message(Writer& writer, int field, const Fields& fields) {
  Tag(writer, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  writer.Varint(writer.sizes[writer.next++]);
  fields(writer);
}

// google.protobuf.Timestamp and Duration: seconds = 1, nanos = 2.
template <class Sink>
void Time(Sink& sink, int field, ProtoTimeParts parts) {
  Message(sink, field, [&](auto& s) {
    SignedVarint(s, 1, parts.seconds);
    SignedVarint(s, 2, parts.nanos);
  });
}

// The field `value` goes to: `text` when it is UTF-8, else `raw`.
int TextField(Counter& counter, absl::string_view value, int text, int raw) {
  const int field = core::IsValidUtf8(value) ? text : raw;
  counter.sizes.push_back(static_cast<size_t>(field));
  return field;
}

int TextField(Writer& writer, absl::string_view, int, int) {
  return static_cast<int>(writer.sizes[writer.next++]);
}

// v1.Header: name = 1, value = 2 (UTF-8) or raw_value = 3 (any other
// bytes), as codec.cc's HeadersToProto.
template <class Sink>
void Headers(Sink& sink, int field, const core::Headers& headers) {
  for (const core::Header& h : headers) {
    Message(sink, field, [&](auto& s) {
      Bytes(s, 1, h.name);
      Bytes(s, TextField(s, h.value, 2, 3), h.value);
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
  const int reason_field = TextField(sink, in.reason, 2, 6);
  Varint(sink, 1, static_cast<uint32_t>(in.status));
  if (reason_field == 2) Bytes(sink, 2, in.reason);
  Bytes(sink, 3, HttpVersionName(in.version));
  Headers(sink, 4, in.headers);
  Bytes(sink, 5, in.body);
  if (reason_field == 6) Bytes(sink, 6, in.reason);
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

// The sizes and fields a Counter picks: a thread's, reused (a recorded
// exchange has a few dozen).
std::vector<size_t>& Sizes() {
  thread_local std::vector<size_t> sizes;
  sizes.clear();
  return sizes;
}

}  // namespace

void AppendHttpInteractionTail(const core::HttpRequest& request,
                               const core::HttpResponse& response,
                               const core::ExchangeTiming& timing,
                               absl::string_view fault, std::string& out) {
  std::vector<size_t>& sizes = Sizes();
  Counter counter{.sizes = sizes};
  Tail(counter, request, response, timing, fault);
  const size_t start = out.size();
  out.resize(start + counter.size);
  Writer writer{.at = reinterpret_cast<uint8_t*>(out.data() + start),
                .sizes = sizes};
  Tail(writer, request, response, timing, fault);
}

void AppendJournalInteractionRecord(uint64_t index, absl::Time recorded_at,
                                    absl::string_view tail, std::string& out) {
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
  std::vector<size_t>& sizes = Sizes();
  Counter counter{.sizes = sizes};
  entry(counter);
  const size_t start = out.size();
  out.resize(start + CodedOutputStream::VarintSize64(counter.size) +
             counter.size);
  Writer writer{.at = reinterpret_cast<uint8_t*>(out.data() + start),
                .sizes = sizes};
  writer.Varint(counter.size);
  entry(writer);
}

}  // namespace matgto::cassette
