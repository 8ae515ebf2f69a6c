// Answers live requests from a loaded cassette.
//
// Identical requests get their recorded responses in recording order; once
// those are used up the last one repeats (REPEAT_LAST) or the request is a
// miss (EXHAUSTED_ERROR). A miss carries the closest recorded requests and
// what differed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "matgto/v1/cassette.pb.h"
#include "server/core/http.h"
#include "server/match/matcher.h"

namespace matgto::replay {

struct RecordedExchange {
  // Position of the interaction in the cassette.
  uint64_t interaction_index = 0;
  core::HttpRequest request;
  std::shared_ptr<const core::HttpResponse> response;
};

// Thread-safety: none; the owning session serialises calls.
class Player {
 public:
  struct Hit {
    uint64_t interaction_index;
    std::shared_ptr<const core::HttpResponse> response;
  };
  struct Miss {
    // "no-match" or "exhausted".
    std::string reason;
    std::vector<match::Candidate> closest;
  };

  Player(std::vector<RecordedExchange> exchanges, match::RequestMatcher matcher,
         v1::ExhaustedPolicy on_exhausted);

  // Builds a player over the HTTP exchanges of `cassette`.
  static Player FromCassette(const v1::Cassette& cassette,
                             match::RequestMatcher matcher,
                             v1::ExhaustedPolicy on_exhausted);

  std::variant<Hit, Miss> Answer(const core::HttpRequest& live);

  // Interaction indexes never used so far, in order.
  std::vector<uint64_t> Unused() const;
  size_t size() const { return exchanges_.size(); }
  const RecordedExchange& exchange(size_t i) const { return exchanges_[i]; }

 private:
  std::vector<RecordedExchange> exchanges_;
  match::RequestMatcher matcher_;
  v1::ExhaustedPolicy on_exhausted_;
  // Matcher key -> positions in exchanges_, in recording order.
  absl::flat_hash_map<uint64_t, std::vector<size_t>> index_;
  std::vector<uint32_t> uses_;
};

}  // namespace matgto::replay
