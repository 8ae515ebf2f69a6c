// One log record written field by field straight into its line, in the
// configured format, with no intermediate JSON object: what the proxy's
// hot path uses for a line per exchange, and what FormatRecord uses for
// every other record, so both give the same lines.
//
// Text:  TIME LEVEL message key=value key="quoted \"value\"" ...
// JSON:  {"time":...,"level":...,"event":...,"msg":...,"key":value,...}
// A text value is quoted (JSON string escaping) when it is empty or holds a
// space, a quote, '=' or a newline; JSON strings are escaped by Boost.JSON
// whenever they hold anything that needs it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/appender.h"

namespace matgto::observe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class LogFormat { kText, kJson };

absl::string_view LevelName(LogLevel level);

class RecordWriter {
 public:
  // Appends the record's head to `out` (which it does not clear).
  RecordWriter(std::string& out, LogFormat format, LogLevel level,
               absl::Time time, absl::string_view event,
               absl::string_view message);

  RecordWriter& Add(absl::string_view key, absl::string_view value);
  RecordWriter& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  RecordWriter& Add(absl::string_view key, int64_t value);
  RecordWriter& Add(absl::string_view key, uint64_t value);
  RecordWriter& Add(absl::string_view key, int value) {
    return Add(key, static_cast<int64_t>(value));
  }
  RecordWriter& Add(absl::string_view key, uint32_t value) {
    return Add(key, static_cast<uint64_t>(value));
  }
  RecordWriter& Add(absl::string_view key, bool value);
  // `json` is already a JSON value (an array, an object, a number...).
  RecordWriter& AddJson(absl::string_view key, absl::string_view json);

  // Closes the record (JSON's '}'); the line has no newline. `out` holds
  // the record once this is called (or the writer is gone), not before.
  void Finish();

 private:
  void Key(absl::string_view key);

  core::Appender out_;
  const LogFormat format_;
};

}  // namespace matgto::observe
