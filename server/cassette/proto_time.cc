#include "server/cassette/proto_time.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace matgto::cassette {

using google::protobuf::util::TimeUtil;

namespace {
constexpr int64_t kNanosPerSecond = 1'000'000'000;
}  // namespace

google::protobuf::Timestamp ToProtoTimestamp(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  return TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

// (The functions below split nanoseconds as TimeUtil does, without a message
// of their own: they run for each recorded exchange.)
ProtoTimeParts TimestampParts(absl::Time t) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t seconds = nanos / kNanosPerSecond;
  int64_t rest = nanos % kNanosPerSecond;
  if (rest < 0) {
    --seconds;
    rest += kNanosPerSecond;
  }
  return {seconds, static_cast<int32_t>(rest)};
}

ProtoTimeParts DurationParts(absl::Duration d) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  return {nanos / kNanosPerSecond,
          static_cast<int32_t>(nanos % kNanosPerSecond)};
}

void SetProtoTimestamp(absl::Time t, google::protobuf::Timestamp& out) {
  const ProtoTimeParts parts = TimestampParts(t);
  out.set_seconds(parts.seconds);
  out.set_nanos(parts.nanos);
}

void SetProtoDuration(absl::Duration d, google::protobuf::Duration& out) {
  const ProtoTimeParts parts = DurationParts(d);
  out.set_seconds(parts.seconds);
  out.set_nanos(parts.nanos);
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Nanoseconds(TimeUtil::DurationToNanoseconds(d));
}

namespace {

bool InRange(const google::protobuf::Timestamp& t) {
  return t.seconds() >= TimeUtil::kTimestampMinSeconds &&
         t.seconds() <= TimeUtil::kTimestampMaxSeconds && t.nanos() >= 0 &&
         t.nanos() <= 999999999;
}

bool InRange(const google::protobuf::Duration& d) {
  return d.seconds() >= TimeUtil::kDurationMinSeconds &&
         d.seconds() <= TimeUtil::kDurationMaxSeconds &&
         d.nanos() >= -999999999 && d.nanos() <= 999999999 &&
         !(d.seconds() > 0 && d.nanos() < 0) &&
         !(d.seconds() < 0 && d.nanos() > 0);
}

// Checks `value` when set; `where` is built only on failure.
template <class Time, class Where>
absl::Status Check(bool has, const Time& value, absl::string_view source,
                   Where where) {
  if (!has || InRange(value)) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "cassette ", source, " is damaged: ", where(), " (", value.seconds(),
      " s, ", value.nanos(), " ns) is out of range"));
}

}  // namespace

absl::Status CheckTimesInRange(const v1::Cassette& cassette,
                               absl::string_view source) {
  absl::Status st = Check(cassette.has_created_at(), cassette.created_at(),
                          source, [] { return std::string("created_at"); });
  if (st.ok()) {
    st = Check(cassette.has_updated_at(), cassette.updated_at(), source,
               [] { return std::string("updated_at"); });
  }
  const v1::Latency& latency = cassette.options().latency();
  if (st.ok()) {
    st = Check(latency.has_fixed(), latency.fixed(), source,
               [] { return std::string("options.latency.fixed"); });
  }
  if (st.ok()) {
    st = Check(latency.has_jitter(), latency.jitter(), source,
               [] { return std::string("options.latency.jitter"); });
  }
  for (int i = 0; st.ok() && i < cassette.interactions_size(); ++i) {
    st = CheckTimesInRange(cassette.interactions(i), i, source);
  }
  return st;
}

absl::Status CheckTimesInRange(const v1::Interaction& it, int64_t i,
                               absl::string_view source) {
  auto at = [i](absl::string_view field) {
    return [i, field] { return absl::StrCat("interaction ", i, " ", field); };
  };
  absl::Status st =
      Check(it.has_recorded_at(), it.recorded_at(), source, at("recorded_at"));
  const v1::Timing& timing = it.http().timing();
  if (st.ok()) {
    st = Check(timing.has_started_at(), timing.started_at(), source,
               at("timing.started_at"));
  }
  if (st.ok()) {
    st = Check(timing.has_time_to_first_byte(), timing.time_to_first_byte(),
               source, at("timing.time_to_first_byte"));
  }
  if (st.ok()) {
    st = Check(timing.has_total(), timing.total(), source, at("timing.total"));
  }
  const v1::WebSocketSession& ws = it.websocket();
  for (int m = 0; st.ok() && m < ws.messages_size(); ++m) {
    st = Check(ws.messages(m).has_since_open(), ws.messages(m).since_open(),
               source, [i, m] {
                 return absl::StrCat("interaction ", i, " message ", m,
                                     " since_open");
               });
  }
  if (st.ok()) {
    st = Check(ws.close().has_since_open(), ws.close().since_open(), source,
               at("close.since_open"));
  }
  if (st.ok()) {
    st = Check(ws.timing().has_started_at(), ws.timing().started_at(), source,
               at("websocket.timing.started_at"));
  }
  if (st.ok()) {
    st = Check(ws.timing().has_total(), ws.timing().total(), source,
               at("websocket.timing.total"));
  }
  if (st.ok()) {
    st = Check(ws.timing().has_time_to_first_byte(),
               ws.timing().time_to_first_byte(), source,
               at("websocket.timing.time_to_first_byte"));
  }
  return st;
}

}  // namespace matgto::cassette
