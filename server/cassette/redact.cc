#include "server/cassette/redact.h"

#include <re2/re2.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/core/content_coding.h"
#include "server/core/url.h"

namespace matgto::cassette {
namespace {

namespace json = boost::json;

// The query/form form of the placeholder: "[REDACTED]" percent-encoded.
constexpr absl::string_view kRedactedEncoded = "%5BREDACTED%5D";

// Abseil 20220623 has no StrContainsIgnoreCase.
bool ContainsIgnoreCase(absl::string_view text, absl::string_view needle) {
  return std::search(
             text.begin(), text.end(), needle.begin(), needle.end(),
             [](char a, char b) {
               return absl::ascii_tolower(static_cast<unsigned char>(a)) ==
                      absl::ascii_tolower(static_cast<unsigned char>(b));
             }) != text.end();
}

void Learn(RedactReport* report, absl::string_view value) {
  if (report == nullptr) return;
  value = absl::StripAsciiWhitespace(value);
  if (!value.empty() && value != kRedacted) report->removed.emplace_back(value);
}

// "Bearer abc" -> "Bearer [REDACTED]"; a bare token -> "[REDACTED]". Learns
// the token, and for Basic credentials the decoded password too.
std::string RedactCredentials(absl::string_view value, RedactReport* report) {
  absl::string_view v = absl::StripAsciiWhitespace(value);
  size_t space = v.find(' ');
  if (space != absl::string_view::npos && space > 0) {
    absl::string_view token = absl::StripAsciiWhitespace(v.substr(space + 1));
    Learn(report, token);
    std::string decoded;
    if (core::EqualsIgnoreCase(v.substr(0, space), "basic") &&
        absl::Base64Unescape(token, &decoded)) {
      size_t colon = decoded.find(':');
      if (colon != std::string::npos) {
        Learn(report, absl::string_view(decoded).substr(colon + 1));
      }
    }
    return absl::StrCat(v.substr(0, space), " ", kRedacted);
  }
  Learn(report, v);
  return std::string(kRedacted);
}

// "a=1; b=2" -> "a=[REDACTED]; b=[REDACTED]".
std::string RedactCookieHeader(absl::string_view value, RedactReport* report) {
  std::vector<std::string> parts;
  for (absl::string_view pair : absl::StrSplit(value, ';')) {
    absl::string_view p = absl::StripAsciiWhitespace(pair);
    if (p.empty()) continue;
    size_t eq = p.find('=');
    Learn(report, eq == absl::string_view::npos ? p : p.substr(eq + 1));
    parts.push_back(eq == absl::string_view::npos
                        ? std::string(kRedacted)
                        : absl::StrCat(p.substr(0, eq + 1), kRedacted));
  }
  return absl::StrJoin(parts, "; ");
}

// "sid=abc; Path=/; HttpOnly" -> "sid=[REDACTED]; Path=/; HttpOnly".
std::string RedactSetCookie(absl::string_view value, RedactReport* report) {
  size_t semi = value.find(';');
  absl::string_view first = value.substr(0, semi);
  absl::string_view rest = semi == absl::string_view::npos ? absl::string_view()
                                                           : value.substr(semi);
  size_t eq = first.find('=');
  if (eq == absl::string_view::npos) {
    Learn(report, first);
    return absl::StrCat(kRedacted, rest);
  }
  Learn(report, first.substr(eq + 1));
  return absl::StrCat(first.substr(0, eq + 1), kRedacted, rest);
}

std::string PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out += static_cast<char>(
          std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += (s[i] == '+' && plus_is_space) ? ' ' : s[i];
    }
  }
  return out;
}

// Replaces the values of `names` in "a=1&b=2" (names compared decoded).
bool RedactParams(std::string& encoded, const std::vector<std::string>& names,
                  bool plus_is_space, RedactReport* report) {
  if (names.empty() || encoded.empty()) return false;
  bool changed = false;
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(encoded, '&')) {
    size_t eq = part.find('=');
    const std::string name = PercentDecode(part.substr(0, eq), plus_is_space);
    if (eq != absl::string_view::npos &&
        std::find(names.begin(), names.end(), name) != names.end() &&
        part.substr(eq + 1) != kRedactedEncoded) {
      Learn(report, PercentDecode(part.substr(eq + 1), plus_is_space));
      parts.push_back(absl::StrCat(part.substr(0, eq + 1), kRedactedEncoded));
      changed = true;
    } else {
      parts.emplace_back(part);
    }
  }
  if (changed) encoded = absl::StrJoin(parts, "&");
  return changed;
}

