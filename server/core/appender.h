// Appends many short pieces to a std::string through a cursor: one resize
// for a whole line instead of a size check, a length update and a
// terminator per piece. (Before C++23's resize_and_overwrite, std::string
// cannot be written past size() without resizing; an append of a 2-byte
// piece costs as much as its copy many times over.) Used where a line is
// built from a dozen pieces per exchange: a log record, a header block.
//
// The string is resized ahead of the cursor as room is asked for, and
// trimmed back to what was written by Finish() or the destructor; between
// the two it holds unwritten bytes past the cursor, so read it only after.
//
//   Appender a(out, 256);  // a guess; more room is made when it is short
//   a << "name: " << value << "\r\n";
//   a.Finish();
//
// Not thread-safe (one writer, as the string itself).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace matgto::core {

class Appender {
 public:
  // Appends to `out` after what it holds; `expect`: the bytes likely to be
  // appended (only a first size: more is made when needed).
  Appender(std::string& out, size_t expect) : out_(out) {
    Open(out_.size(), expect);
  }
  ~Appender() { Finish(); }
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;

  Appender& operator<<(absl::string_view s) { return Append(s); }
  Appender& operator<<(char c) { return Append(c); }
  // Decimal digits.
  template <class Int, std::enable_if_t<std::is_integral_v<Int> &&
                                            !std::is_same_v<Int, bool> &&
                                            !std::is_same_v<Int, char>,
                                        int> = 0>
  Appender& operator<<(Int value) {
    constexpr size_t kMax = 24;  // 20 digits and a sign at most
    char* p = Room(kMax);
    const auto [end, ec] = std::to_chars(p, p + kMax, value);
    cursor_ = end;
    return *this;
  }

  // Several pieces (string views and chars) with a single room check.
  template <class... Pieces>
  Appender& Append(const Pieces&... pieces) {
    char* p = Room((Size(pieces) + ...));
    ((p = Copy(p, pieces)), ...);
    return *this;
  }

  // The string's length once trimmed.
  size_t size() const {
    return cursor_ != nullptr ? static_cast<size_t>(cursor_ - out_.data())
                              : out_.size();
  }

  // Trims the string to what was written. Later appends make room again.
  void Finish() {
    if (cursor_ == nullptr) return;
    out_.resize(size());
    cursor_ = end_ = nullptr;
  }

 private:
  // `n` bytes at the cursor, which moves past them.
  char* Room(size_t n) {
    if (static_cast<size_t>(end_ - cursor_) < n) Grow(n);
    char* p = cursor_;
    cursor_ += n;
    return p;
  }
  static size_t Size(absl::string_view s) { return s.size(); }
  static size_t Size(char) { return 1; }
  static char* Copy(char* p, absl::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return p + s.size();
  }
  static char* Copy(char* p, char c) {
    *p = c;
    return p + 1;
  }
  // Room for at least `n` more bytes (out of line: the rare path).
  void Grow(size_t n);
  // Resizes the string to `written` + `room` and puts the cursor after
  // `written`.
  void Open(size_t written, size_t room) {
    out_.resize(written + room);
    cursor_ = out_.data() + written;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  // The next byte to write and the end of the room; null when the string
  // holds no unwritten room (after Finish).
  char* cursor_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace matgto::core
