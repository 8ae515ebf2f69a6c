// A value derived from an immutable object, computed by its first reader
// and kept with the object for every later one (a replayed response's
// serialized header block, for instance: built on the first replay, reused
// by every connection after it).
//
// The layer that owns the object knows nothing of what is kept: the memo is
// type-erased, and the reader names the type. Copying an object gives the
// copy an empty memo (a copy may be changed; what was derived from the
// original would be stale), and memos never take part in equality.
//
// Thread-safety: Get may be called from any number of threads at once; the
// first caller computes the value (std::call_once), the others wait for it,
// and afterwards a read is one atomic load. Every caller must ask for the
// same type T.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace matgto::core {

class Memo {
 public:
  Memo() = default;
  Memo(const Memo&) {}
  Memo& operator=(const Memo&) { return *this; }
  friend bool operator==(const Memo&, const Memo&) { return true; }

  // Forgets the value (not while another thread may call Get).
  void Clear() {
    value_.reset();
    std::destroy_at(&once_);
    std::construct_at(&once_);
  }

  template <class T, class Make>
  const T& Get(Make&& make) const {
    std::call_once(once_, [&] {
      value_ = std::make_shared<const T>(std::forward<Make>(make)());
    });
    return *static_cast<const T*>(value_.get());
  }

 private:
  mutable std::once_flag once_;
  mutable std::shared_ptr<const void> value_;
};

}  // namespace matgto::core
