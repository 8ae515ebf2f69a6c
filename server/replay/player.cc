#include "server/replay/player.h"

#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/cassette/codec.h"
#include "server/cassette/proto_time.h"
#include "server/core/grpc.h"

namespace matgto::replay {

Player::Player(std::vector<RecordedExchange> exchanges,
               match::RequestMatcher matcher, OnExhausted on_exhausted,
               Repeat repeat)
    : matcher_(std::move(matcher)),
      on_exhausted_(on_exhausted),
      repeat_(repeat) {
  slots_.reserve(exchanges.size());
  chains_.reserve(exchanges.size());
  for (RecordedExchange& e : exchanges) Add(std::move(e));
  uses_.assign(slots_.size(), 0);
}

Player::Player(std::shared_ptr<const cassette::CassetteImage> image,
               match::RequestMatcher matcher, OnExhausted on_exhausted,
               Repeat repeat)
    : image_(std::move(image)),
      matcher_(std::move(matcher)),
      on_exhausted_(on_exhausted),
      repeat_(repeat) {
  slots_.reserve(image_->size());
  chains_.reserve(image_->size());
  // One message and one request reused for every interaction: indexing
  // allocates little beyond the index itself.
  v1::HttpRequest scratch;
  core::HttpRequest request;
  for (size_t i = 0; i < image_->size(); ++i) {
    if (image_->kind(i) != cassette::CassetteImage::Kind::kHttp) continue;
    Slot& slot = slots_.emplace_back();
    slot.image_position = static_cast<uint32_t>(i);
    // A request that cannot be read (the image checked it: not expected)
    // keeps key 0, and its fingerprint, made when used, decides.
    if (image_->Request(i, scratch).ok()) {
      cassette::FromProto(scratch, request);
      slot.key = match::RequestMatcher::Key(matcher_.Of(request));
      IndexStream(static_cast<uint32_t>(slots_.size() - 1), request);
    }
    Link(static_cast<uint32_t>(slots_.size() - 1));
  }
  image_->ReleaseAll();
  uses_.assign(slots_.size(), 0);
}

void Player::Add(RecordedExchange exchange) {
  Slot& slot = slots_.emplace_back();
  auto entry = std::make_unique<Entry>();
  entry->fingerprint = matcher_.Of(exchange.request);
  entry->exchange = std::move(exchange);
  slot.key = match::RequestMatcher::Key(entry->fingerprint);
  slot.entry = std::move(entry);
  const auto position = static_cast<uint32_t>(slots_.size() - 1);
  IndexStream(position, slot.entry->exchange.request);
  Link(position);
}

namespace {

// Whether two fingerprints agree in every part but the body.
bool SameHead(const match::Fingerprint& a, const match::Fingerprint& b) {
  return a.method == b.method && a.scheme == b.scheme && a.host == b.host &&
         a.port == b.port && a.path == b.path && a.query == b.query &&
         a.headers == b.headers;
}

uint64_t HeadKey(const match::Fingerprint& print) {
  match::Fingerprint head = print;
  head.body.clear();
  head.body_canonical = false;
  return match::RequestMatcher::Key(head);
}

}  // namespace

void Player::IndexStream(uint32_t position, const core::HttpRequest& request) {
  if (!core::IsGrpc(request)) return;
  core::HttpRequest head;
  head.method = request.method;
  head.url = request.url;
  head.headers = request.headers;
  streams_[HeadKey(matcher_.Of(head))].positions.push_back(position);
}

Player::Partial Player::AnswerPartial(const core::HttpRequest& live) {
  Partial out;
  const match::BodyMode body = matcher_.rules().body
                                   ? matcher_.rules().body_mode
                                   : match::BodyMode::kIgnore;
  if (body != match::BodyMode::kExact && body != match::BodyMode::kIgnore) {
    return out;
  }
  out.may_match = false;
  core::HttpRequest head;
  head.method = live.method;
  head.url = live.url;
  head.headers = live.headers;
  const match::Fingerprint print = matcher_.Of(head);
  auto it = streams_.find(HeadKey(print));
  if (it == streams_.end()) return out;
  Stream& stream = it->second;
  const std::vector<uint32_t>& positions = stream.positions;
  const bool sequential = repeat_ == Repeat::kSequential;
  if (sequential) {
    while (stream.used_prefix < positions.size() &&
           uses_[positions[stream.used_prefix]] != 0) {
      ++stream.used_prefix;
    }
  }
  // Whether the recording at `pos` is one the live call could still turn
  // into (its head, the body so far), and whether the body so far reaches
  // the first piece of its response (it can be answered now).
  enum class Fit { kNo, kNotYet, kNow };
  auto fit = [&](uint32_t pos,
                 std::shared_ptr<const core::HttpResponse>& response) {
    Entry& entry = Materialize(pos);
    if (!SameHead(entry.fingerprint, print)) return Fit::kNo;  // a collision
    if (body == match::BodyMode::kExact &&
        !absl::StartsWith(entry.exchange.request.body, live.body)) {
      return Fit::kNo;
    }
    response = Response(pos);
    if (response->chunks.empty() ||
        !response->chunks.front().request_bytes.has_value() ||
        *response->chunks.front().request_bytes > live.body.size()) {
      return Fit::kNotYet;
    }
    return Fit::kNow;
  };
  // Whether a recording the live call could still turn into is unused, and
  // the last used one it reached (what REPEAT_LAST answers with once they
  // are all used). The used prefix is skipped: it holds no unused one.
  bool unused = false;
  std::optional<uint32_t> last_used;
  for (size_t k = sequential ? stream.used_prefix : 0; k < positions.size();
       ++k) {
    const uint32_t pos = positions[k];
    std::shared_ptr<const core::HttpResponse> response;
    const Fit f = fit(pos, response);
    if (f == Fit::kNo) continue;
    const bool used = sequential && uses_[pos] != 0;
    unused = unused || !used;
    if (f == Fit::kNotYet) continue;
    if (used) {
      last_used = pos;
      continue;
    }
    Take(pos, std::move(response), out);
    return out;
  }
  if (unused) {
    out.may_match = true;  // the rest of the call decides
    return out;
  }
  if (on_exhausted_ != OnExhausted::kRepeatLast) return out;
  if (!last_used.has_value()) {
    // The last one it reached among those skipped.
    for (size_t k = stream.used_prefix; k-- > 0;) {
      std::shared_ptr<const core::HttpResponse> response;
      if (fit(positions[k], response) == Fit::kNow) {
        last_used = positions[k];
        break;
      }
    }
  }
  if (last_used.has_value()) Take(*last_used, Response(*last_used), out);
  // Else every recording it could be is used up: the miss ("exhausted" or
  // not) is the whole-request rule's, now.
  return out;
}

void Player::Take(uint32_t position,
                  std::shared_ptr<const core::HttpResponse> response,
                  Partial& out) {
  ++uses_[position];
  const RecordedExchange& e = slots_[position].entry->exchange;
  out.recorded_body = e.request.body;
  out.hit = Hit{e.interaction_index, std::move(response), e.time_to_first_byte,
                e.total};
}

void Player::Link(uint32_t position) {
  auto [it, inserted] = chains_.try_emplace(
      slots_[position].key, Chain{position, position, position});
  if (!inserted) {
    Chain& chain = it->second;
    slots_[chain.last].next = position;
    chain.last = position;
    if (chain.unused == kNone) chain.unused = position;
  }
}

void Player::ReleaseIfSpent(Slot& slot) {
  // Under SEQUENTIAL a used recording is never answered again unless it is
  // the last of its chain (REPEAT_LAST); a miss's ranking reads it again
  // from the image. gRPC calls stay: AnswerPartial looks at used ones.
  if (repeat_ != Repeat::kSequential || slot.image_position == kNone ||
      slot.next == kNone || core::IsGrpc(slot.entry->exchange.request)) {
    return;
  }
  slot.entry.reset();
}

absl::InlinedVector<size_t, 2> Player::Candidates(
    Chain& chain, const match::Fingerprint& print) {
  // Positions of one key hold the same fingerprint but for a hash
  // collision, hence the comparisons.
  absl::InlinedVector<size_t, 2> out;
  if (repeat_ == Repeat::kReuse) {
    for (uint32_t pos = chain.first; pos != kNone; pos = slots_[pos].next) {
      if (Materialize(pos).fingerprint == print) {
        out.push_back(pos);
        break;
      }
    }
    return out;
  }
  while (chain.unused != kNone && uses_[chain.unused] != 0) {
    chain.unused = slots_[chain.unused].next;
  }
  for (uint32_t pos = chain.unused; pos != kNone; pos = slots_[pos].next) {
    if (uses_[pos] == 0 && Materialize(pos).fingerprint == print) {
      out.push_back(pos);
      break;
    }
  }
  if (Materialize(chain.last).fingerprint == print) {
    if (out.empty() || out.back() != chain.last) out.push_back(chain.last);
    return out;
  }
  // (A collision at the end of the chain: the last position of `print`.)
  size_t last = kNone;
  for (uint32_t pos = chain.first; pos != kNone; pos = slots_[pos].next) {
    if (Materialize(pos).fingerprint == print) last = pos;
  }
  if (last != kNone && (out.empty() || out.back() != last)) {
    out.push_back(last);
  }
  return out;
}

Player::Entry& Player::Materialize(size_t position) {
  Slot& slot = slots_[position];
  if (slot.entry != nullptr) return *slot.entry;
  auto entry = std::make_unique<Entry>();
  RecordedExchange& e = entry->exchange;
  const size_t i = slot.image_position;
  e.interaction_index = image_->index(i);
  absl::StatusOr<v1::Interaction> interaction = image_->Interaction(i);
  if (interaction.ok()) {
    v1::HttpExchange& http = *interaction->mutable_http();
    e.request = cassette::FromProto(http.request());
    e.response = std::make_shared<const core::HttpResponse>(
        cassette::FromProto(std::move(*http.mutable_response())));
    e.time_to_first_byte =
        cassette::FromProtoDuration(http.timing().time_to_first_byte());
    e.total = cassette::FromProtoDuration(http.timing().total());
  } else {
    // Checked when loaded, so only a text body that is not UTF-8 gets
    // here: the request still matches, and the reply says why it fails.
    v1::HttpRequest request;
    if (image_->Request(i, request).ok()) {
      e.request = cassette::FromProto(request);
    }
    e.response =
        std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
            502, "cassette-damaged",
            absl::StrCat(interaction.status().message(), "\n")));
  }
  image_->Release(i);
  entry->fingerprint = matcher_.Of(e.request);
  slot.entry = std::move(entry);
  return *slot.entry;
}

