#include "server/cassette/needles.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace matgto::cassette {
namespace {

// Fibonacci hashing: the top bits of the product mix every byte.
constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
constexpr int kMinFilterLog2 = 12;  // 512 bytes
constexpr size_t kFilterBitsPerNeedle = 32;
// Windows of a needle tried for a key of its own before it shares one.
constexpr size_t kKeyTries = 64;

}  // namespace

uint64_t Needles::Window(const char* at) {
  uint64_t w;
  std::memcpy(&w, at, sizeof w);
  return w;
}

size_t Needles::FilterBit(uint64_t key) const {
  return static_cast<size_t>((key * kMultiplier) >> (64 - filter_log2_));
}

void Needles::GrowFilter() {
  int log2 = std::max(filter_log2_, kMinFilterLog2);
  while ((size_t{1} << log2) < kFilterBitsPerNeedle * keys_.size()) ++log2;
  if (log2 == filter_log2_) return;
  filter_log2_ = log2;
  filter_.assign((size_t{1} << log2) / 64, 0);
  for (const auto& [key, newest] : keys_) {
    const size_t bit = FilterBit(key);
    filter_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
}

void Needles::AddOne(absl::string_view needle, Kind kind) {
  const uint32_t index = static_cast<uint32_t>(needles_.size());
  Needle n{.offset = static_cast<uint32_t>(bytes_.size()),
           .length = static_cast<uint32_t>(needle.size()),
           .key_at = 0,
           .next = kNone,
           .kind = kind};
  bytes_.append(needle.data(), needle.size());
  if (needle.size() < kWindow) {
    needles_.push_back(n);
    short_.push_back(index);
    return;
  }
  // A window no needle is filed under yet, from the end back; failing
  // that, the last one (a chain of needles alike at the end).
  const size_t last = needle.size() - kWindow;
  n.key_at = static_cast<uint32_t>(last);
  for (size_t tried = 0; tried < kKeyTries && tried <= last; ++tried) {
    if (!keys_.contains(Window(needle.data() + last - tried))) {
      n.key_at = static_cast<uint32_t>(last - tried);
      break;
    }
  }
  auto [it, inserted] =
      keys_.try_emplace(Window(needle.data() + n.key_at), index);
  if (!inserted) {
    n.next = it->second;
    it->second = index;
  }
  needles_.push_back(n);
  if (inserted) {
    if (kFilterBitsPerNeedle * keys_.size() > (size_t{1} << filter_log2_)) {
      GrowFilter();
    } else {
      const size_t bit = FilterBit(it->first);
      filter_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }
}

size_t Needles::Add(const std::vector<std::string>& needles, Kind kind) {
  absl::MutexLock lock(&mu_);
  for (const std::string& n : needles) {
    if (!n.empty()) AddOne(n, kind);
  }
  return needles_.size();
}

void Needles::CopyFrom(const Needles& other, size_t visible) {
  std::vector<std::pair<std::string, Kind>> copied;
  {
    absl::ReaderMutexLock lock(&other.mu_);
    visible = std::min(visible, other.needles_.size());
    copied.reserve(visible);
    for (size_t i = 0; i < visible; ++i) {
      const Needle& n = other.needles_[i];
      copied.emplace_back(other.bytes_.substr(n.offset, n.length), n.kind);
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [needle, kind] : copied) AddOne(needle, kind);
}

std::optional<size_t> Needles::AddAfter(
    size_t expected, const std::vector<std::string>& plain,
    const std::vector<std::string>& encoded) {
  absl::MutexLock lock(&mu_);
  if (needles_.size() != expected) return std::nullopt;
  for (const std::string& n : plain) {
    if (!n.empty()) AddOne(n, Kind::kPlain);
  }
  for (const std::string& n : encoded) {
    if (!n.empty()) AddOne(n, Kind::kEncoded);
  }
  return needles_.size();
}

size_t Needles::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return needles_.size();
}

template <typename OnMatch>
void Needles::Scan(absl::string_view text, size_t visible, bool any_kind,
                   Kind kind, OnMatch found) const {
  const char* const data = text.data();
  const size_t size = text.size();
  auto matches = [&](const Needle& n, size_t start) {
    return (any_kind || n.kind == kind) && start + n.length <= size &&
           std::memcmp(data + start, bytes_.data() + n.offset, n.length) == 0;
  };
  for (uint32_t i : short_) {
    if (i >= visible) break;
    const Needle& n = needles_[i];
    const absl::string_view needle(bytes_.data() + n.offset, n.length);
    for (size_t at = text.find(needle); at != absl::string_view::npos;
         at = text.find(needle, at + 1)) {
      if (matches(n, at) && !found(i, at)) return;
    }
  }
  if (keys_.empty() || size < kWindow) return;
  const int shift = 64 - filter_log2_;
  const uint64_t* const filter = filter_.data();
  for (size_t at = 0; at + kWindow <= size; ++at) {
    const uint64_t w = Window(data + at);
    const size_t bit = static_cast<size_t>((w * kMultiplier) >> shift);
    if ((filter[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) continue;
    const auto it = keys_.find(w);
    if (it == keys_.end()) continue;
    for (uint32_t i = it->second; i != kNone; i = needles_[i].next) {
      if (i >= visible) continue;  // added after this snapshot
      const Needle& n = needles_[i];
      if (at < n.key_at) continue;
      const size_t start = at - n.key_at;
      if (matches(n, start) && !found(i, start)) return;
    }
  }
}

namespace {

// Leftmost first, longest first at one place; then each match that starts
// where the one taken before it ended, or later.
void LeftmostLongest(std::vector<Needles::Match>& all) {
  if (all.size() < 2) return;
  std::sort(all.begin(), all.end(),
            [](const Needles::Match& a, const Needles::Match& b) {
              return a.start != b.start ? a.start < b.start
                                        : a.length > b.length;
            });
  size_t kept = 0;
  size_t end = 0;
  for (const Needles::Match& m : all) {
    if (m.start < end) continue;
    all[kept++] = m;
    end = m.start + m.length;
  }
  all.resize(kept);
}

}  // namespace

std::vector<Needles::Match> Needles::Find(absl::string_view text,
                                          size_t visible, Kind kind) const {
  std::vector<Match> all;
  {
    absl::ReaderMutexLock lock(&mu_);
    Scan(text, visible, /*any_kind=*/false, kind, [&](uint32_t i, size_t at) {
      all.push_back(Match{at, needles_[i].length});
      return true;
    });
  }
  LeftmostLongest(all);
  return all;
}

Needles::Found Needles::FindBoth(absl::string_view text, size_t visible) const {
  Found found;
  {
    absl::ReaderMutexLock lock(&mu_);
    Scan(text, visible, /*any_kind=*/true, Kind::kPlain,
         [&](uint32_t i, size_t at) {
           const Needle& n = needles_[i];
           (n.kind == Kind::kPlain ? found.plain : found.encoded)
               .push_back(Match{at, n.length});
           return true;
         });
  }
  LeftmostLongest(found.plain);
  LeftmostLongest(found.encoded);
  return found;
}

bool Needles::Any(absl::string_view text, size_t visible) const {
  absl::ReaderMutexLock lock(&mu_);
  bool any = false;
  Scan(text, visible, /*any_kind=*/true, Kind::kPlain, [&](uint32_t, size_t) {
    any = true;
    return false;
  });
  return any;
}

}  // namespace matgto::cassette