// The text a redacted JSON value held (strings and numbers; containers
// and literals teach nothing worth scrubbing elsewhere).
void LearnJson(const json::value& v, RedactReport* report) {
  if (const json::string* s = v.if_string()) {
    Learn(report, absl::string_view(s->data(), s->size()));
  } else if (v.is_number()) {
    Learn(report, json::serialize(v));
  }
}

bool IsPlaceholder(const json::value& v) {
  return v.is_string() && v.get_string() == json::string_view(kRedacted.data(),
                                                              kRedacted.size());
}

// Sets the value at an RFC 6901 pointer to "[REDACTED]" when it exists.
bool RedactPointer(json::value& root, absl::string_view pointer,
                   RedactReport* report) {
  if (pointer.empty() || pointer.front() != '/') return false;
  json::value* node = &root;
  for (absl::string_view raw : absl::StrSplit(pointer.substr(1), '/')) {
    std::string token = absl::StrReplaceAll(raw, {{"~1", "/"}, {"~0", "~"}});
    if (auto* obj = node->if_object()) {
      auto it = obj->find(token);
      if (it == obj->end()) return false;
      node = &it->value();
    } else if (auto* arr = node->if_array()) {
      size_t idx = 0;
      if (!absl::SimpleAtoi(token, &idx) || idx >= arr->size()) return false;
      node = &(*arr)[idx];
    } else {
      return false;
    }
  }
  if (IsPlaceholder(*node)) return false;
  LearnJson(*node, report);
  *node = json::string(kRedacted.data(), kRedacted.size());
  return true;
}

bool KeyIn(json::string_view key, const std::vector<std::string>& keys) {
  for (const std::string& k : keys) {
    if (core::EqualsIgnoreCase(absl::string_view(key.data(), key.size()), k)) {
      return true;
    }
  }
  return false;
}

// Redacts the members named `keys` at any depth.
bool RedactKeys(json::value& node, const std::vector<std::string>& keys,
                RedactReport* report) {
  bool changed = false;
  if (auto* obj = node.if_object()) {
    for (auto& member : *obj) {
      if (KeyIn(member.key(), keys)) {
        if (IsPlaceholder(member.value())) continue;
        LearnJson(member.value(), report);
        member.value() = json::string(kRedacted.data(), kRedacted.size());
        changed = true;
      } else {
        changed |= RedactKeys(member.value(), keys, report);
      }
    }
  } else if (auto* arr = node.if_array()) {
    for (json::value& v : *arr) changed |= RedactKeys(v, keys, report);
  }
  return changed;
}

// Every match of `pattern`, learned, then replaced.
bool RedactPattern(std::string& text, const re2::RE2& pattern,
                   RedactReport* report) {
  if (report != nullptr) {
    re2::StringPiece m;
    size_t pos = 0;
    while (pos <= text.size() &&
           pattern.Match(text, pos, text.size(), re2::RE2::UNANCHORED, &m, 1)) {
      const size_t at = static_cast<size_t>(m.data() - text.data());
      if (m.empty()) {
        pos = at + 1;
        continue;
      }
      Learn(report, absl::string_view(m.data(), m.size()));
      pos = at + m.size();
    }
  }
  return re2::RE2::GlobalReplace(
             &text, pattern,
             re2::StringPiece(kRedacted.data(), kRedacted.size())) > 0;
}

// Framing headers are never scrubbed: they describe the stored bytes.
bool IsFraming(absl::string_view name) {
  return core::EqualsIgnoreCase(name, "content-length") ||
         core::EqualsIgnoreCase(name, "content-encoding") ||
         core::EqualsIgnoreCase(name, "transfer-encoding") ||
         core::EqualsIgnoreCase(name, "host");
}

// "[REDACTED]" written raw in a URL (a client following a redacted
// Location, or sending back a redacted token) and its lower-case encoding
// become the one form that rules and scrubbing write.
bool NormalizeUrlPlaceholders(std::string& url) {
  if (!ContainsIgnoreCase(url, "REDACTED")) return false;
  return absl::StrReplaceAll({{kRedacted, kRedactedEncoded},
                              {"%5bREDACTED%5d", kRedactedEncoded},
                              {"%5BREDACTED%5d", kRedactedEncoded},
                              {"%5bREDACTED%5D", kRedactedEncoded}},
                             &url) > 0;
}

