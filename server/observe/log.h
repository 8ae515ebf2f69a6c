// The server's log: spdlog to stdout, one line per record, as text or as
// JSON lines (--log-format), filtered by --log-level.
//
// A record is an event name ("start", "exchange", "miss", "session", ...),
// a human message and named fields. JSON lines are built with Boost.JSON:
// {"time","level","event","msg", then the fields}; these names are stable.
// Text lines read "TIME LEVEL msg key=value ...".
//
// Rare records (start, stop, sessions) are written synchronously, so a line
// is in the log when the call returns; exchange records go through an
// async logger (a queue and one writer thread) so that the proxy's threads
// never wait on stdout. Callers on the hot path check Enabled() first and
// build nothing when the level is off.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "boost/json/object.hpp"

namespace matgto::observe {

// absl::string_view as a Boost.JSON string (Debian's Abseil has its own
// string_view type).
inline boost::json::string_view Js(absl::string_view s) {
  return boost::json::string_view(s.data(), s.size());
}

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class LogFormat { kText, kJson };

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);
absl::string_view LevelName(LogLevel level);

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

// Sets up the process's log (call once, early; before it, records are
// written as text at info by a default logger). Thread-safe afterwards.
void InitLogging(const LogConfig& config);
// Writes what the async logger still holds (at shutdown).
void FlushLogging();

// Whether a record at `level` would be written.
bool LogEnabled(LogLevel level);

// Writes one record. `hot`: from the proxy's request path (async).
void Log(LogLevel level, absl::string_view event, absl::string_view message,
         const boost::json::object& fields = {}, bool hot = false);

// One record as the line the log writes (without the newline). Exposed for
// tests.
std::string FormatRecord(LogFormat format, LogLevel level, absl::Time time,
                         absl::string_view event, absl::string_view message,
                         const boost::json::object& fields);

}  // namespace matgto::observe
