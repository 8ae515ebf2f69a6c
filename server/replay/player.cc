#include "server/replay/player.h"

#include "server/cassette/codec.h"

namespace matgto::replay {

Player::Player(std::vector<RecordedExchange> exchanges,
               match::RequestMatcher matcher, v1::ExhaustedPolicy on_exhausted)
    : exchanges_(std::move(exchanges)),
      matcher_(matcher),
      on_exhausted_(on_exhausted),
      uses_(exchanges_.size(), 0) {
  index_.reserve(exchanges_.size());
  for (size_t i = 0; i < exchanges_.size(); ++i) {
    index_[matcher_.Key(exchanges_[i].request)].push_back(i);
  }
}

Player Player::FromCassette(const v1::Cassette& cassette,
                            match::RequestMatcher matcher,
                            v1::ExhaustedPolicy on_exhausted) {
  std::vector<RecordedExchange> exchanges;
  exchanges.reserve(cassette.interactions_size());
  for (const v1::Interaction& interaction : cassette.interactions()) {
    if (!interaction.has_http()) continue;
    exchanges.push_back(RecordedExchange{
        .interaction_index = interaction.index(),
        .request = cassette::FromProto(interaction.http().request()),
        .response = std::make_shared<const core::HttpResponse>(
            cassette::FromProto(interaction.http().response()))});
  }
  return Player(std::move(exchanges), matcher, on_exhausted);
}

std::variant<Player::Hit, Player::Miss> Player::Answer(
    const core::HttpRequest& live) {
  auto it = index_.find(matcher_.Key(live));
  if (it != index_.end()) {
    const size_t* last_match = nullptr;
    for (const size_t& pos : it->second) {
      if (!matcher_.Matches(exchanges_[pos].request, live)) continue;
      if (uses_[pos] == 0) {
        ++uses_[pos];
        return Hit{exchanges_[pos].interaction_index, exchanges_[pos].response};
      }
      last_match = &pos;
    }
    if (last_match != nullptr) {
      if (on_exhausted_ != v1::EXHAUSTED_ERROR) {
        ++uses_[*last_match];
        return Hit{exchanges_[*last_match].interaction_index,
                   exchanges_[*last_match].response};
      }
      Miss miss{.reason = "exhausted", .closest = {}};
      miss.closest.push_back({*last_match, {}});
      return miss;
    }
  }
  std::vector<const core::HttpRequest*> recorded;
  recorded.reserve(exchanges_.size());
  for (const RecordedExchange& e : exchanges_) recorded.push_back(&e.request);
  return Miss{.reason = "no-match",
              .closest = matcher_.Rank(recorded, live, /*limit=*/3)};
}

std::vector<uint64_t> Player::Unused() const {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < exchanges_.size(); ++i) {
    if (uses_[i] == 0) out.push_back(exchanges_[i].interaction_index);
  }
  return out;
}

}  // namespace matgto::replay