// Scrubs the part of an absolute URL after its authority.
bool ScrubUrl(std::string& url, const Scrubber& scrubber) {
  // (Nothing to scrub and no placeholder anywhere: most URLs, settled
  // without looking for where the path starts.)
  if (scrubber.empty() && !ContainsIgnoreCase(url, "REDACTED")) return false;
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : url.find_first_of("/?#", start + 3);
  if (start == std::string::npos) return false;
  // (Nothing to scrub and no placeholder to normalize: most URLs, copied
  // for nothing otherwise.)
  if (scrubber.empty() &&
      !ContainsIgnoreCase(absl::string_view(url).substr(start), "REDACTED")) {
    return false;
  }
  std::string tail = url.substr(start);
  bool changed = scrubber.Scrub(tail);
  changed |= NormalizeUrlPlaceholders(tail);
  if (changed) url.replace(start, std::string::npos, tail);
  return changed;
}

void StoreChanged(core::Headers& headers, std::string& body, std::string text) {
  body = std::move(text);
  // Stored decoded from now on, with a length that says so.
  core::RemoveHeaders(headers, "content-encoding");
  if (core::FindHeader(headers, "content-length") != nullptr) {
    core::SetHeader(headers, "Content-Length", std::to_string(body.size()));
  }
}

std::string DecodeProblem(absl::string_view what, const core::Headers& headers,
                          const absl::Status& status) {
  return absl::StrCat(what,
                      " (Content-Encoding: ", core::ContentEncodingOf(headers),
                      ") cannot be decoded: ", status.message());
}

bool IsForm(const core::Headers& headers) {
  const std::string* type = core::FindHeader(headers, "content-type");
  return type != nullptr &&
         ContainsIgnoreCase(*type, "application/x-www-form-urlencoded");
}

// The bit of a name's length in a length mask (63 stands for 63 or more).
uint64_t LengthBit(size_t length) {
  return uint64_t{1} << std::min<size_t>(length, 63);
}

// The bit of a name's first character, either case (31: not a letter).
uint32_t HeaderInitialBit(char first) {
  const char c = absl::ascii_tolower(static_cast<unsigned char>(first));
  return uint32_t{1} << (c >= 'a' && c <= 'z' ? c - 'a' : 31);
}

// The scrubber for the secrets known so far, kept alive by `hold`. With
// none learned yet (a suite without credentials) an empty one of its own:
// no lock and no shared count touched, from every I/O thread, per exchange
// or WebSocket message recorded.
const Scrubber& KnownScrubber(const KnownSecrets& secrets,
                              std::shared_ptr<const Scrubber>& hold) {
  static const Scrubber* const kNone = new Scrubber();
  if (secrets.size() == 0) return *kNone;
  hold = secrets.scrubber();
  return *hold;
}

}  // namespace

void RedactReport::AddProblem(std::string problem) {
  if (std::find(unredactable.begin(), unredactable.end(), problem) ==
      unredactable.end()) {
    unredactable.push_back(std::move(problem));
  }
}

const std::vector<std::string>& TokenFields() {
  static const auto* const kFields = new std::vector<std::string>{
      "access_token", "refresh_token", "id_token", "client_secret", "password",
      "accessToken",  "refreshToken",  "idToken",  "clientSecret"};
  return *kFields;
}

RedactConfig RedactConfig::Defaults() {
  RedactConfig c;
  c.json_keys = TokenFields();
  c.form_fields = TokenFields();
  c.query_params = TokenFields();
  c.headers = {"authorization",  "proxy-authorization", "cookie",
               "set-cookie",     "x-api-key",           "api-key",
               "x-auth-token",   "x-access-token",      "x-amz-security-token",
               "x-goog-api-key", "x-csrf-token",        "x-xsrf-token"};
  return c;
}

Redactor::Redactor(RedactConfig config) : config_(std::move(config)) {
  for (std::string& h : config_.headers) {
    absl::AsciiStrToLower(&h);
    if (!h.empty()) {
      header_initials_[std::min<size_t>(h.size(), 63)] |=
          HeaderInitialBit(h[0]);
    }
  }
  for (const std::string& k : config_.json_keys) {
    key_lengths_ |= LengthBit(k.size());
  }
}

bool Redactor::ChangesUrlOrBody() const {
  return !config_.query_params.empty() || !config_.json_pointers.empty() ||
         !config_.json_keys.empty() || !config_.form_fields.empty() ||
         !config_.body_patterns.empty();
}

bool Redactor::HasBodyRules(const core::Headers& headers) const {
  return !config_.json_pointers.empty() || !config_.json_keys.empty() ||
         !config_.body_patterns.empty() ||
         (!config_.form_fields.empty() && IsForm(headers));
}

