// The one place that turns what the server does into observations: it
// counts (metrics), writes the log records and publishes the live events.
// The session manager calls it where it knows an exchange's result; the
// proxy updates ProxyMetrics directly.
//
// On the request path OnExchange costs a few relaxed atomic adds; the log
// record and the event are only built when the info level is on or someone
// watches.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "matgto/v1/control.pb.h"
#include "server/core/http.h"
#include "server/observe/event_bus.h"
#include "server/observe/log.h"
#include "server/observe/metrics.h"

namespace matgto::observe {

// One exchange as the session manager saw it.
struct ExchangeRecord {
  absl::string_view session{};
  absl::string_view cassette{};
  v1::Mode mode = v1::MODE_UNSPECIFIED;
  const core::HttpRequest* request = nullptr;
  int status = 0;
  v1::ExchangeResult result = v1::EXCHANGE_RESULT_UNSPECIFIED;
  // Forwarded: the upstream's time; otherwise the time to decide.
  absl::Duration duration{};
  uint64_t bytes_out = 0;
  // X-Matgto-Error code; for a failed forward, the upstream error kind.
  absl::string_view error{};
  bool forwarded = false;
  bool websocket = false;
};

// Query values replaced by [REDACTED], parameter names kept
// ("http://h/p?token=[REDACTED]&page=[REDACTED]"). Hand-written: the
// parameter split is all it needs.
std::string RedactQueryValues(absl::string_view url);
// The same into `out` (replacing what it held, keeping its capacity).
void RedactQueryValuesTo(absl::string_view url, std::string& out);
// A copy of `miss` safe to log: URLs as RedactQueryValues, query and
// header differences' values redacted the same way.
v1::Miss SanitizeMiss(const v1::Miss& miss);
// "replay", "record", ...; "none" for MODE_UNSPECIFIED.
absl::string_view ModeLabel(v1::Mode mode);
// "replayed", "recorded", "missed", "passed-through", "error".
absl::string_view ResultLabel(v1::ExchangeResult result);

// Thread-safety: every method is safe to call concurrently.
class Observer {
 public:
  Observer() = default;

  EventBus& bus() { return bus_; }
  ProxyMetrics& proxy_metrics() { return proxy_; }

  // Request path: never blocks (the log record goes to the async logger).
  void OnExchange(const ExchangeRecord& record);
  // A miss, already sanitized (SanitizeMiss) and explained.
  void OnMiss(absl::string_view session, absl::string_view cassette,
              v1::Miss miss, std::string explanation);
  // A session event: logged (at `level`) with its message and published.
  void OnSession(v1::SessionEvent event, LogLevel level = LogLevel::kInfo);
  // Cassette I/O (control threads). `bytes`: the cassette's encoded size.
  void OnCassetteLoad(absl::Duration took, uint64_t bytes);
  void OnCassetteSave(absl::Duration took, uint64_t bytes);

  // The Prometheus text exposition. `open_sessions` is read at scrape time.
  std::string RenderMetrics(int64_t open_sessions) const;

 private:
  static constexpr int kModes = 5;    // MODE_UNSPECIFIED..PASSTHROUGH
  static constexpr int kResults = 6;  // EXCHANGE_RESULT_UNSPECIFIED..ERROR

  EventBus bus_;
  ProxyMetrics proxy_;
  std::array<std::array<Counter, kResults>, kModes> exchanges_{};
  CounterFamily misses_;
  CounterFamily upstream_errors_;
  Histogram upstream_duration_{LatencyBounds()};
  Counter bytes_in_;
  Counter bytes_out_;
  Histogram load_duration_{LatencyBounds()};
  Histogram save_duration_{LatencyBounds()};
  Histogram load_bytes_{SizeBounds()};
  Histogram save_bytes_{SizeBounds()};
};

}  // namespace matgto::observe
