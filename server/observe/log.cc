#include "server/observe/log.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/json/serialize.hpp"
#include "boost/json/string.hpp"
#include "boost/json/value.hpp"

namespace matgto::observe {
namespace {

// Queue of the async (exchange) logger; when full, the proxy thread waits
// for the writer rather than lose a line.
constexpr size_t kQueueRecords = 8192;

// Never freed once published (a thread may still hold the pointer); there
// is one per InitLogging call, normally one per process.
struct Loggers {
  LogConfig config;
  std::shared_ptr<spdlog::details::thread_pool> pool;  // null: no async
  std::shared_ptr<spdlog::logger> sync;
  std::shared_ptr<spdlog::logger> async;
};

absl::Mutex init_mu;
std::atomic<Loggers*> current{nullptr};
std::atomic<int> current_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> current_format{static_cast<int>(LogFormat::kText)};

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      break;
  }
  return spdlog::level::off;
}

// Synchronous only: before InitLogging, and after FlushLogging.
Loggers* SyncLoggers(const LogConfig& config) {
  auto* l = new Loggers;
  l->config = config;
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  l->sync = std::make_shared<spdlog::logger>("matgto", sink);
  l->sync->set_pattern("%v");
  l->sync->set_level(ToSpd(config.level));
  l->sync->flush_on(spdlog::level::trace);
  l->async = l->sync;
  return l;
}

Loggers* Current() {
  Loggers* l = current.load(std::memory_order_acquire);
  if (l != nullptr) return l;
  absl::MutexLock lock(&init_mu);
  l = current.load(std::memory_order_acquire);
  if (l == nullptr) {
    l = SyncLoggers(LogConfig{});
    current.store(l, std::memory_order_release);
  }
  return l;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

void AppendTextValue(std::string& out, const boost::json::value& v) {
  if (v.is_string()) {
    const boost::json::string& s = v.get_string();
    const bool plain =
        !s.empty() && s.find_first_of(" \"=\n") == boost::json::string::npos;
    if (plain) {
      out.append(s.data(), s.size());
    } else {
      out += boost::json::serialize(v);  // quoted, escaped
    }
    return;
  }
  out += boost::json::serialize(v);
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

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      break;
  }
  return "off";
}

void InitLogging(const LogConfig& config) {
  auto* l = new Loggers;
  l->config = config;
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  // The record is formatted by FormatRecord; spdlog adds the newline.
  l->sync = std::make_shared<spdlog::logger>("matgto", sink);
  l->pool = std::make_shared<spdlog::details::thread_pool>(kQueueRecords, 1);
  l->async = std::make_shared<spdlog::async_logger>(
      "matgto-exchanges", sink, l->pool, spdlog::async_overflow_policy::block);
  for (const auto& logger : {l->sync, l->async}) {
    logger->set_pattern("%v");
    logger->set_level(ToSpd(config.level));
    // Lines reach the file as they are written (tests, `tail -f`).
    logger->flush_on(spdlog::level::trace);
  }
  current_level.store(static_cast<int>(config.level));
  current_format.store(static_cast<int>(config.format));
  absl::MutexLock lock(&init_mu);
  current.store(l, std::memory_order_release);
}

void FlushLogging() {
  absl::MutexLock lock(&init_mu);
  Loggers* l = current.load(std::memory_order_acquire);
  if (l == nullptr || l->pool == nullptr) return;
  // From now on every record is synchronous; the writer thread drains its
  // queue and ends when the last reference to its pool goes.
  current.store(SyncLoggers(l->config), std::memory_order_release);
  l->pool.reset();
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >=
         current_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, absl::string_view event, absl::string_view message,
         const boost::json::object& fields, bool hot) {
  if (!LogEnabled(level)) return;
  Loggers* l = Current();
  const std::string line = FormatRecord(
      static_cast<LogFormat>(current_format.load(std::memory_order_relaxed)),
      level, absl::Now(), event, message, fields);
  (hot ? l->async : l->sync)->log(ToSpd(level), "{}", line);
}

std::string FormatRecord(LogFormat format, LogLevel level, absl::Time time,
                         absl::string_view event, absl::string_view message,
                         const boost::json::object& fields) {
  if (format == LogFormat::kJson) {
    boost::json::object record;
    record.reserve(fields.size() + 4);
    record["time"] = Rfc3339(time);
    record["level"] = Js(LevelName(level));
    record["event"] = Js(event);
    record["msg"] = Js(message);
    for (const auto& field : fields) record[field.key()] = field.value();
    return boost::json::serialize(record);
  }
  std::string line =
      absl::StrCat(Rfc3339(time), " ", LevelName(level), " ", message);
  for (const auto& field : fields) {
    absl::StrAppend(&line, " ",
                    absl::string_view(field.key().data(), field.key().size()),
                    "=");
    AppendTextValue(line, field.value());
  }
  return line;
}

}  // namespace matgto::observe
