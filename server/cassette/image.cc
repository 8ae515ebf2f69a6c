#include "server/cassette/image.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cassette/codec.h"
#include "server/cassette/json_codec.h"
#include "server/cassette/proto_time.h"
#include "server/core/status_macros.h"

namespace matgto::cassette {
namespace {

// Field numbers of cassette.proto that the scan looks at.
constexpr uint32_t kCassetteInteractions = 5;
constexpr uint32_t kInteractionIndex = 1;
constexpr uint32_t kInteractionHttp = 10;
constexpr uint32_t kExchangeRequest = 1;
constexpr uint32_t kExchangeResponse = 2;
constexpr uint32_t kResponseBody = 5;
constexpr uint32_t kResponseBodyText = 7;

// One field of a serialized message. Hand-written rather than
// protobuf's CodedInputStream: that one stops at 2 GiB, and a cassette with
// a gigabyte of bodies may pass it.
struct Field {
  uint32_t number = 0;
  int wire_type = 0;
  // The whole field (tag included), and for a length-delimited one its
  // payload; for a varint its value.
  absl::string_view whole;
  absl::string_view payload;
  uint64_t varint = 0;
};

bool ReadVarint(const char*& p, const char* end, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto byte = static_cast<unsigned char>(*p++);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Reads the field at `p` and moves past it; false when the bytes are not a
// field (groups, which proto3 never writes, count as damage).
bool NextField(const char*& p, const char* end, Field& f) {
  const char* start = p;
  uint64_t tag = 0;
  if (!ReadVarint(p, end, tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
    return false;
  }
  f.number = static_cast<uint32_t>(tag >> 3);
  f.wire_type = static_cast<int>(tag & 7);
  switch (f.wire_type) {
    case 0:
      if (!ReadVarint(p, end, f.varint)) return false;
      break;
    case 1:
    case 5: {
      const size_t n = f.wire_type == 1 ? 8 : 4;
      if (static_cast<size_t>(end - p) < n) return false;
      p += n;
      break;
    }
    case 2: {
      uint64_t length = 0;
      if (!ReadVarint(p, end, length) ||
          length > static_cast<uint64_t>(end - p)) {
        return false;
      }
      f.payload = absl::string_view(p, length);
      p += length;
      break;
    }
    default:
      return false;
  }
  f.whole = absl::string_view(start, p - start);
  return true;
}

bool Parse(google::protobuf::MessageLite& message, absl::string_view bytes) {
  return bytes.size() <= INT32_MAX &&
         message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

absl::Status Damaged(absl::string_view source) {
  return absl::DataLossError(absl::StrCat(
      "cassette file ", source,
      " is corrupt or truncated (not a valid matgto.v1.Cassette protobuf)"));
}

// Reused between interactions, so that checking one allocates little.
// The exchange and response are kept out of the interaction's oneof (a
// parse would free them) and lent to it only while it is checked.
struct Scratch {
  v1::Interaction interaction;
  v1::HttpExchange exchange;
  v1::HttpResponse response;
  std::string rest, exchange_rest, response_rest;
};

class LendExchange {
 public:
  LendExchange(v1::Interaction& to, v1::HttpExchange& exchange) : to_(to) {
    to_.set_allocated_http(&exchange);
  }
  ~LendExchange() { (void)to_.release_http(); }
  LendExchange(const LendExchange&) = delete;
  LendExchange& operator=(const LendExchange&) = delete;

 private:
  v1::Interaction& to_;
};

}  // namespace

CassetteImage::~CassetteImage() {
  if (mapped_ && size_ > 0) {
    ::munmap(const_cast<char*>(data_), size_);
  }
}

absl::StatusOr<std::unique_ptr<CassetteImage>> CassetteImage::Map(
    int fd, absl::string_view source) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat cassette file ",
                                            source, ": ", strerror(errno)));
  }
  if (st.st_size == 0) {
    return absl::DataLossError(
        absl::StrCat("cassette file ", source, " is empty"));
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) {
    return absl::InternalError(absl::StrCat("cannot map cassette file ", source,
                                            ": ", strerror(errno)));
  }
  std::unique_ptr<CassetteImage> image(new CassetteImage());
  image->data_ = static_cast<const char*>(data);
  image->size_ = size;
  image->mapped_ = true;
  // Read once in order now; then pages are fetched as interactions are used.
  ::madvise(data, size, MADV_SEQUENTIAL);
  absl::Status scanned = image->Scan(source);
  ::madvise(data, size, MADV_DONTNEED);
  ::madvise(data, size, MADV_RANDOM);
  if (!scanned.ok()) return scanned;
  return image;
}

