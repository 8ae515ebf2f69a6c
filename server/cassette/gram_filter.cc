#include "server/cassette/gram_filter.h"

#include <cstring>

namespace matgto::cassette {

GramFilter::GramFilter()
    : bits_(static_cast<uint64_t*>(std::calloc(kBits / 64, sizeof(uint64_t)))) {
}

void GramFilter::Clear() {
  bits_.reset();
  bits_.reset(
      static_cast<uint64_t*>(std::calloc(kBits / 64, sizeof(uint64_t))));
}

void GramFilter::Merge(const GramFilter& other) {
  if (bits_ == nullptr || other.bits_ == nullptr) return;
  for (size_t i = 0; i < kBits / 64; ++i) bits_[i] |= other.bits_[i];
}

uint64_t GramFilter::Word(const char* at) {
  uint64_t w;
  std::memcpy(&w, at, sizeof w);
  return w;
}

// Fibonacci hashing: the top bits of a product mix every byte. One
// multiplier picks the block, another the two bits in it.
size_t GramFilter::Block(uint64_t word) {
  return static_cast<size_t>((word * 0x9E3779B97F4A7C15ull) >>
                             (64 - (kBitsLog2 - 6)));
}

uint64_t GramFilter::Mask(uint64_t word) {
  const uint64_t h = word * 0xC2B2AE3D27D4EB4Full;
  return (uint64_t{1} << (h >> 58)) | (uint64_t{1} << ((h >> 52) & 63));
}

bool GramFilter::Has(uint64_t word) const {
  const uint64_t mask = Mask(word);
  return (bits_[Block(word)] & mask) == mask;
}

void GramFilter::Add(absl::string_view record) {
  if (bits_ == nullptr) return;
  for (size_t at = 0; at + kWord <= record.size(); at += kWord) {
    const uint64_t word = Word(record.data() + at);
    bits_[Block(word)] |= Mask(word);
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
