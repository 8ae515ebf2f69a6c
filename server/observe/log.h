// The server's log: spdlog to stdout, one line per record, as text or as
// JSON lines (--log-format), filtered by --log-level.
//
// A record is an event name ("start", "exchange", "miss", "session", ...),
// a human message and named fields, written by a RecordWriter
// (log_record.h): JSON lines {"time","level","event","msg", then the
// fields}, whose names are stable, or text "TIME LEVEL msg key=value ...".
//
// Rare records (start, stop, sessions) are written synchronously, so a line
// is in the log when the call returns. Exchange records ("hot") are
// appended to a batch of the thread that has them (no lock shared with
// other threads, no write(2) per line) and written as one block when the
// batch is full, every second (a flusher thread), before any synchronous
// record and at once for a hot record at warn or worse; so a miss is in
// the log when the request is answered, and a session's exchanges come
// before the line that says it ended. Callers on the hot path check
// LogEnabled() first and build nothing when the level is off, and write
// their fields with a LogRecord: no JSON object and no allocation once the
// thread's buffers have grown.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "boost/json/object.hpp"
#include "server/observe/log_record.h"

namespace matgto::observe {

// absl::string_view as a Boost.JSON string (Debian's Abseil has its own
// string_view type).
inline boost::json::string_view Js(absl::string_view s) {
  return boost::json::string_view(s.data(), s.size());
}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

// Sets up the process's log (call once, early; before it, records are
// written as text at info by a default logger). Thread-safe afterwards.
void InitLogging(const LogConfig& config);
// Writes every waiting batch, then flushes stdout (at shutdown).
void FlushLogging();

// Whether a record at `level` would be written.
bool LogEnabled(LogLevel level);

// Writes one record. `hot`: from the proxy's request path (batched).
void Log(LogLevel level, absl::string_view event, absl::string_view message,
         const boost::json::object& fields = {}, bool hot = false);

// One record built in place, for the hot path:
//   if (LogEnabled(LogLevel::kInfo)) {
//     LogRecord r(LogLevel::kInfo, "exchange", message, /*hot=*/true);
//     r.fields().Add("status", 200).Add("url", url);
//     r.Write();
//   }
// The line lives in a buffer of the calling thread: one LogRecord at a time
// per thread.
class LogRecord {
 public:
  LogRecord(LogLevel level, absl::string_view event, absl::string_view message,
            bool hot = false);
  LogRecord(const LogRecord&) = delete;
  LogRecord& operator=(const LogRecord&) = delete;

  RecordWriter& fields() { return writer_; }
  void Write();

 private:
  const LogLevel level_;
  const bool hot_;
  std::string& line_;
  RecordWriter writer_;
};

// One record as the line the log writes (without the newline). Exposed for
// tests.
std::string FormatRecord(LogFormat format, LogLevel level, absl::Time time,
                         absl::string_view event, absl::string_view message,
                         const boost::json::object& fields);

}  // namespace matgto::observe
