#include "server/observe/log_record.h"

#include <array>
#include <cstdint>

#include "boost/json/serialize.hpp"
#include "boost/json/string_view.hpp"

namespace matgto::observe {
namespace {

// "2026-01-01T00:00:00.123Z". The part up to the seconds is formatted
// once per second per thread (absl::FormatTime is the costly part).
void AppendRfc3339(core::Appender& out, absl::Time t) {
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
  out << cached_prefix << absl::string_view(tail, sizeof tail);
}

// What a character asks of each format: JSON escapes controls, '"' and
// '\\' (UTF-8 passes as it is, as Boost.JSON writes it); text quotes a value
// with a space, '"', '=', '\\' or a control character. One table lookup per
// character: the hot path's values are short and plain.
constexpr uint8_t kJsonEscape = 1;
constexpr uint8_t kTextQuote = 2;
constexpr std::array<uint8_t, 256> kCharNeeds = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c <= 0x20; ++c) {
    t[c] = kTextQuote | (c < 0x20 ? kJsonEscape : 0);
  }
  t['"'] = t['\\'] = kJsonEscape | kTextQuote;
  t['='] = kTextQuote;
  return t;
}();

bool Needs(absl::string_view s, uint8_t what) {
  for (const char c : s) {
    if ((kCharNeeds[static_cast<unsigned char>(c)] & what) != 0) return true;
  }
  return false;
}

bool NeedsJsonEscape(absl::string_view s) { return Needs(s, kJsonEscape); }

// Empty, or a character text must quote.
bool NeedsTextQuotes(absl::string_view s) {
  return s.empty() || Needs(s, kTextQuote);
}

void AppendJsonString(core::Appender& out, absl::string_view s) {
  if (!NeedsJsonEscape(s)) {
    out << '"' << s << '"';
    return;
  }
  out << boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

// A record's usual size: most are written with a single resize.
constexpr size_t kExpectedLine = 320;

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

RecordWriter::RecordWriter(std::string& out, LogFormat format, LogLevel level,
                           absl::Time time, absl::string_view event,
                           absl::string_view message)
    : out_(out, kExpectedLine), format_(format) {
  if (format_ == LogFormat::kJson) {
    out_ << "{\"time\":\"";
    AppendRfc3339(out_, time);
    out_ << "\",\"level\":\"" << LevelName(level) << "\",\"event\":";
    AppendJsonString(out_, event);
    out_ << ",\"msg\":";
    AppendJsonString(out_, message);
    return;
  }
  AppendRfc3339(out_, time);
  out_ << ' ' << LevelName(level) << ' ' << message;
}

void RecordWriter::Key(absl::string_view key) {
  if (format_ == LogFormat::kText) {
    out_.Append(' ', key, '=');
  } else if (!NeedsJsonEscape(key)) {
    out_.Append(',', '"', key, '"', ':');
  } else {
    out_ << ',';
    AppendJsonString(out_, key);
    out_ << ':';
  }
}

RecordWriter& RecordWriter::Add(absl::string_view key,
                                absl::string_view value) {
  if (format_ == LogFormat::kText && !NeedsTextQuotes(value)) {
    out_.Append(' ', key, '=', value);
    return *this;
  }
  Key(key);
  AppendJsonString(out_, value);  // text quotes as JSON does
  return *this;
}

RecordWriter& RecordWriter::Add(absl::string_view key, int64_t value) {
  Key(key);
  out_ << value;
  return *this;
}

RecordWriter& RecordWriter::Add(absl::string_view key, uint64_t value) {
  Key(key);
  out_ << value;
  return *this;
}

RecordWriter& RecordWriter::Add(absl::string_view key, bool value) {
  Key(key);
  out_ << (value ? "true" : "false");
  return *this;
}

RecordWriter& RecordWriter::AddJson(absl::string_view key,
                                    absl::string_view json) {
  Key(key);
  out_ << json;
  return *this;
}

void RecordWriter::Finish() {
  if (format_ == LogFormat::kJson) out_ << '}';
  out_.Finish();
}

}  // namespace matgto::observe
