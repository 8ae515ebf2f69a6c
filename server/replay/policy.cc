#include "server/replay/policy.h"

#include <algorithm>

#include "server/cassette/proto_time.h"

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

namespace {

LatencyPlan ToLatencyPlan(const v1::Latency& latency) {
  LatencyPlan plan;
  switch (latency.mode()) {
    case v1::LATENCY_AS_RECORDED:
      plan.mode = LatencyPlan::Mode::kAsRecorded;
      // 0 (unset) means 1.0; so does anything not positive, NaN too.
      plan.scale = latency.scale() > 0 ? latency.scale() : 1.0;
      break;
    case v1::LATENCY_FIXED:
      plan.mode = LatencyPlan::Mode::kFixed;
      plan.fixed = std::max(absl::ZeroDuration(),
                            cassette::FromProtoDuration(latency.fixed()));
      plan.jitter = std::min(
          plan.fixed,
          absl::AbsDuration(cassette::FromProtoDuration(latency.jitter())));
      break;
    default:
      break;
  }
  return plan;
}

}  // namespace

core::Delivery LatencyPlan::For(absl::Duration time_to_first_byte,
                                absl::Duration total, double unit) const {
  core::Delivery d;
  switch (mode) {
    case Mode::kAsRecorded:
      d.first_byte_delay =
          std::max(absl::ZeroDuration(), time_to_first_byte * scale);
      d.body_duration =
          std::max(absl::ZeroDuration(), (total - time_to_first_byte) * scale);
      break;
    case Mode::kFixed:
      d.first_byte_delay = fixed - jitter + jitter * (2 * unit);
      break;
    case Mode::kFast:
      break;
  }
  return d;
}

ReplayPolicy ReplayPolicy::FromOptions(const v1::CassetteOptions& options) {
  return ReplayPolicy{
      .repeat = ToRepeat(options.repeat()),
      .on_exhausted = ToOnExhausted(options.on_exhausted()),
      .on_miss = ToOnMiss(options.on_miss()),
      .ws_pace =
          WsPace{.as_recorded = options.ws_timing() == v1::AS_RECORDED,
                 // 0 (unset) means 1.0; so does anything not positive, NaN too.
                 .speed = options.ws_speed() > 0 ? options.ws_speed() : 1.0},
      .stream_pace =
          WsPace{.as_recorded = options.stream_timing() == v1::AS_RECORDED,
                 .speed =
                     options.stream_speed() > 0 ? options.stream_speed() : 1.0},
      .latency = ToLatencyPlan(options.latency())};
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
