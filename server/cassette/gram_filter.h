// A fixed-size summary of bytes appended (a journal's records) that can
// tell a string is NOT in them without reading them back: a Bloom filter
// of each record's 8-byte words at 8-byte-aligned offsets, blocked: a
// word's two bits are in one 64-bit word of the filter, so adding a record
// touches one place of the 512 KiB array per word, not two (each a cache
// miss: adding was a fifth of what recording costs over passing through).
//
// A needle that occurs in a record at offset p covers the record's aligned
// words from the first multiple of 8 at or after p on; the needle's words at
// offsets s, s + 8, ... (s = the distance to that multiple) are those words.
// So MayContain tries each of the 8 shifts: a needle is ruled out only when
// every shift misses a word. Needles shorter than 15 bytes have a shift
// without a whole word and are never ruled out.
//
// The filter's size is fixed (kBits), so memory does not grow with what is
// added; as it fills, it rules out less, never wrongly. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "absl/strings/string_view.h"

namespace matgto::cassette {

class GramFilter {
 public:
  static constexpr int kBitsLog2 = 22;  // 512 KiB
  static constexpr size_t kBits = size_t{1} << kBitsLog2;
  static constexpr size_t kWord = 8;

  GramFilter();
  // Adds one record (its words are aligned to its own start; bytes added
  // as one run, such as a whole file of records, are a record too: a needle
  // inside any of them is still found).
  void Add(absl::string_view record);
  // Forgets everything added (the memory is given back until bits are set
  // again).
  void Clear();
  // Adds what `other` holds.
  void Merge(const GramFilter& other);
  // False only when `needle` is in no record added.
  bool MayContain(absl::string_view needle) const;

 private:
  static uint64_t Word(const char* at);
  // The filter's 64-bit word for `word`, and the two bits set there.
  static size_t Block(uint64_t word);
  static uint64_t Mask(uint64_t word);
  bool Has(uint64_t word) const;

  struct Free {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  // calloc'd: pages are touched only as bits are set. Null when the
  // allocation failed: nothing is then ruled out.
  std::unique_ptr<uint64_t[], Free> bits_;
};

}  // namespace matgto::cassette
