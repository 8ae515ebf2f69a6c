#include "server/replay/player.h"

#include "absl/container/inlined_vector.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"

namespace matgto::replay {

Player::Player(std::vector<RecordedExchange> exchanges,
               match::RequestMatcher matcher, OnExhausted on_exhausted,
               Repeat repeat)
    : exchanges_(std::move(exchanges)),
      matcher_(std::move(matcher)),
      on_exhausted_(on_exhausted),
      repeat_(repeat),
      uses_(exchanges_.size(), 0) {
  index_.reserve(exchanges_.size());
  fingerprints_.reserve(exchanges_.size());
  for (size_t i = 0; i < exchanges_.size(); ++i) Index(i);
}

void Player::Index(size_t position) {
  fingerprints_.push_back(matcher_.Of(exchanges_[position].request));
  index_[match::RequestMatcher::Key(fingerprints_.back())].push_back(position);
}

Player Player::FromCassette(const v1::Cassette& cassette,
                            match::RequestMatcher matcher,
                            OnExhausted on_exhausted, Repeat repeat) {
  std::vector<RecordedExchange> exchanges;
  exchanges.reserve(cassette.interactions_size());
  for (const v1::Interaction& interaction : cassette.interactions()) {
    if (!interaction.has_http()) continue;
    exchanges.push_back(RecordedExchange{
        .interaction_index = interaction.index(),
        .request = cassette::FromProto(interaction.http().request()),
        .response = std::make_shared<const core::HttpResponse>(
            cassette::FromProto(interaction.http().response())),
        .time_to_first_byte = cassette::FromProtoDuration(
            interaction.http().timing().time_to_first_byte()),
        .total =
            cassette::FromProtoDuration(interaction.http().timing().total())});
  }
  return Player(std::move(exchanges), std::move(matcher), on_exhausted, repeat);
}

void Player::Append(RecordedExchange exchange) {
  exchanges_.push_back(std::move(exchange));
  uses_.push_back(1);
  Index(exchanges_.size() - 1);
}

std::variant<Player::Hit, Player::Miss> Player::Answer(
    const core::HttpRequest& live) {
  const match::Fingerprint print = matcher_.Of(live);
  // Inline: a request matches a handful of recordings at most, usually one.
  absl::InlinedVector<size_t, 8> matching;
  if (auto it = index_.find(match::RequestMatcher::Key(print));
      it != index_.end()) {
    for (size_t pos : it->second) {
      if (fingerprints_[pos] == print)
        matching.push_back(pos);  // else a collision
    }
  }
  const Pick pick = PickRecording(matching, uses_, repeat_, on_exhausted_);
  switch (pick.outcome) {
    case Pick::Outcome::kAnswer:
      return Hit{exchanges_[pick.position].interaction_index,
                 exchanges_[pick.position].response,
                 exchanges_[pick.position].time_to_first_byte,
                 exchanges_[pick.position].total};
    case Pick::Outcome::kExhausted:
      return Miss{.reason = "exhausted", .closest = {{pick.position, {}}}};
    case Pick::Outcome::kNoMatch:
      break;
  }
  std::vector<const match::Fingerprint*> recorded;
  recorded.reserve(fingerprints_.size());
  for (const match::Fingerprint& f : fingerprints_) recorded.push_back(&f);
  return Miss{.reason = "no-match",
              .closest = matcher_.Rank(recorded, print, 3)};
}

std::vector<uint64_t> Player::Unused() const {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < exchanges_.size(); ++i) {
    if (uses_[i] == 0) out.push_back(exchanges_[i].interaction_index);
  }
  return out;
}

}  // namespace matgto::replay
