#include "server/observe/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/json/serialize.hpp"
#include "boost/json/string.hpp"
#include "boost/json/value.hpp"

namespace matgto::observe {
namespace {

// How long an exchange record may wait in its thread's batch or in
// stdout's buffer.
constexpr auto kHotFlushEvery = std::chrono::seconds(1);
// A thread's batch is written as one block once it holds this much.
constexpr size_t kBatchBytes = 16 * 1024;

// Exchange records of one thread, waiting to be written as one block
// ('\n'-separated; spdlog adds the last newline). Its mutex is taken by its
// thread for each record and by whoever drains every batch (the flusher, a
// synchronous record): never contended on the hot path but once a second.
// (A std::mutex: its uncontended lock and unlock cost less than
// absl::Mutex's on this hot path. Cache-line aligned: two threads' batches
// never share a line.)
struct alignas(64) HotBatch {
  std::mutex mu;
  std::string lines;  // guarded by mu
};

struct Loggers;
void DrainAll(Loggers& l);

// stdout, each record's text as it is plus a newline: the record is
// formatted already (RecordWriter), so spdlog's formatter (a copy of every
// record into a buffer, a malloc for a block of records) has nothing to do.
class PlainStdoutSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::fwrite(msg.payload.data(), 1, msg.payload.size(), stdout);
    std::fputc('\n', stdout);
  }
  void flush_() override { std::fflush(stdout); }
};

// The sink of a logger that spdlog's periodic flusher flushes: its flush
// writes every thread's batch (records never reach its log()).
class DrainSink : public spdlog::sinks::sink {
 public:
  explicit DrainSink(Loggers& loggers) : loggers_(loggers) {}
  void log(const spdlog::details::log_msg&) override {}
  void flush() override { DrainAll(loggers_); }
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  Loggers& loggers_;
};

// Never freed once published (a thread may still hold the pointer); there
// is one per InitLogging call, normally one per process.
struct Loggers {
  LogConfig config;
  // Lifecycle records: flushed as written.
  std::shared_ptr<spdlog::logger> sync;
  // Blocks of exchange records: buffered by stdio, flushed by DrainAll.
  std::shared_ptr<spdlog::logger> hot;
  // Registered with spdlog, so that its periodic flusher drains batches.
  std::shared_ptr<spdlog::logger> drain;
  // Every thread's batch (threads that ever wrote a hot record: the proxy's
  // fixed pool). A thread's own pointer is in its thread_local MyBatch.
  absl::Mutex batches_mu;
  std::vector<std::shared_ptr<HotBatch>> batches ABSL_GUARDED_BY(batches_mu);
};

absl::Mutex init_mu;
std::atomic<Loggers*> current{nullptr};
std::atomic<int> current_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> current_format{static_cast<int>(LogFormat::kText)};

Loggers* MakeLoggers(const LogConfig& config, bool buffered) {
  auto* l = new Loggers;
  l->config = config;
  // One sink (its mutex keeps lines whole) for both loggers.
  auto sink = std::make_shared<PlainStdoutSink>();
  l->sync = std::make_shared<spdlog::logger>("matgto", sink);
  l->hot =
      buffered ? std::make_shared<spdlog::logger>("matgto-hot", sink) : l->sync;
  l->drain = std::make_shared<spdlog::logger>("matgto-drain",
                                              std::make_shared<DrainSink>(*l));
  for (const auto& logger : {l->sync, l->hot}) {
    // Levels are filtered by LogEnabled, before anything is built.
    logger->set_level(spdlog::level::trace);
  }
  l->sync->flush_on(spdlog::level::trace);
  return l;
}

Loggers* Current() {
  Loggers* l = current.load(std::memory_order_acquire);
  if (l != nullptr) return l;
  absl::MutexLock lock(&init_mu);
  l = current.load(std::memory_order_acquire);
  if (l == nullptr) {
    l = MakeLoggers(LogConfig{}, /*buffered=*/false);
    current.store(l, std::memory_order_release);
  }
  return l;
}

// The calling thread's batch in `l`, registered on first use.
HotBatch& MyBatch(Loggers& l) {
  thread_local Loggers* owner = nullptr;
  thread_local std::shared_ptr<HotBatch> mine;
  if (owner != &l) {
    mine = std::make_shared<HotBatch>();
    absl::MutexLock lock(&l.batches_mu);
    l.batches.push_back(mine);
    owner = &l;
  }
  return *mine;
}

void WriteBlock(Loggers& l, HotBatch& batch) {
  if (batch.lines.empty()) return;
  l.hot->info(spdlog::string_view_t(batch.lines));
  batch.lines.clear();
}

