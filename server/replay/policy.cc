#include "server/replay/policy.h"

namespace matgto::replay {

Repeat ToRepeat(v1::RepeatPolicy policy) {
  return policy == v1::REUSE ? Repeat::kReuse : Repeat::kSequential;
}

OnExhausted ToOnExhausted(v1::ExhaustedPolicy policy) {
  return policy == v1::EXHAUSTED_ERROR ? OnExhausted::kError
                                       : OnExhausted::kRepeatLast;
}

OnMiss ToOnMiss(v1::MissPolicy policy) {
  switch (policy) {
    case v1::MISS_PASSTHROUGH:
      return OnMiss::kPassthrough;
    case v1::MISS_RECORD:
      return OnMiss::kRecord;
    default:
      return OnMiss::kError;
  }
}

ReplayPolicy ReplayPolicy::FromOptions(const v1::CassetteOptions& options) {
  return ReplayPolicy{
      .repeat = ToRepeat(options.repeat()),
      .on_exhausted = ToOnExhausted(options.on_exhausted()),
      .on_miss = ToOnMiss(options.on_miss()),
      .ws_pace =
          WsPace{.as_recorded = options.ws_timing() == v1::AS_RECORDED,
                 // 0 (unset) means 1.0; so does anything not positive, NaN too.
                 .speed = options.ws_speed() > 0 ? options.ws_speed() : 1.0}};
}

Pick PickRecording(absl::Span<const size_t> matching,
                   std::vector<uint32_t>& uses, Repeat repeat,
                   OnExhausted on_exhausted) {
  if (matching.empty()) return Pick{};
  for (size_t position : matching) {
    if (uses[position] == 0 || repeat == Repeat::kReuse) {
      ++uses[position];
      return Pick{.outcome = Pick::Outcome::kAnswer, .position = position};
    }
  }
  const size_t last = matching.back();
  if (on_exhausted == OnExhausted::kRepeatLast) {
    ++uses[last];
    return Pick{.outcome = Pick::Outcome::kAnswer, .position = last};
  }
  return Pick{.outcome = Pick::Outcome::kExhausted, .position = last};
}

}  // namespace matgto::replay
