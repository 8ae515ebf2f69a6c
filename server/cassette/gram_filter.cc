#include "server/cassette/gram_filter.h"

#include <cstring>

namespace matgto::cassette {

GramFilter::GramFilter()
    : bits_(static_cast<uint64_t*>(std::calloc(kBits / 64, sizeof(uint64_t)))) {
}

size_t GramFilter::Bit(const char* word) {
  uint64_t w;
  std::memcpy(&w, word, sizeof w);
  // Fibonacci hashing: the top bits of the product mix every byte.
  return static_cast<size_t>((w * 0x9E3779B97F4A7C15ull) >> (64 - kBitsLog2));
}

void GramFilter::Add(absl::string_view record) {
  if (bits_ == nullptr) return;
  for (size_t at = 0; at + kWord <= record.size(); at += kWord) {
    const size_t bit = Bit(record.data() + at);
    bits_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
}

bool GramFilter::MayContain(absl::string_view needle) const {
  if (bits_ == nullptr || needle.size() < 2 * kWord - 1) return true;
  for (size_t shift = 0; shift < kWord; ++shift) {
    bool every = true;
    for (size_t at = shift; at + kWord <= needle.size(); at += kWord) {
      const size_t bit = Bit(needle.data() + at);
      if ((bits_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) {
        every = false;
        break;
      }
    }
    if (every) return true;
  }
  return false;
}

}  // namespace matgto::cassette
