#include "server/cassette/recording.h"

#include "server/core/status_macros.h"

namespace matgto::cassette {
namespace {

// The interactions of a cassette held in memory, handed out in place.
class WholeSource final : public InteractionSource {
 public:
  explicit WholeSource(
      google::protobuf::RepeatedPtrField<v1::Interaction> interactions)
      : interactions_(std::move(interactions)) {}
  absl::Status ForEach(
      absl::FunctionRef<absl::Status(v1::Interaction&)> each) override {
    for (v1::Interaction& interaction : interactions_) {
      RETURN_IF_ERROR(each(interaction));
    }
    return absl::OkStatus();
  }

 private:
  google::protobuf::RepeatedPtrField<v1::Interaction> interactions_;
};

}  // namespace

Recording::Recording(v1::Cassette whole) {
  auto interactions =
      std::make_unique<WholeSource>(std::move(*whole.mutable_interactions()));
  whole.clear_interactions();
  head_ = std::move(whole);
  source_ = std::move(interactions);
}

Recording::Recording(v1::Cassette head,
                     std::unique_ptr<InteractionSource> source)
    : head_(std::move(head)), source_(std::move(source)) {
  head_.clear_interactions();
}

void Recording::AddTransform(Transform transform) {
  transforms_.push_back(std::move(transform));
}

absl::Status Recording::ForEach(
    absl::FunctionRef<absl::Status(const v1::Interaction&)> each) {
  interactions_ = 0;
  bytes_ = 0;
  return source_->ForEach([&](v1::Interaction& interaction) {
    for (const Transform& transform : transforms_) transform(interaction);
    ++interactions_;
    bytes_ += interaction.ByteSizeLong();
    return each(interaction);
  });
}

absl::StatusOr<v1::Cassette> Recording::Whole() {
  RETURN_IF_ERROR(source_->FitsWhole());
  v1::Cassette out = head_;
  RETURN_IF_ERROR(ForEach([&](const v1::Interaction& interaction) {
    *out.add_interactions() = interaction;
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace matgto::cassette
