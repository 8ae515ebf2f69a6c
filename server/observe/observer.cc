#include "server/observe/observer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/json/monotonic_resource.hpp"
#include "boost/json/object.hpp"
#include "google/protobuf/util/time_util.h"
#include "server/core/appender.h"

namespace matgto::observe {
namespace {

constexpr absl::string_view kRedactedValue = "[REDACTED]";

// "a=1&b" -> "a=[REDACTED]&b", appended to `out`.
void AppendRedactedQuery(absl::string_view query, std::string& out) {
  bool first = true;
  for (absl::string_view param : absl::StrSplit(query, '&')) {
    if (!first) out += '&';
    first = false;
    const size_t eq = param.find('=');
    if (eq == absl::string_view::npos) {
      out.append(param.data(), param.size());
    } else {
      absl::StrAppend(&out, param.substr(0, eq + 1), kRedactedValue);
    }
  }
}

std::string RedactQueryString(absl::string_view query) {
  std::string out;
  out.reserve(query.size());
  AppendRedactedQuery(query, out);
  return out;
}

google::protobuf::Timestamp NowProto() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(absl::Now()));
}

int ModeIndex(v1::Mode mode) {
  const int i = static_cast<int>(mode);
  return i >= 0 && i < 5 ? i : 0;
}

int ResultIndex(v1::ExchangeResult result) {
  const int i = static_cast<int>(result);
  return i >= 0 && i < 6 ? i : 0;
}

}  // namespace

std::string RedactQueryValues(absl::string_view url) {
  std::string out;
  RedactQueryValuesTo(url, out);
  return out;
}

void RedactQueryValuesTo(absl::string_view url, std::string& out) {
  out.clear();
  const size_t q = url.find('?');
  if (q == absl::string_view::npos) {
    out.append(url.data(), url.size());
    return;
  }
  out.append(url.data(), q + 1);
  AppendRedactedQuery(url.substr(q + 1), out);
}

v1::Miss SanitizeMiss(const v1::Miss& miss) {
  v1::Miss out = miss;
  out.set_url(RedactQueryValues(miss.url()));
  for (v1::Candidate& c : *out.mutable_closest()) {
    c.set_url(RedactQueryValues(c.url()));
    for (v1::FieldDifference& d : *c.mutable_differences()) {
      if (d.field() == "query") {
        d.set_recorded(RedactQueryString(d.recorded()));
        d.set_live(RedactQueryString(d.live()));
      } else if (d.field() == "headers") {
        d.set_recorded(std::string(kRedactedValue));
        d.set_live(std::string(kRedactedValue));
      }
    }
  }
  return out;
}

absl::string_view ModeLabel(v1::Mode mode) {
  switch (mode) {
    case v1::AUTO:
      return "auto";
    case v1::RECORD:
      return "record";
    case v1::REPLAY:
      return "replay";
    case v1::PASSTHROUGH:
      return "passthrough";
    default:
      return "none";
  }
}

