#include "server/observe/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace matgto::observe {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  // The first bound >= value ("le" is inclusive); past the end: +Inf.
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) -
      bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<int64_t>(std::llround(value * 1e6)),
                        std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

double Histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::vector<double> LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

std::vector<double> SizeBounds() {
  return {1024,    16384,    65536,    262144,    1048576,
          4194304, 16777216, 67108864, 268435456, 1073741824};
}

Counter& CounterFamily::With(absl::string_view label_value) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = counters_.find(label_value);
    if (it != counters_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Counter>& slot = counters_[label_value];
  if (slot == nullptr) slot = std::make_unique<Counter>();
  return *slot;
}

std::vector<std::pair<std::string, uint64_t>> CounterFamily::Snapshot() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  {
    absl::ReaderMutexLock lock(&mu_);
    out.reserve(counters_.size());
    for (const auto& [label, counter] : counters_) {
      out.emplace_back(label, counter->value());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrFormat("%.15g", value);
}

namespace {

// Label values escape backslash, double quote and line feed; HELP text
// escapes backslash and line feed.
void AppendEscaped(std::string& out, absl::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

void TextWriter::Family(absl::string_view name, absl::string_view type,
                        absl::string_view help) {
  absl::StrAppend(&out_, "# HELP ", name, " ");
  AppendEscaped(out_, help, /*quote=*/false);
  absl::StrAppend(&out_, "\n# TYPE ", name, " ", type, "\n");
}

void TextWriter::Head(absl::string_view name, const Labels& labels) {
  out_.append(name.data(), name.size());
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    absl::StrAppend(&out_, key, "=\"");
    AppendEscaped(out_, value, /*quote=*/true);
    out_ += '"';
  }
  out_ += '}';
}

void TextWriter::Sample(absl::string_view name, const Labels& labels,
                        double value) {
  Head(name, labels);
  absl::StrAppend(&out_, " ", FormatValue(value), "\n");
}

void TextWriter::Sample(absl::string_view name, const Labels& labels,
                        uint64_t value) {
  Head(name, labels);
  absl::StrAppend(&out_, " ", value, "\n");
}

void TextWriter::HistogramSamples(absl::string_view name, const Labels& labels,
                                  const Histogram& h) {
  const std::vector<uint64_t> cumulative = h.Cumulative();
  const std::string bucket = absl::StrCat(name, "_bucket");
  for (size_t i = 0; i <= h.bounds().size(); ++i) {
    const std::string le =
        i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
    Labels with_le = labels;
    with_le.emplace_back("le", le);
    Sample(bucket, with_le, cumulative[i]);
  }
  Sample(absl::StrCat(name, "_sum"), labels, h.sum());
  // The count is the +Inf bucket, so that the two always agree.
  Sample(absl::StrCat(name, "_count"), labels, cumulative.back());
}

}  // namespace matgto::observe
