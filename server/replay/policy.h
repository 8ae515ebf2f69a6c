// Replay's policies as typed values, built once per session from the
// cassette's options (proto enums, where UNSPECIFIED and values this build
// does not know mean the documented default), so that no decision re-reads
// a proto enum per request; and the one rule that spends recordings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "matgto/v1/cassette.pb.h"
#include "server/core/delivery.h"

namespace matgto::replay {

// Which recording answers a request that repeats.
enum class Repeat {
  kSequential,  // each answers once, in recorded order; then OnExhausted
  kReuse,       // the first matching recording answers every time
};

// What a request gets once every matching recording has answered.
enum class OnExhausted {
  kRepeatLast,  // the last one answers again
  kError,       // a miss ("exhausted")
};

// What replay does with a request nothing recorded answers.
enum class OnMiss {
  kError,        // a 599 reply that explains the miss
  kPassthrough,  // forwarded upstream, not recorded
  kRecord,       // forwarded and appended to the cassette ("new episodes")
};

// How a replayed WebSocket session paces the server's messages.
struct WsPace {
  // Keep the recorded gaps (divided by `speed`); else as fast as possible.
  bool as_recorded = false;
  // Always > 0.
  double speed = 1.0;
};

// How long a replayed HTTP response takes (CassetteOptions.latency).
struct LatencyPlan {
  enum class Mode { kFast, kAsRecorded, kFixed };
  Mode mode = Mode::kFast;
  // kAsRecorded: recorded times are multiplied by this (always > 0).
  double scale = 1.0;
  // kFixed: start after `fixed` ± `jitter` (uniform).
  absl::Duration fixed = absl::ZeroDuration();
  absl::Duration jitter = absl::ZeroDuration();

  // The delivery of a response recorded with these times; `unit` is a
  // uniform draw in [0, 1) for the jitter.
  core::Delivery For(absl::Duration time_to_first_byte, absl::Duration total,
                     double unit) const;
};

struct ReplayPolicy {
  Repeat repeat = Repeat::kSequential;
  OnExhausted on_exhausted = OnExhausted::kRepeatLast;
  OnMiss on_miss = OnMiss::kError;
  WsPace ws_pace;
  // The same for the pieces of a streamed HTTP body (stream_timing).
  WsPace stream_pace;
  LatencyPlan latency;

  static ReplayPolicy FromOptions(const v1::CassetteOptions& options);
};

Repeat ToRepeat(v1::RepeatPolicy policy);
OnExhausted ToOnExhausted(v1::ExhaustedPolicy policy);
OnMiss ToOnMiss(v1::MissPolicy policy);

// Which of the recordings that match a request answers it: the first
// unused one (with kReuse: the first one); when all have answered, the last
// again (kRepeatLast) or none (kError). Shared by HTTP and WebSocket replay.
struct Pick {
  enum class Outcome {
    kAnswer,     // `position` answers; its use count was incremented
    kExhausted,  // all used; `position` is the last match
    kNoMatch,    // nothing matched
  };
  Outcome outcome = Outcome::kNoMatch;
  size_t position = 0;
};

// `matching`: positions of the matching recordings, in recording order;
// `uses`: how often each position has answered (indexed by position).
Pick PickRecording(absl::Span<const size_t> matching,
                   std::vector<uint32_t>& uses, Repeat repeat,
                   OnExhausted on_exhausted);

}  // namespace matgto::replay
