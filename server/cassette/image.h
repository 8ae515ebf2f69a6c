// A cassette as replay loads it: its serialized bytes (a read-only mapping
// of the file, or a buffer) and where each interaction lies in them, so that
// a cassette of a million interactions, or one with a gigabyte of bodies,
// costs memory for what is replayed from it rather than for its size.
//
// Loading checks every interaction as ParseCassette would (wire structure,
// schema version, end marker, times in range) but skips the bytes of
// response bodies, and keeps nothing parsed but the cassette's own fields
// (name, options, ...) and a few numbers per interaction. An interaction is
// parsed again, whole, when it is used; its request alone when only that is
// needed (matching).
//
// Memory: the pages of a mapped file are page cache. While touched they
// count in the process's RssFile (not RssAnon); they are clean, so the
// kernel may drop them at any time, and the check pass releases what it
// touched (MADV_DONTNEED) before the image is used. The image itself holds
// 32 bytes per interaction.
//
// The file format is the one ParseCassette reads (a binary
// matgto.v1.Cassette); nothing is written.
//
// Thread-safety: immutable once created; share freely.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

class CassetteImage {
 public:
  enum class Kind : uint8_t { kOther, kHttp, kWebSocket };

  // Maps the cassette file open on `fd` (the descriptor may be closed
  // afterwards). `source` (a path or name) is quoted in errors, which are
  // those of ParseCassette.
  static absl::StatusOr<std::unique_ptr<CassetteImage>> Map(
      int fd, absl::string_view source);
  // Over a binary cassette's bytes in memory.
  static absl::StatusOr<std::unique_ptr<CassetteImage>> FromBytes(
      std::string bytes, absl::string_view source);
  // Of a cassette already parsed (a JSON file, another store): serialized
  // once, and then like FromBytes.
  static std::unique_ptr<CassetteImage> FromCassette(
      const v1::Cassette& cassette);

  ~CassetteImage();
  CassetteImage(const CassetteImage&) = delete;
  CassetteImage& operator=(const CassetteImage&) = delete;

  // The cassette without its interactions.
  const v1::Cassette& header() const { return header_; }
  v1::Cassette& mutable_header() { return header_; }

  size_t size() const { return spans_.size(); }
  Kind kind(size_t i) const { return spans_[i].kind; }
  // Interaction i's `index` field.
  uint64_t index(size_t i) const { return spans_[i].index; }
  // The size of the cassette's bytes.
  size_t byte_size() const { return size_; }

  // Interaction i, parsed whole, text bodies normalized (json_codec.h).
  absl::StatusOr<v1::Interaction> Interaction(size_t i) const;
  // The request of HTTP interaction i into `out` (reused: parsing into the
  // same message again allocates little), its text body normalized.
  absl::Status Request(size_t i, v1::HttpRequest& out) const;
  // Lets the kernel drop the pages of interaction i (or of every one) from
  // this process's mapping: read again from the page cache (or the file)
  // when used again. A hint; nothing for an image in memory. Release(i)
  // drops an interaction of kReleaseBatchBytes or more at once, smaller ones
  // in batches: once that many bytes of them were released, every page of
  // the mapping goes (nothing holds them: what is parsed is copied out).
  // Each madvise makes every CPU the process runs on flush its TLB (an
  // interrupt per CPU), so one per interaction cost about as much as
  // parsing it: a replay using each of 241,835 recordings once ran at 34,141
  // requests/s with 33.5 us of CPU each, and at 67,742 with 16.1 batched.
  void Release(size_t i) const;
  static constexpr uint64_t kReleaseBatchBytes = 4 << 20;
  void ReleaseAll() const;

  // The whole cassette, as ParseCassette + NormalizeTextBodies give it
  // (for what changes a cassette: a replay that records its misses).
  absl::StatusOr<v1::Cassette> Materialize() const;

 private:
  struct Span {
    uint64_t offset = 0;
    uint64_t index = 0;
    uint32_t length = 0;
    // Of the request, from the interaction's start; 0/0 when the request
    // is not one field (parse the interaction instead).
    uint32_t request_offset = 0;
    uint32_t request_length = 0;
    Kind kind = Kind::kOther;
  };

  CassetteImage() = default;
  // Finds the interactions; with `check`, makes ParseCassette's checks.
  absl::Status Scan(absl::string_view source, bool check = true);
  absl::string_view Bytes(const Span& span) const {
    return absl::string_view(data_ + span.offset, span.length);
  }

  const char* data_ = nullptr;
  size_t size_ = 0;
  // Whichever owns data_: a mapping (unmapped on destruction) or a buffer.
  bool mapped_ = false;
  std::string buffer_;
  std::string source_;
  v1::Cassette header_;
  std::vector<Span> spans_;
  // Bytes released by Release(i) since the mapping was last dropped whole.
  mutable std::atomic<uint64_t> released_{0};
};

}  // namespace matgto::cassette
