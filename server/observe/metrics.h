// Metrics kept by the server and rendered in the Prometheus text exposition
// format (version 0.0.4) for the admin port's /metrics. Hand-written: Debian
// has no Prometheus C++ client library.
//
// The hot path (an exchange) only touches relaxed atomics: Counter and
// Histogram never lock. A family with free-form label values (CounterFamily:
// misses by reason, upstream errors by kind) finds its counter under a
// reader lock and creates it once under the writer lock; its label values
// come from a small fixed vocabulary of matgto's own codes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace matgto::observe {

// Thread-safety: all methods are safe to call concurrently.
class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Thread-safety: all methods are safe to call concurrently.
class Gauge {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { value_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A histogram of fixed upper bounds (ascending, +Inf implied). The sum is
// kept in integer micro-units (microseconds for durations) so that it is an
// atomic add. Thread-safety: all methods are safe to call concurrently; a
// scrape racing an Observe may see the count and a bucket one apart, which
// Prometheus tolerates.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf (== count()).
  std::vector<uint64_t> Cumulative() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_micros_{0};
};

// Latency bounds in seconds (100 us .. 30 s) and size bounds in bytes.
std::vector<double> LatencyBounds();
std::vector<double> SizeBounds();

// Counters keyed by one label's values. Thread-safety: all methods are
// safe to call concurrently; counters are never removed.
class CounterFamily {
 public:
  Counter& With(absl::string_view label_value);
  // Every (label value, count), sorted by label value.
  std::vector<std::pair<std::string, uint64_t>> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Counter>> counters_
      ABSL_GUARDED_BY(mu_);
};

// Writes the text exposition format: one family at a time, HELP and TYPE
// first, label values escaped. Not thread-safe (one per scrape).
class TextWriter {
 public:
  using Labels = std::vector<std::pair<absl::string_view, absl::string_view>>;

  // Starts a family; `type` is "counter", "gauge" or "histogram".
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help);
  void Sample(absl::string_view name, const Labels& labels, double value);
  void Sample(absl::string_view name, const Labels& labels, uint64_t value);
  // _bucket, _sum and _count samples of `h` under family `name`.
  void HistogramSamples(absl::string_view name, const Labels& labels,
                        const Histogram& h);

  std::string Take() { return std::move(out_); }

 private:
  void Head(absl::string_view name, const Labels& labels);
  std::string out_;
};

// Formats a sample value as Prometheus reads it (+Inf, integers exactly).
std::string FormatValue(double value);

}  // namespace matgto::observe

namespace matgto::observe {

// What the proxy itself measures (it knows nothing else of observe/): open
// client connections and the time from a request read to its response
// written. Thread-safety: atomics only.
struct ProxyMetrics {
  Gauge open_connections;
  Histogram request_duration{LatencyBounds()};
};

}  // namespace matgto::observe