bool Redactor::MayChangeBody(const core::Headers& headers) const {
  if (!config_.body_patterns.empty()) return true;
  if (!config_.form_fields.empty() && IsForm(headers)) return true;
  const std::string* type = core::FindHeader(headers, "content-type");
  return (!config_.json_pointers.empty() || !config_.json_keys.empty()) &&
         type != nullptr && ContainsIgnoreCase(*type, "json");
}

bool Redactor::IsSecretHeader(absl::string_view name) const {
  if (name.empty() || (header_initials_[std::min<size_t>(name.size(), 63)] &
                       HeaderInitialBit(name[0])) == 0) {
    return false;
  }
  const char first = absl::ascii_tolower(static_cast<unsigned char>(name[0]));
  for (const std::string& h : config_.headers) {
    if (h.size() == name.size() && h[0] == first &&
        core::EqualsIgnoreCase(h, name)) {
      return true;
    }
  }
  return false;
}

// A JSON member name is a string: a '"', the name, a '"'. Strings are
// taken in turn from the first '"'; one with a backslash in it may be a name
// written with escapes (or end elsewhere), so the body is parsed to see.
// Text that is not JSON fails to parse either way.
bool Redactor::MayHoldJsonKey(absl::string_view text) const {
  size_t open = text.find('"');
  while (open != absl::string_view::npos) {
    const size_t close = text.find('"', open + 1);
    if (close == absl::string_view::npos) return false;
    const absl::string_view s = text.substr(open + 1, close - open - 1);
    if ((key_lengths_ & LengthBit(s.size())) != 0 &&
        KeyIn(json::string_view(s.data(), s.size()), config_.json_keys)) {
      return true;
    }
    if (s.find('\\') != absl::string_view::npos) return true;
    open = text.find('"', close + 1);
  }
  return false;
}

void Redactor::RedactHeader(absl::string_view name, std::string& value) const {
  RedactHeaderLearning(name, value, nullptr);
}

void Redactor::RedactHeaderLearning(absl::string_view name, std::string& value,
                                    RedactReport* report) const {
  if (!IsSecretHeader(name)) return;
  if (core::EqualsIgnoreCase(name, "cookie")) {
    value = RedactCookieHeader(value, report);
  } else if (core::EqualsIgnoreCase(name, "set-cookie")) {
    value = RedactSetCookie(value, report);
  } else if (core::EqualsIgnoreCase(name, "authorization") ||
             core::EqualsIgnoreCase(name, "proxy-authorization")) {
    value = RedactCredentials(value, report);
  } else {
    Learn(report, value);
    value = std::string(kRedacted);
  }
}

bool Redactor::RedactText(std::string& text, bool is_form,
                          RedactReport* report) const {
  bool changed = false;
  if (!config_.json_pointers.empty() ||
      (!config_.json_keys.empty() && MayHoldJsonKey(text))) {
    boost::system::error_code ec;
    json::value doc =
        json::parse(json::string_view(text.data(), text.size()), ec);
    if (!ec) {
      bool any = false;
      for (const std::string& p : config_.json_pointers)
        any |= RedactPointer(doc, p, report);
      if (!config_.json_keys.empty())
        any |= RedactKeys(doc, config_.json_keys, report);
      if (any) {
        text = json::serialize(doc);
        changed = true;
      }
    }
  }
  if (is_form && !config_.form_fields.empty()) {
    changed |= RedactParams(text, config_.form_fields, true, report);
  }
  for (const auto& pattern : config_.body_patterns) {
    changed |= RedactPattern(text, *pattern, report);
  }
  return changed;
}

void Redactor::RedactBody(absl::string_view what, core::Headers& headers,
                          std::string& body, RedactReport* report) const {
  if (body.empty() || !HasBodyRules(headers)) return;
  if (core::FindHeader(headers, "content-encoding") == nullptr) {
    // Not encoded: the rules run over the body itself, not a copy.
    if (RedactText(body, IsForm(headers), report) &&
        core::FindHeader(headers, "content-length") != nullptr) {
      core::SetHeader(headers, "Content-Length", std::to_string(body.size()));
    }
    return;
  }
  absl::StatusOr<std::string> decoded = core::DecodeBody(headers, body);
  if (!decoded.ok()) {
    // The rules cannot see the contents: say so rather than store them
    // silently. Patterns still run over the bytes as sent.
    if (report != nullptr)
      report->AddProblem(DecodeProblem(what, headers, decoded.status()));
    std::string raw = body;
    for (const auto& pattern : config_.body_patterns) {
      if (RedactPattern(raw, *pattern, report)) body = raw;
    }
    return;
  }
  if (RedactText(*decoded, IsForm(headers), report)) {
    StoreChanged(headers, body, *std::move(decoded));
  }
}

