// A cassette on its way to a store: its own fields (`head`), and its
// interactions read one at a time from where the recording keeps them (its
// journal, see journal.h) as they are written. Saving a recording of a
// million exchanges then holds one interaction in memory, not all of them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

// Where a recording's interactions come from.
class InteractionSource {
 public:
  virtual ~InteractionSource() = default;
  // Calls `each` with every interaction, in order, stopping at the first
  // error (its own or `each`'s). May be called again: it starts over.
  virtual absl::Status ForEach(
      absl::FunctionRef<absl::Status(v1::Interaction&)> each) = 0;
  // One line per interaction the last ForEach left out, and why.
  virtual std::vector<std::string> Dropped() const { return {}; }
  // OK when the interactions fit in one protobuf message (under 2 GiB), as
  // Recording::Whole needs; otherwise why not. ForEach streams any size.
  virtual absl::Status FitsWhole() const { return absl::OkStatus(); }
};

// Not thread-safe: one caller at a time (the control call saving it).
class Recording {
 public:
  using Transform = std::function<void(v1::Interaction&)>;

  // A recording held whole in memory.
  explicit Recording(v1::Cassette whole);
  // `head` without interactions; the interactions come from `source`.
  Recording(v1::Cassette head, std::unique_ptr<InteractionSource> source);
  Recording(Recording&&) = default;
  Recording& operator=(Recording&&) = default;

  // Every field of the cassette but its interactions.
  v1::Cassette& head() { return head_; }
  const v1::Cassette& head() const { return head_; }
  // Runs `transform` on every interaction as it is read, after the
  // transforms added before it (the recorder scrubs secrets so).
  void AddTransform(Transform transform);

  // Calls `each` with every interaction, transformed, in order; stops at the
  // first error. Afterwards interactions() and bytes() count what was read.
  absl::Status ForEach(
      absl::FunctionRef<absl::Status(const v1::Interaction&)> each);
  // The whole cassette in memory, for what cannot stream (a JSON cassette,
  // an upload from memory, tests). RESOURCE_EXHAUSTED, before reading
  // anything, when it cannot be one message (InteractionSource::FitsWhole).
  absl::StatusOr<v1::Cassette> Whole();

  // Interactions, and their serialized bytes, read by the last ForEach.
  uint64_t interactions() const { return interactions_; }
  uint64_t bytes() const { return bytes_; }
  // Interactions the last ForEach left out (see InteractionSource).
  std::vector<std::string> Dropped() const { return source_->Dropped(); }

 private:
  v1::Cassette head_;
  std::unique_ptr<InteractionSource> source_;
  std::vector<Transform> transforms_;
  uint64_t interactions_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace matgto::cassette
