// Answers live requests from a loaded cassette.
//
// SEQUENTIAL: identical requests get their recorded responses in recording
// order; once those are used up the last one repeats (REPEAT_LAST) or the
// request is a miss (EXHAUSTED_ERROR). REUSE: the first matching recording
// answers every time. Matching picks the first *unused* candidate that
// matches, so concurrent requests that differ in anything replay correctly
// whatever order they arrive in (the rule is PickRecording, policy.h). A
// miss carries the closest recorded requests and what differed.
//
// Over a cassette image (cassette/image.h) an exchange is parsed on its
// first use: loading parses each request once for its match key and keeps
// 24 bytes per exchange plus the key index; what was used stays parsed,
// except a response body over kKeepBodyBytes: that one is read again from
// the image when the last reply holding it is done. Under SEQUENTIAL, a used
// exchange that a later recording of the same request follows is never
// answered again and is dropped (gRPC calls excepted): replaying a recorded
// load test keeps the last recording of each request, not all it used.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/image.h"
#include "server/core/http.h"
#include "server/match/matcher.h"
#include "server/replay/policy.h"

namespace matgto::replay {

struct RecordedExchange {
  // Position of the interaction in the cassette.
  uint64_t interaction_index = 0;
  core::HttpRequest request;
  std::shared_ptr<const core::HttpResponse> response;
  // As recorded (for latency as recorded).
  absl::Duration time_to_first_byte = absl::ZeroDuration();
  absl::Duration total = absl::ZeroDuration();
};

// Thread-safety: none; the owning session serialises calls.
class Player {
 public:
  struct Hit {
    uint64_t interaction_index;
    std::shared_ptr<const core::HttpResponse> response;
    absl::Duration time_to_first_byte = absl::ZeroDuration();
    absl::Duration total = absl::ZeroDuration();
  };
  struct Miss {
    // "no-match" or "exhausted".
    std::string reason;
    std::vector<match::Candidate> closest;
  };

  Player(std::vector<RecordedExchange> exchanges, match::RequestMatcher matcher,
         OnExhausted on_exhausted, Repeat repeat = Repeat::kSequential);
  // Over the HTTP interactions of `image`, in order.
  Player(std::shared_ptr<const cassette::CassetteImage> image,
         match::RequestMatcher matcher, OnExhausted on_exhausted,
         Repeat repeat = Repeat::kSequential);

  // Builds a player over the HTTP exchanges of `cassette`.
  static Player FromCassette(const v1::Cassette& cassette,
                             match::RequestMatcher matcher,
                             OnExhausted on_exhausted,
                             Repeat repeat = Repeat::kSequential);

  // `live` must already be redacted like the recordings were.
  std::variant<Hit, Miss> Answer(const core::HttpRequest& live);
  // A gRPC request still arriving (`live.body` is what came so far): the
  // first recording (unused, under SEQUENTIAL) that matches it in all but
  // the body, whose body starts with the live one (compared byte for byte;
  // any body under rules that ignore bodies), and whose response began
  // before its request was whole, no later than the live body is now
  // (BodyChunk::request_bytes). It counts as used, and `recorded_body` is
  // its request body. Once every recording it could be is used, REPEAT_LAST
  // answers with the last one it reached again. No hit: the whole request
  // will be matched by Answer, unless `may_match` is false: no unused
  // recording can match it whatever the rest of it (a miss now, rather
  // than a client left waiting for an answer that will never come). Under
  // JSON or form body rules nothing is decided before the whole request
  // (may_match stays true).
  struct Partial {
    std::optional<Hit> hit;
    std::string recorded_body;
    bool may_match = true;
  };
  Partial AnswerPartial(const core::HttpRequest& live);
  // Adds an exchange recorded during replay (miss policy RECORD), already
  // used once.
  void Append(RecordedExchange exchange);

  // Interaction indexes never used so far, in order.
  std::vector<uint64_t> Unused() const;
  size_t size() const { return slots_.size(); }
  // The exchange at `position` (parsed now if it was not yet); its
  // response is null when its body is large (answers read it again).
  const RecordedExchange& exchange(size_t position) {
    return Materialize(position).exchange;
  }
  const match::RequestMatcher& matcher() const { return matcher_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr size_t kKeepBodyBytes = 64 * 1024;
  struct Entry {
    // exchange.response is null for a large body read from the image:
    // `large` is then what replies may still hold.
    RecordedExchange exchange;
    std::weak_ptr<const core::HttpResponse> large;
    match::Fingerprint fingerprint;
  };
  struct Slot {
    uint64_t key = 0;
    // Where in image_ (kNone: an exchange given whole).
    uint32_t image_position = kNone;
    // The next position with the same key, in recording order.
    uint32_t next = kNone;
    std::unique_ptr<Entry> entry;
  };

  // Adds a slot for an exchange given whole.
  void Add(RecordedExchange exchange);
  // Chains position (the last slot) to those of its key.
  void Link(uint32_t position);
  Entry& Materialize(size_t position);
  // The response of `position` (read again when it was large and dropped).
  std::shared_ptr<const core::HttpResponse> Response(size_t position);

  std::shared_ptr<const cassette::CassetteImage> image_;
  std::vector<Slot> slots_;
  match::RequestMatcher matcher_;
  OnExhausted on_exhausted_;
  Repeat repeat_;
  // The positions of one fingerprint key, linked through Slot::next.
  struct Chain {
    uint32_t first = kNone;
    uint32_t last = kNone;
    // Every position before this one is used (uses_ only grows): a
    // SEQUENTIAL pick starts here, so a request recorded N times costs O(1)
    // per replay instead of a walk over the N (kNone: all are used).
    uint32_t unused = kNone;
  };
  absl::flat_hash_map<uint64_t, Chain> chains_;
  // The positions of `chain` whose fingerprint is `print` that decide a
  // pick (PickRecording gives for them what it gives for all of them):
  // under SEQUENTIAL the first unused one and the last one; under REUSE the
  // first one.
  absl::InlinedVector<size_t, 2> Candidates(Chain& chain,
                                            const match::Fingerprint& print);
  // Drops the parsed exchange of a slot just answered when it can never be
  // answered again (see player.cc), so that replaying a recorded load test
  // keeps what is in use, not everything used.
  void ReleaseIfSpent(Slot& slot);
  // For gRPC requests only: the key of the fingerprint without the body ->
  // positions, in order (AnswerPartial), and how many of the first ones are
  // used (as Chain::unused: a SEQUENTIAL pick starts past them).
  struct Stream {
    std::vector<uint32_t> positions;
    size_t used_prefix = 0;
  };
  absl::flat_hash_map<uint64_t, Stream> streams_;
  // An AnswerPartial hit on `position` (counted as a use).
  void Take(uint32_t position,
            std::shared_ptr<const core::HttpResponse> response, Partial& out);
  // Indexes `request` at `position` in streams_ when it is a gRPC call.
  void IndexStream(uint32_t position, const core::HttpRequest& request);
  std::vector<uint32_t> uses_;
};

}  // namespace matgto::replay
