#include "server/observe/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/json/serialize.hpp"
#include "boost/json/string.hpp"
#include "boost/json/value.hpp"

namespace matgto::observe {
namespace {

// How long an exchange record may sit in stdout's buffer.
constexpr auto kHotFlushEvery = std::chrono::seconds(1);

// Never freed once published (a thread may still hold the pointer); there
// is one per InitLogging call, normally one per process.
struct Loggers {
  LogConfig config;
  // Lifecycle records: flushed as written.
  std::shared_ptr<spdlog::logger> sync;
  // Exchange and miss records: buffered (misses and worse flushed at once).
  std::shared_ptr<spdlog::logger> hot;
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

Loggers* MakeLoggers(const LogConfig& config, bool buffered) {
  auto* l = new Loggers;
  l->config = config;
  // One sink (its mutex keeps lines whole) for both loggers.
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  l->sync = std::make_shared<spdlog::logger>("matgto", sink);
  l->hot =
      buffered ? std::make_shared<spdlog::logger>("matgto-hot", sink) : l->sync;
  for (const auto& logger : {l->sync, l->hot}) {
    // The record is formatted by FormatRecord; spdlog adds the newline.
    logger->set_pattern("%v");
    logger->set_level(ToSpd(config.level));
  }
  l->sync->flush_on(spdlog::level::trace);
  if (buffered) l->hot->flush_on(spdlog::level::warn);
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

// "2026-01-01T00:00:00.123Z". The part up to the seconds is formatted
// once per second per thread (absl::FormatTime is the costly part).
std::string Rfc3339(absl::Time t) {
  thread_local int64_t cached_second = -1;
  thread_local std::string cached_prefix;
  const int64_t millis = absl::ToUnixMillis(t);
  const int64_t second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  if (second != cached_second) {
    cached_prefix =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                         absl::UTCTimeZone());
    cached_second = second;
  }
  const int ms = static_cast<int>(millis - second * 1000);
  std::string out;
  out.reserve(cached_prefix.size() + 5);
  out += cached_prefix;
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

void AppendTextValue(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      absl::StrAppend(&out, v.get_int64());
      return;
    case boost::json::kind::uint64:
      absl::StrAppend(&out, v.get_uint64());
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::string: {
      const boost::json::string& s = v.get_string();
      if (!s.empty() &&
          s.find_first_of(" \"=\n") == boost::json::string::npos) {
        out.append(s.data(), s.size());
        return;
      }
      break;  // quoted and escaped as JSON
    }
    default:
      break;
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
  // Exchange records are written by the proxy thread that has them, into
  // stdout's buffer (no queue, no thread hand-off: a memcpy under the
  // sink's mutex, and a write(2) per buffer-full); a flusher thread writes
  // what waits at least every kHotFlushEvery.
  if (::isatty(::fileno(stdout)) == 0) {
    static char buffer[1 << 16];
    std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  }
  Loggers* l = MakeLoggers(config, /*buffered=*/true);
  spdlog::drop(l->hot->name());
  spdlog::register_logger(l->hot);
  spdlog::flush_every(kHotFlushEvery);
  current_level.store(static_cast<int>(config.level));
  current_format.store(static_cast<int>(config.format));
  absl::MutexLock lock(&init_mu);
  current.store(l, std::memory_order_release);
}

void FlushLogging() {
  Loggers* l = current.load(std::memory_order_acquire);
  if (l == nullptr) return;
  l->hot->flush();
  l->sync->flush();
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
  (hot ? l->hot : l->sync)->log(ToSpd(level), spdlog::string_view_t(line));
}

std::string FormatRecord(LogFormat format, LogLevel level, absl::Time time,
                         absl::string_view event, absl::string_view message,
                         const boost::json::object& fields) {
  if (format == LogFormat::kJson) {
    boost::json::object record(fields.storage());
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