absl::StatusOr<std::unique_ptr<CassetteImage>> CassetteImage::FromBytes(
    std::string bytes, absl::string_view source) {
  if (bytes.empty()) {
    return absl::DataLossError(
        absl::StrCat("cassette file ", source, " is empty"));
  }
  std::unique_ptr<CassetteImage> image(new CassetteImage());
  image->buffer_ = std::move(bytes);
  image->data_ = image->buffer_.data();
  image->size_ = image->buffer_.size();
  RETURN_IF_ERROR(image->Scan(source));
  return image;
}

std::unique_ptr<CassetteImage> CassetteImage::FromCassette(
    const v1::Cassette& cassette) {
  std::unique_ptr<CassetteImage> image(new CassetteImage());
  image->buffer_ = cassette.SerializeAsString();
  image->data_ = image->buffer_.data();
  image->size_ = image->buffer_.size();
  // What protobuf serialized reads back; only the checks of a stored file
  // (end marker, times) may fail, and they are not asked of it.
  (void)image->Scan(cassette.name(), /*check=*/false);
  return image;
}

absl::Status CassetteImage::Scan(absl::string_view source, bool check) {
  source_ = std::string(source);
  const char* p = data_;
  const char* const end = data_ + size_;
  std::string header_bytes;
  Field f;
  Scratch scratch;
  while (p < end) {
    if (!NextField(p, end, f)) return Damaged(source);
    if (f.number != kCassetteInteractions || f.wire_type != 2) {
      header_bytes.append(f.whole.data(), f.whole.size());
      continue;
    }
    if (f.payload.size() > UINT32_MAX) {
      return absl::DataLossError(absl::StrCat(
          "cassette file ", source, ": interaction ", spans_.size(),
          " is larger than 4 GiB, which matgto cannot replay"));
    }
    Span span{.offset = static_cast<uint64_t>(f.payload.data() - data_),
              .length = static_cast<uint32_t>(f.payload.size())};
    // The interaction without its response body: parsed to check it.
    v1::Interaction& it = scratch.interaction;
    scratch.rest.clear();
    scratch.exchange_rest.clear();
    scratch.response_rest.clear();
    int https = 0, requests = 0, responses = 0;
    absl::string_view request, response;
    const char* q = f.payload.data();
    const char* const q_end = q + f.payload.size();
    Field g;
    while (q < q_end) {
      if (!NextField(q, q_end, g)) return Damaged(source);
      if (g.number == kInteractionIndex && g.wire_type == 0) {
        span.index = g.varint;
      }
      if (g.number == kInteractionHttp && g.wire_type == 2) {
        ++https;
        const char* r = g.payload.data();
        const char* const r_end = r + g.payload.size();
        Field h;
        while (r < r_end) {
          if (!NextField(r, r_end, h)) return Damaged(source);
          if (h.number == kExchangeRequest && h.wire_type == 2) {
            ++requests;
            request = h.payload;
          }
          if (h.number != kExchangeResponse || h.wire_type != 2) {
            scratch.exchange_rest.append(h.whole.data(), h.whole.size());
            continue;
          }
          ++responses;
          response = h.payload;
        }
        continue;
      }
      scratch.rest.append(g.whole.data(), g.whole.size());
    }
    if (https > 1 || responses > 1) {
      // Split across fields (merged by a parser): checked whole.
      if (!Parse(it, f.payload)) return Damaged(source);
    } else {
      const char* r = response.data();
      const char* const r_end = r + response.size();
      Field h;
      while (r < r_end) {
        if (!NextField(r, r_end, h)) return Damaged(source);
        if ((h.number == kResponseBody || h.number == kResponseBodyText) &&
            h.wire_type == 2) {
          continue;  // bytes, and text checked as UTF-8 when replayed
        }
        scratch.response_rest.append(h.whole.data(), h.whole.size());
      }
      if (!Parse(it, scratch.rest)) return Damaged(source);
      if (https == 1) {
        if (!Parse(scratch.exchange, scratch.exchange_rest) ||
            (responses == 1 &&
             !Parse(scratch.response, scratch.response_rest))) {
          return Damaged(source);
        }
      }
    }
    std::optional<LendExchange> lent;
    if (https == 1 && !it.has_http()) lent.emplace(it, scratch.exchange);
    if (it.has_http()) {
      span.kind = Kind::kHttp;
      if (requests == 1 && https == 1) {
        span.request_offset =
            static_cast<uint32_t>(request.data() - f.payload.data());
        span.request_length = static_cast<uint32_t>(request.size());
      }
    } else if (it.has_websocket()) {
      span.kind = Kind::kWebSocket;
    }
    if (check) {
      RETURN_IF_ERROR(
          CheckTimesInRange(it, static_cast<int64_t>(spans_.size()), source));
    }
    spans_.push_back(span);
  }
  if (!Parse(header_, header_bytes)) return Damaged(source);
  if (!check) return absl::OkStatus();
  RETURN_IF_ERROR(CheckCassetteHeader(
      header_, static_cast<int64_t>(spans_.size()), source));
  return CheckTimesInRange(header_, source);
}