std::shared_ptr<const core::HttpResponse> Player::Response(size_t position) {
  Entry& entry = Materialize(position);
  std::shared_ptr<const core::HttpResponse>& kept = entry.exchange.response;
  // Exchanges given whole have nowhere to be read again from.
  const bool rereadable = slots_[position].image_position != kNone;
  if (kept != nullptr && (!rereadable || kept->body.size() <= kKeepBodyBytes)) {
    return kept;
  }
  if (kept != nullptr) {
    // Large: from now on only the replies hold it.
    entry.large = kept;
    return std::move(kept);
  }
  if (auto held = entry.large.lock()) return held;
  const size_t i = slots_[position].image_position;
  absl::StatusOr<v1::Interaction> interaction = image_->Interaction(i);
  image_->Release(i);
  auto response = std::make_shared<const core::HttpResponse>(
      interaction.ok()
          ? cassette::FromProto(
                std::move(*interaction->mutable_http()->mutable_response()))
          : core::MakeErrorResponse(
                502, "cassette-damaged",
                absl::StrCat(interaction.status().message(), "\n")));
  entry.large = response;
  return response;
}

void Player::Append(RecordedExchange exchange) {
  Add(std::move(exchange));
  uses_.push_back(1);
}

Player Player::FromCassette(const v1::Cassette& cassette,
                            match::RequestMatcher matcher,
                            OnExhausted on_exhausted, Repeat repeat) {
  return Player(std::shared_ptr<const cassette::CassetteImage>(
                    cassette::CassetteImage::FromCassette(cassette)),
                std::move(matcher), on_exhausted, repeat);
}

