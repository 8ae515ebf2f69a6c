#include "server/cassette/interaction_wire.h"

#include <algorithm>
#include <cstring>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"
#include "server/core/utf8.h"

namespace matgto::cassette {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// Writes toward the front of a buffer whose last `written()` bytes are
// what it wrote so far; when short of room, moves them to the end of a
// larger buffer.
class Back {
 public:
  Back(std::string& buffer, size_t written)
      : buffer_(buffer), at_(buffer.size() - written) {}

  size_t written() const { return buffer_.size() - at_; }
  absl::string_view bytes() const {
    return absl::string_view(buffer_).substr(at_);
  }

  void Raw(absl::string_view bytes) {
    if (bytes.empty()) return;
    Room(bytes.size());
    at_ -= bytes.size();
    std::memcpy(buffer_.data() + at_, bytes.data(), bytes.size());
  }
  void Varint(uint64_t v) {
    const size_t n = CodedOutputStream::VarintSize64(v);
    Room(n);
    at_ -= n;
    CodedOutputStream::WriteVarint64ToArray(
        v, reinterpret_cast<uint8_t*>(buffer_.data() + at_));
  }

 private:
  void Room(size_t n) {
    if (at_ < n) Grow(n);
  }
  void Grow(size_t n) {
    const size_t size = std::max(2 * buffer_.size(), buffer_.size() + n + 1024);
    std::string larger(size, '\0');
    std::memcpy(larger.data() + size - written(), buffer_.data() + at_,
                written());
    at_ += size - buffer_.size();
    buffer_.swap(larger);
  }

  std::string& buffer_;
  size_t at_;  // where the bytes written so far start
};

// Each helper writes its field's value, then what comes before it: call
// them last field first.

void Tag(Back& back, int field, WireFormatLite::WireType type) {
  back.Varint(WireFormatLite::MakeTag(field, type));
}

// A proto3 scalar: left out when zero.
void Varint(Back& back, int field, uint64_t value) {
  if (value == 0) return;
  back.Varint(value);
  Tag(back, field, WireFormatLite::WIRETYPE_VARINT);
}

// int32 and int64 alike: a negative value is its 64-bit two's complement.
void SignedVarint(Back& back, int field, int64_t value) {
  Varint(back, field, static_cast<uint64_t>(value));
}

// A proto3 string or bytes field: left out when empty.
void Bytes(Back& back, int field, absl::string_view value) {
  if (value.empty()) return;
  back.Raw(value);
  back.Varint(value.size());
  Tag(back, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}

// A sub-message that is set (written even when empty, as protobuf writes a
// present one): `fields()` writes its fields, last first.
template <class Fields>
void Message(Back& back, int field, const Fields& fields) {
  const size_t after = back.written();
  fields();
  back.Varint(back.written() - after);
  Tag(back, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}

// google.protobuf.Timestamp and Duration: seconds = 1, nanos = 2.
void Time(Back& back, int field, ProtoTimeParts parts) {
  Message(back, field, [&] {
    SignedVarint(back, 2, parts.nanos);
    SignedVarint(back, 1, parts.seconds);
  });
}

// v1.Header: name = 1, value = 2 (UTF-8) or raw_value = 3 (any other
// bytes), as codec.cc's HeadersToProto; repeated, so written last first.
void Headers(Back& back, int field, const core::Headers& headers) {
  for (auto h = headers.rbegin(); h != headers.rend(); ++h) {
    Message(back, field, [&] {
      Bytes(back, core::IsValidUtf8(h->value) ? 2 : 3, h->value);
      Bytes(back, 1, h->name);
    });
  }
}

// v1.HttpRequest, as ToProto(core::HttpRequest).
void Request(Back& back, const core::HttpRequest& in) {
  Bytes(back, 5, in.body);
  Headers(back, 4, in.headers);
  Bytes(back, 3, HttpVersionName(in.version));
  Bytes(back, 2, in.url);
  Bytes(back, 1, in.method);
}

// v1.HttpResponse, as ToProto(core::HttpResponse).
void Response(Back& back, const core::HttpResponse& in) {
  if (in.spooled != nullptr) {
    Message(back, 10, [&] {
      Varint(back, 2, in.spooled->size);
      Bytes(back, 1, in.spooled->path);
    });
  }
  for (auto c = in.chunks.rbegin(); c != in.chunks.rend(); ++c) {
    Message(back, 9, [&] {
      if (c->request_bytes.has_value()) {
        // proto3 `optional`: written when set, zero included.
        back.Varint(*c->request_bytes);
        Tag(back, 3, WireFormatLite::WIRETYPE_VARINT);
      }
      Time(back, 2, DurationParts(c->at));
      Varint(back, 1, c->size);
    });
  }
  Headers(back, 8, in.trailers);
  // The reason: reason = 2 when UTF-8, else raw_reason = 6.
  const bool text_reason = core::IsValidUtf8(in.reason);
  if (!text_reason) Bytes(back, 6, in.reason);
  Bytes(back, 5, in.body);
  Headers(back, 4, in.headers);
  Bytes(back, 3, HttpVersionName(in.version));
  if (text_reason) Bytes(back, 2, in.reason);
  Varint(back, 1, static_cast<uint32_t>(in.status));
}

}  // namespace

void HttpInteractionRecord::SetHttp(const core::HttpRequest& request,
                                    const core::HttpResponse& response,
                                    const core::ExchangeTiming& timing,
                                    absl::string_view fault) {
  Back back(buffer_, 0);
  // v1.Interaction: fault = 3, http = 10 (v1.HttpExchange: request = 1,
  // response = 2, timing = 3; v1.Timing: started_at = 1,
  // time_to_first_byte = 2, total = 3).
  Message(back, 10, [&] {
    Message(back, 3, [&] {
      Time(back, 3, DurationParts(timing.total));
      Time(back, 2, DurationParts(timing.time_to_first_byte));
      Time(back, 1, TimestampParts(timing.started_at));
    });
    Message(back, 2, [&] { Response(back, response); });
    Message(back, 1, [&] { Request(back, request); });
  });
  Bytes(back, 3, fault);
  fields_ = back.written();
}

absl::string_view HttpInteractionRecord::Finish(uint64_t index,
                                                absl::Time recorded_at) {
  Back back(buffer_, fields_);
  // v1.Interaction: index = 1, recorded_at = 2, in front of the fields
  // SetHttp wrote; v1.JournalEntry: interaction = 2, its only field here;
  // the record's varint length in front of all.
  Time(back, 2, TimestampParts(recorded_at));
  Varint(back, 1, index);
  back.Varint(back.written());
  Tag(back, 2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  back.Varint(back.written());
  return back.bytes();
}

void HttpInteractionRecord::Trim(size_t keep) {
  if (buffer_.capacity() <= keep) return;
  std::string().swap(buffer_);
  fields_ = 0;
}

}  // namespace matgto::cassette