absl::StatusOr<v1::Interaction> CassetteImage::Interaction(size_t i) const {
  v1::Interaction out;
  if (!Parse(out, Bytes(spans_[i]))) {
    return absl::DataLossError(absl::StrCat(
        "cassette file ", source_, ": interaction ", i, " cannot be read"));
  }
  NormalizeTextBodies(out);
  return out;
}

absl::Status CassetteImage::Request(size_t i, v1::HttpRequest& out) const {
  const Span& span = spans_[i];
  if (span.request_length == 0 && span.request_offset == 0) {
    ASSIGN_OR_RETURN(v1::Interaction whole, Interaction(i));
    out = std::move(*whole.mutable_http()->mutable_request());
    return absl::OkStatus();
  }
  if (!Parse(out, absl::string_view(data_ + span.offset + span.request_offset,
                                    span.request_length))) {
    return absl::DataLossError(absl::StrCat("cassette file ", source_,
                                            ": the request of interaction ", i,
                                            " cannot be read"));
  }
  NormalizeTextBody(out);
  return absl::OkStatus();
}

void CassetteImage::Release(size_t i) const {
  if (!mapped_) return;
  const uint64_t length = spans_[i].length;
  if (length < kReleaseBatchBytes) {
    // (Two threads crossing the threshold together both drop the mapping:
    // harmless.)
    if (released_.fetch_add(length, std::memory_order_relaxed) + length <
        kReleaseBatchBytes) {
      return;
    }
    released_.store(0, std::memory_order_relaxed);
    ReleaseAll();
    return;
  }
  static const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = spans_[i].offset / page * page;
  const uint64_t end = spans_[i].offset + spans_[i].length;
  ::madvise(const_cast<char*>(data_) + start, end - start, MADV_DONTNEED);
}

void CassetteImage::ReleaseAll() const {
  if (mapped_) ::madvise(const_cast<char*>(data_), size_, MADV_DONTNEED);
}

absl::StatusOr<v1::Cassette> CassetteImage::Materialize() const {
  v1::Cassette out = header_;
  out.mutable_interactions()->Reserve(static_cast<int>(spans_.size()));
  for (size_t i = 0; i < spans_.size(); ++i) {
    ASSIGN_OR_RETURN(*out.add_interactions(), Interaction(i));
  }
  return out;
}

}  // namespace matgto::cassette