std::variant<Player::Hit, Player::Miss> Player::Answer(
    const core::HttpRequest& live) {
  const match::Fingerprint print = matcher_.Of(live);
  absl::InlinedVector<size_t, 2> matching;
  if (auto it = chains_.find(match::RequestMatcher::Key(print));
      it != chains_.end()) {
    matching = Candidates(it->second, print);
  }
  const Pick pick = PickRecording(matching, uses_, repeat_, on_exhausted_);
  switch (pick.outcome) {
    case Pick::Outcome::kAnswer: {
      Slot& slot = slots_[pick.position];
      const RecordedExchange& e = slot.entry->exchange;
      Hit hit{e.interaction_index, Response(pick.position),
              e.time_to_first_byte, e.total};
      ReleaseIfSpent(slot);
      return hit;
    }
    case Pick::Outcome::kExhausted:
      return Miss{.reason = "exhausted", .closest = {{pick.position, {}}}};
    case Pick::Outcome::kNoMatch:
      break;
  }
  // Every recorded request is compared; those never used are read from the
  // image one at a time and not kept.
  v1::HttpRequest scratch;
  match::Fingerprint unused;
  auto recorded = [&](size_t pos) -> const match::Fingerprint& {
    const Slot& slot = slots_[pos];
    if (slot.entry != nullptr) return slot.entry->fingerprint;
    unused = image_->Request(slot.image_position, scratch).ok()
                 ? matcher_.Of(cassette::FromProto(scratch))
                 : match::Fingerprint{};
    return unused;
  };
  Miss miss{.reason = "no-match",
            .closest = matcher_.Rank(slots_.size(), recorded, print, 3)};
  if (image_ != nullptr) image_->ReleaseAll();
  return miss;
}

std::vector<uint64_t> Player::Unused() const {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (uses_[i] != 0) continue;
    const Slot& slot = slots_[i];
    out.push_back(slot.entry != nullptr ? slot.entry->exchange.interaction_index
                                        : image_->index(slot.image_position));
  }
  return out;
}

}  // namespace matgto::replay
