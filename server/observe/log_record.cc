#include "server/observe/log_record.h"

#include "absl/strings/str_cat.h"
#include "boost/json/serialize.hpp"
#include "boost/json/string_view.hpp"

namespace matgto::observe {
namespace {

// Debian's Abseil has its own string_view, which std::string cannot append.
void Append(std::string& out, absl::string_view s) {
  out.append(s.data(), s.size());
}

// "2026-01-01T00:00:00.123Z". The part up to the seconds is formatted
// once per second per thread (absl::FormatTime is the costly part).
void AppendRfc3339(std::string& out, absl::Time t) {
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
  const char tail[] = {'.', static_cast<char>('0' + ms / 100),
                       static_cast<char>('0' + ms / 10 % 10),
                       static_cast<char>('0' + ms % 10), 'Z'};
  out += cached_prefix;
  out.append(tail, sizeof tail);
}

// Whether JSON needs anything escaped in `s` (controls, '"', '\\'; UTF-8
// passes as it is, as Boost.JSON writes it).
bool NeedsJsonEscape(absl::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '"' || c == '\\') return true;
  }
  return false;
}

// Empty, or a space, '"', '=', '\\' or a control character (one pass: the
// hot path's values are short and plain).
bool NeedsTextQuotes(absl::string_view s) {
  if (s.empty()) return true;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

}  // namespace

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

void AppendJsonString(std::string& out, absl::string_view s) {
  if (!NeedsJsonEscape(s)) {
    out += '"';
    Append(out, s);
    out += '"';
    return;
  }
  out += boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

RecordWriter::RecordWriter(std::string& out, LogFormat format, LogLevel level,
                           absl::Time time, absl::string_view event,
                           absl::string_view message)
    : out_(out), format_(format) {
  if (format_ == LogFormat::kJson) {
    out_ += "{\"time\":\"";
    AppendRfc3339(out_, time);
    out_ += "\",\"level\":\"";
    Append(out_, LevelName(level));
    out_ += "\",\"event\":";
    AppendJsonString(out_, event);
    out_ += ",\"msg\":";
    AppendJsonString(out_, message);
    return;
  }
  AppendRfc3339(out_, time);
  out_ += ' ';
  Append(out_, LevelName(level));
  out_ += ' ';
  Append(out_, message);
}

// Each field is one StrAppend where it can be (one size computation and
// one resize per field, not one per character appended).
void RecordWriter::Key(absl::string_view key) {
  if (format_ == LogFormat::kText) {
    absl::StrAppend(&out_, " ", key, "=");
  } else if (!NeedsJsonEscape(key)) {
    absl::StrAppend(&out_, ",\"", key, "\":");
  } else {
    out_ += ',';
    AppendJsonString(out_, key);
    out_ += ':';
  }
}

RecordWriter& RecordWriter::Add(absl::string_view key,
                                absl::string_view value) {
  if (format_ == LogFormat::kText) {
    if (!NeedsTextQuotes(value)) {
      absl::StrAppend(&out_, " ", key, "=", value);
      return *this;
    }
  } else if (!NeedsJsonEscape(key) && !NeedsJsonEscape(value)) {
    absl::StrAppend(&out_, ",\"", key, "\":\"", value, "\"");
    return *this;
  }
  Key(key);
  AppendJsonString(out_, value);
  return *this;
}

RecordWriter& RecordWriter::Add(absl::string_view key, int64_t value) {
  if (format_ == LogFormat::kText) {
    absl::StrAppend(&out_, " ", key, "=", value);
  } else {
    Key(key);
    absl::StrAppend(&out_, value);
  }
  return *this;
}

RecordWriter& RecordWriter::Add(absl::string_view key, uint64_t value) {
  if (format_ == LogFormat::kText) {
    absl::StrAppend(&out_, " ", key, "=", value);
  } else {
    Key(key);
    absl::StrAppend(&out_, value);
  }
  return *this;
}

RecordWriter& RecordWriter::Add(absl::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
  return *this;
}

RecordWriter& RecordWriter::AddJson(absl::string_view key,
                                    absl::string_view json) {
  Key(key);
  Append(out_, json);
  return *this;
}

void RecordWriter::Finish() {
  if (format_ == LogFormat::kJson) out_ += '}';
}

}  // namespace matgto::observe
