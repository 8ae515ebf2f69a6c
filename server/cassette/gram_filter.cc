#include "server/cassette/gram_filter.h"

#include <cstring>

namespace matgto::cassette {

GramFilter::GramFilter()
    : bits_(static_cast<uint64_t*>(std::calloc(kBits / 64, sizeof(uint64_t)))) {
}

uint64_t GramFilter::Word(const char* at) {
  uint64_t w;
  std::memcpy(&w, at, sizeof w);
  return w;
}

// Fibonacci hashing: the top bits of a product mix every byte. Two
// multipliers, two bits per word.
size_t GramFilter::Bit(uint64_t word, int which) {
  static constexpr uint64_t kMultipliers[kHashes] = {0x9E3779B97F4A7C15ull,
                                                     0xC2B2AE3D27D4EB4Full};
  return static_cast<size_t>((word * kMultipliers[which]) >> (64 - kBitsLog2));
}

bool GramFilter::Has(uint64_t word) const {
  for (int i = 0; i < kHashes; ++i) {
    const size_t bit = Bit(word, i);
    if ((bits_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  }
  return true;
}

void GramFilter::Add(absl::string_view record) {
  if (bits_ == nullptr) return;
  for (size_t at = 0; at + kWord <= record.size(); at += kWord) {
    const uint64_t word = Word(record.data() + at);
    for (int i = 0; i < kHashes; ++i) {
      const size_t bit = Bit(word, i);
      bits_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }
}

bool GramFilter::MayContain(absl::string_view needle) const {
  if (bits_ == nullptr || needle.size() < 2 * kWord - 1) return true;
  for (size_t shift = 0; shift < kWord; ++shift) {
    bool every = true;
    for (size_t at = shift; at + kWord <= needle.size(); at += kWord) {
      if (!Has(Word(needle.data() + at))) {
        every = false;
        break;
      }
    }
    if (every) return true;
  }
  return false;
}

}  // namespace matgto::cassette