void Redactor::ScrubBody(absl::string_view what, core::Headers& headers,
                         std::string& body, const Scrubber& scrubber,
                         RedactReport* report) const {
  if (body.empty()) return;
  // A form carries the placeholder percent-encoded, as its rules write it,
  // whichever way a client sent it back.
  const bool form = IsForm(headers);
  if (scrubber.empty() && !(form && ContainsIgnoreCase(body, "REDACTED"))) {
    return;
  }
  absl::StatusOr<std::string> decoded = core::DecodeBody(headers, body);
  if (!decoded.ok()) {
    if (report != nullptr && !scrubber.empty())
      report->AddProblem(DecodeProblem(what, headers, decoded.status()));
    scrubber.Scrub(body);
    return;
  }
  bool changed = scrubber.Scrub(*decoded);
  if (form) changed |= NormalizeUrlPlaceholders(*decoded);
  if (changed) StoreChanged(headers, body, *std::move(decoded));
}

void Redactor::Redact(core::HttpRequest& request, RedactReport* report) const {
  for (core::Header& h : request.headers)
    RedactHeaderLearning(h.name, h.value, report);
  // (A URL without a '?' has no query: most are not parsed again here.)
  if (!config_.query_params.empty() &&
      request.url.find('?') != std::string::npos) {
    absl::StatusOr<core::UrlParts> url = core::ParseAbsoluteUrl(request.url);
    if (url.ok() && url->has_query &&
        RedactParams(url->query, config_.query_params, false, report)) {
      request.url = core::FormatUrl(*url);
    }
  }
  RedactBody("request body", request.headers, request.body, report);
}

void Redactor::Redact(core::HttpResponse& response,
                      RedactReport* report) const {
  for (core::Header& h : response.headers)
    RedactHeaderLearning(h.name, h.value, report);
  if (response.spooled == nullptr) {
    RedactBody("response body", response.headers, response.body, report);
  } else if (report != nullptr && MayChangeBody(response.headers)) {
    // A body too large to hold in memory is in a file: the rules are not
    // run over it.
    report->AddProblem(absl::StrCat("response body (", response.spooled->size,
                                    " bytes) is too large for the body "
                                    "rules: it was kept on disk as sent"));
  }
}

void Redactor::Redact(core::WsMessage& message, RedactReport* report) const {
  if (message.payload.empty()) return;
  RedactText(message.payload, /*is_form=*/false, report);
}

void Redactor::Scrub(core::HttpRequest& request, const Scrubber& scrubber,
                     RedactReport* report) const {
  ScrubUrl(request.url, scrubber);
  if (!scrubber.empty()) {
    for (core::Header& h : request.headers) {
      if (!IsFraming(h.name)) scrubber.Scrub(h.value);
    }
  }
  ScrubBody("request body", request.headers, request.body, scrubber, report);
}

void Redactor::Scrub(core::HttpResponse& response, const Scrubber& scrubber,
                     RedactReport* report) const {
  if (!scrubber.empty()) {
    for (core::Header& h : response.headers) {
      if (IsFraming(h.name)) continue;
      scrubber.Scrub(h.value);
      // A redirect the client follows in replay: keep it a valid URL.
      if (core::EqualsIgnoreCase(h.name, "location") ||
          core::EqualsIgnoreCase(h.name, "content-location")) {
        NormalizeUrlPlaceholders(h.value);
      }
    }
  }
  ScrubBody("response body", response.headers, response.body, scrubber, report);
}

void Redactor::Scrub(core::WsMessage& message, const Scrubber& scrubber) const {
  scrubber.Scrub(message.payload);
}

RedactReport Redactor::RedactExchange(core::HttpRequest& request,
                                      core::HttpResponse* response,
                                      KnownSecrets& secrets) const {
  RedactReport report;
  Redact(request, &report);
  if (response != nullptr) Redact(*response, &report);
  secrets.Add(report.removed);
  std::shared_ptr<const Scrubber> hold;
  const Scrubber& scrubber = KnownScrubber(secrets, hold);
  Scrub(request, scrubber, &report);
  if (response != nullptr) Scrub(*response, scrubber, &report);
  return report;
}

RedactReport Redactor::RedactMessage(core::WsMessage& message,
                                     KnownSecrets& secrets) const {
  RedactReport report;
  Redact(message, &report);
  secrets.Add(report.removed);
  std::shared_ptr<const Scrubber> hold;
  Scrub(message, KnownScrubber(secrets, hold));
  return report;
}

}  // namespace matgto::cassette