void DrainAll(Loggers& l) {
  {
    absl::MutexLock lock(&l.batches_mu);
    for (const auto& batch : l.batches) {
      std::lock_guard<std::mutex> batch_lock(batch->mu);
      WriteBlock(l, *batch);
    }
  }
  l.hot->flush();
}

void WriteHot(Loggers& l, LogLevel level, absl::string_view line) {
  HotBatch& batch = MyBatch(l);
  {
    std::lock_guard<std::mutex> lock(batch.mu);
    if (!batch.lines.empty()) batch.lines += '\n';
    batch.lines.append(line.data(), line.size());
    if (batch.lines.size() >= kBatchBytes) WriteBlock(l, batch);
  }
  if (level >= LogLevel::kWarn) DrainAll(l);
}

void WriteLine(LogLevel level, absl::string_view line, bool hot) {
  Loggers* l = Current();
  if (hot) {
    WriteHot(*l, level, line);
    return;
  }
  // What this line says (a session ended, the server stops) comes after the
  // exchanges that led to it.
  DrainAll(*l);
  l->sync->info(spdlog::string_view_t(line.data(), line.size()));
}

// The thread's line buffer, reused for every record (capacity kept).
std::string& LineBuffer() {
  thread_local std::string line;
  line.clear();
  return line;
}

void AddValue(RecordWriter& w, absl::string_view key,
              const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string: {
      const boost::json::string& s = v.get_string();
      w.Add(key, absl::string_view(s.data(), s.size()));
      return;
    }
    case boost::json::kind::int64:
      w.Add(key, static_cast<int64_t>(v.get_int64()));
      return;
    case boost::json::kind::uint64:
      w.Add(key, static_cast<uint64_t>(v.get_uint64()));
      return;
    case boost::json::kind::bool_:
      w.Add(key, v.get_bool());
      return;
    default:
      w.AddJson(key, boost::json::serialize(v));
  }
}

void AddFields(RecordWriter& w, const boost::json::object& fields) {
  for (const auto& field : fields) {
    AddValue(w, absl::string_view(field.key().data(), field.key().size()),
             field.value());
  }
}

LogFormat CurrentFormat() {
  return static_cast<LogFormat>(current_format.load(std::memory_order_relaxed));
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "debug") return LogLevel::kDebug;
  if (n == "info") return LogLevel::kInfo;
  if (n == "warn" || n == "warning") return LogLevel::kWarn;
  if (n == "error") return LogLevel::kError;
  if (n == "off") return LogLevel::kOff;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown log level '", name, "' (error, warn, info, debug or off)"));
}

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format '", name, "' (text or json)"));
}

void InitLogging(const LogConfig& config) {
  // Blocks of exchange records go into stdout's buffer (a memcpy under the
  // sink's mutex, a write(2) per buffer-full or flush).
  if (::isatty(::fileno(stdout)) == 0) {
    static char buffer[1 << 16];
    std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  }
  Loggers* l = MakeLoggers(config, /*buffered=*/true);
  Loggers* previous = nullptr;
  {
    absl::MutexLock lock(&init_mu);
    previous = current.load(std::memory_order_acquire);
    current_level.store(static_cast<int>(config.level));
    current_format.store(static_cast<int>(config.format));
    current.store(l, std::memory_order_release);
  }
  if (previous != nullptr) DrainAll(*previous);
  spdlog::drop(l->drain->name());
  spdlog::register_logger(l->drain);
  spdlog::flush_every(kHotFlushEvery);
}

void FlushLogging() {
  Loggers* l = current.load(std::memory_order_acquire);
  if (l == nullptr) return;
  DrainAll(*l);
  l->sync->flush();
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >=
         current_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, absl::string_view event, absl::string_view message,
         const boost::json::object& fields, bool hot) {
  if (!LogEnabled(level)) return;
  LogRecord record(level, event, message, hot);
  AddFields(record.fields(), fields);
  record.Write();
}

LogRecord::LogRecord(LogLevel level, absl::string_view event,
                     absl::string_view message, bool hot)
    : level_(level),
      hot_(hot),
      line_(LineBuffer()),
      writer_(line_, CurrentFormat(), level, absl::Now(), event, message) {}

void LogRecord::Write() {
  writer_.Finish();
  WriteLine(level_, line_, hot_);
}

std::string FormatRecord(LogFormat format, LogLevel level, absl::Time time,
                         absl::string_view event, absl::string_view message,
                         const boost::json::object& fields) {
  std::string line;
  RecordWriter w(line, format, level, time, event, message);
  AddFields(w, fields);
  w.Finish();
  return line;
}

}  // namespace matgto::observe