absl::string_view ResultLabel(v1::ExchangeResult result) {
  switch (result) {
    case v1::RESULT_REPLAYED:
      return "replayed";
    case v1::RESULT_RECORDED:
      return "recorded";
    case v1::RESULT_MISSED:
      return "missed";
    case v1::RESULT_PASSED_THROUGH:
      return "passed-through";
    case v1::RESULT_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

void Observer::OnExchange(const ExchangeRecord& r) {
  exchanges_[ModeIndex(r.mode)][ResultIndex(r.result)].Add();
  const uint64_t bytes_in = r.request != nullptr ? r.request->body.size() : 0;
  bytes_in_.Add(bytes_in);
  bytes_out_.Add(r.bytes_out);
  if (r.forwarded) {
    if (r.result == v1::RESULT_ERROR) {
      upstream_errors_.With(r.error).Add();
    } else {
      upstream_duration_.ObserveDuration(r.duration);
    }
  }
  const bool log = LogEnabled(LogLevel::kInfo);
  const bool publish = bus_.HasSubscribers();
  if (!log && !publish) return;

  // The URL as it may be logged; most have no query and are not copied.
  absl::string_view url =
      r.request != nullptr ? absl::string_view(r.request->url) : "";
  // The thread's: it keeps its capacity from one exchange to the next.
  thread_local std::string redacted;
  if (url.find('?') != absl::string_view::npos) {
    RedactQueryValuesTo(url, redacted);
    url = redacted;
  }
  const absl::string_view method =
      r.request != nullptr ? absl::string_view(r.request->method) : "";
  if (log) {
    // Written straight into the thread's line buffer: no JSON object, no
    // allocation once the buffers have grown.
    thread_local std::string message;
    message.clear();
    core::Appender(message, 128) << method << ' ' << url << ' ' << r.status
                                 << ' ' << ResultLabel(r.result);
    LogRecord record(LogLevel::kInfo, "exchange", message, /*hot=*/true);
    RecordWriter& f = record.fields();
    f.Add("session", r.session)
        .Add("cassette", r.cassette)
        .Add("mode", ModeLabel(r.mode))
        .Add("method", method)
        .Add("url", url)
        .Add("status", static_cast<int64_t>(r.status))
        .Add("result", ResultLabel(r.result))
        .Add("duration_us", absl::ToInt64Microseconds(r.duration))
        .Add("bytes_in", static_cast<uint64_t>(bytes_in))
        .Add("bytes_out", static_cast<uint64_t>(r.bytes_out));
    if (!r.error.empty()) f.Add("error", r.error);
    if (r.websocket) f.Add("websocket", true);
    record.Write();
  }
  if (publish) {
    v1::Event event;
    *event.mutable_time() = NowProto();
    v1::ExchangeEvent* e = event.mutable_exchange();
    e->set_session(std::string(r.session));
    e->set_cassette(std::string(r.cassette));
    e->set_mode(r.mode);
    e->set_method(std::string(method));
    e->set_url(std::string(url));
    e->set_status(r.status);
    e->set_result(r.result);
    *e->mutable_duration() =
        google::protobuf::util::TimeUtil::NanosecondsToDuration(
            absl::ToInt64Nanoseconds(r.duration));
    e->set_bytes_in(bytes_in);
    e->set_bytes_out(r.bytes_out);
    e->set_error(std::string(r.error));
    e->set_websocket(r.websocket);
    bus_.Publish(event);
  }
}

void Observer::OnMiss(absl::string_view session, absl::string_view cassette,
                      v1::Miss miss, std::string explanation) {
  misses_.With(miss.reason()).Add();
  if (LogEnabled(LogLevel::kWarn)) {
    LogRecord record(LogLevel::kWarn, "miss", explanation, /*hot=*/true);
    RecordWriter& f = record.fields();
    f.Add("session", session)
        .Add("cassette", cassette)
        .Add("method", miss.method())
        .Add("url", miss.url())
        .Add("reason", miss.reason());
    if (miss.closest_size() > 0) {
      f.Add("closest",
            static_cast<uint64_t>(miss.closest(0).interaction_index()));
    }
    record.Write();
  }
  if (!bus_.HasSubscribers()) return;
  v1::Event event;
  *event.mutable_time() = NowProto();
  v1::MissEvent* m = event.mutable_miss();
  m->set_session(std::string(session));
  m->set_cassette(std::string(cassette));
  *m->mutable_miss() = std::move(miss);
  m->set_explanation(std::move(explanation));
  bus_.Publish(event);
}

void Observer::OnSession(v1::SessionEvent e, LogLevel level) {
  if (LogEnabled(level)) {
    boost::json::object fields;
    fields["session"] = e.session();
    if (!e.cassette().empty()) fields["cassette"] = e.cassette();
    if (e.mode() != v1::MODE_UNSPECIFIED)
      fields["mode"] = Js(ModeLabel(e.mode()));
    if (!e.reason().empty()) fields["reason"] = e.reason();
    if (!e.saved_path().empty()) fields["saved_path"] = e.saved_path();
    // Text lines keep the message alone: it already says all of it.
    Log(level, "session", e.message(), fields);
  }
  if (!bus_.HasSubscribers()) return;
  v1::Event event;
  *event.mutable_time() = NowProto();
  *event.mutable_session() = std::move(e);
  bus_.Publish(event);
}

void Observer::OnCassetteLoad(absl::Duration took, uint64_t bytes) {
  load_duration_.ObserveDuration(took);
  load_bytes_.Observe(static_cast<double>(bytes));
}

void Observer::OnCassetteSave(absl::Duration took, uint64_t bytes) {
  save_duration_.ObserveDuration(took);
  save_bytes_.Observe(static_cast<double>(bytes));
}

std::string Observer::RenderMetrics(int64_t open_sessions) const {
  TextWriter w;
  w.Family("matgto_exchanges_total", "counter",
           "Exchanges by the session's mode and what happened to them.");
  for (int m = 0; m < kModes; ++m) {
    for (int r = 1; r < kResults; ++r) {
      const uint64_t n = exchanges_[m][r].value();
      // Every result of a mode in use, none of modes never seen.
      bool seen = false;
      for (int k = 1; k < kResults; ++k) seen |= exchanges_[m][k].value() > 0;
      if (!seen && n == 0) continue;
      w.Sample("matgto_exchanges_total",
               {{"mode", ModeLabel(static_cast<v1::Mode>(m))},
                {"result", ResultLabel(static_cast<v1::ExchangeResult>(r))}},
               n);
    }
  }
  w.Family("matgto_misses_total", "counter",
           "Replay misses by reason (no-match, exhausted, ...).");
  for (const auto& [reason, n] : misses_.Snapshot()) {
    w.Sample("matgto_misses_total", {{"reason", reason}}, n);
  }
  w.Family("matgto_upstream_errors_total", "counter",
           "Forwarded requests that got no response, by kind (the "
           "X-Matgto-Error code).");
  for (const auto& [kind, n] : upstream_errors_.Snapshot()) {
    w.Sample("matgto_upstream_errors_total", {{"kind", kind}}, n);
  }
  w.Family("matgto_request_duration_seconds", "histogram",
           "Time from a request read to its response written, as the proxy "
           "saw it.");
  w.HistogramSamples("matgto_request_duration_seconds", {},
                     proxy_.request_duration);
  w.Family("matgto_upstream_duration_seconds", "histogram",
           "Time an upstream took to answer a forwarded request.");
  w.HistogramSamples("matgto_upstream_duration_seconds", {},
                     upstream_duration_);
  w.Family("matgto_open_connections", "gauge",
           "Client connections open on every proxy listener.");
  w.Sample("matgto_open_connections", {},
           static_cast<double>(proxy_.open_connections.value()));
  w.Family("matgto_open_sessions", "gauge",
           "Sessions with a cassette in use (the default one included).");
  w.Sample("matgto_open_sessions", {}, static_cast<double>(open_sessions));
  w.Family("matgto_cassette_load_duration_seconds", "histogram",
           "Time to load a cassette from the store.");
  w.HistogramSamples("matgto_cassette_load_duration_seconds", {},
                     load_duration_);
  w.Family("matgto_cassette_save_duration_seconds", "histogram",
           "Time to save a cassette to the store.");
  w.HistogramSamples("matgto_cassette_save_duration_seconds", {},
                     save_duration_);
  w.Family("matgto_cassette_load_size_bytes", "histogram",
           "Encoded size of the cassettes loaded.");
  w.HistogramSamples("matgto_cassette_load_size_bytes", {}, load_bytes_);
  w.Family("matgto_cassette_save_size_bytes", "histogram",
           "Encoded size of the cassettes saved.");
  w.HistogramSamples("matgto_cassette_save_size_bytes", {}, save_bytes_);
  w.Family("matgto_received_bytes_total", "counter",
           "Request body bytes received from clients.");
  w.Sample("matgto_received_bytes_total", {}, bytes_in_.value());
  w.Family("matgto_sent_bytes_total", "counter",
           "Response body bytes sent to clients.");
  w.Sample("matgto_sent_bytes_total", {}, bytes_out_.value());
  return w.Take();
}

}  // namespace matgto::observe
