#include "server/cassette/har.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "matgto_har.pb.h"  // generated from matgto_har.proto
#include "server/cassette/json_codec.h"
#include "server/core/http.h"
#include "server/core/utf8.h"

namespace matgto::cassette {
namespace {

using google::protobuf::RepeatedPtrField;
using google::protobuf::util::TimeUtil;

constexpr absl::string_view kCreator = "matgto";
constexpr absl::string_view kBase64 = "base64";

std::string Latin1ToUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out.push_back(c);
    } else {
      out.push_back(static_cast<char>(0xc0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
    }
  }
  return out;
}

// The first value of header `name` (case-insensitive), bytes as stored.
std::string FindHeader(const RepeatedPtrField<v1::Header>& headers,
                       absl::string_view name) {
  for (const v1::Header& h : headers) {
    if (core::EqualsIgnoreCase(h.name(), name)) {
      return h.raw_value().empty() ? h.value() : h.raw_value();
    }
  }
  return "";
}

double Millis(const google::protobuf::Duration& d) {
  return static_cast<double>(TimeUtil::DurationToNanoseconds(d)) / 1e6;
}

google::protobuf::Duration FromMillis(double ms) {
  return TimeUtil::NanosecondsToDuration(std::llround(ms * 1e6));
}

void HeadersToHar(const RepeatedPtrField<v1::Header>& in,
                  RepeatedPtrField<har::NameValue>& out) {
  for (const v1::Header& h : in) {
    har::NameValue* nv = out.Add();
    nv->set_name(h.name());
    if (!h.raw_value().empty()) {
      nv->set_value(Latin1ToUtf8(h.raw_value()));
      nv->set_raw_value(h.raw_value());
    } else {
      nv->set_value(h.value());
    }
  }
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int value = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        absl::SimpleHexAtoi(s.substr(i + 1, 2), &value)) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void QueryToHar(absl::string_view url, RepeatedPtrField<har::NameValue>& out) {
  url = url.substr(0, url.find('#'));
  const size_t q = url.find('?');
  if (q == absl::string_view::npos) return;
  for (absl::string_view pair :
       absl::StrSplit(url.substr(q + 1), '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    std::string name = PercentDecode(pair.substr(0, eq));
    std::string value =
        eq == absl::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
    // A parameter that decodes to bytes that are not UTF-8 stays encoded.
    har::NameValue* nv = out.Add();
    nv->set_name(core::IsValidUtf8(name) ? name
                                         : std::string(pair.substr(0, eq)));
    nv->set_value(core::IsValidUtf8(value) || eq == absl::string_view::npos
                      ? value
                      : std::string(pair.substr(eq + 1)));
  }
}

// UTF-8 bodies as text, others as base64 with encoding "base64".
template <typename T>
void SetBodyText(const std::string& body, T& out) {
  if (core::IsValidUtf8(body)) {
    out.set_text(body);
  } else {
    out.set_text(absl::Base64Escape(body));
    out.set_encoding(std::string(kBase64));
  }
}

void ExchangeToEntry(const v1::Interaction& it, har::Entry& entry) {
  const v1::HttpExchange& http = it.http();
  const v1::HttpRequest& req = http.request();
  const v1::HttpResponse& res = http.response();
  const v1::Timing& timing = http.timing();

  google::protobuf::Timestamp started =
      timing.has_started_at() ? timing.started_at() : it.recorded_at();
  entry.set_started_date_time(TimeUtil::ToString(started));
  const double total = Millis(timing.total());
  const double ttfb = std::min(Millis(timing.time_to_first_byte()), total);
  entry.set_time(total);

  har::Request* r = entry.mutable_request();
  r->set_method(req.method());
  r->set_url(req.url());
  r->set_http_version(req.http_version().empty() ? "HTTP/1.1"
                                                 : req.http_version());
  HeadersToHar(req.headers(), *r->mutable_headers());
  QueryToHar(req.url(), *r->mutable_query_string());
  if (!req.body().empty()) {
    har::PostData* post = r->mutable_post_data();
    post->set_mime_type(FindHeader(req.headers(), "content-type"));
    if (!core::IsValidUtf8(post->mime_type())) post->clear_mime_type();
    SetBodyText(req.body(), *post);
  }
  r->set_header_block_size(-1);
  r->set_body_size(static_cast<int32_t>(req.body().size()));

  har::Response* s = entry.mutable_response();
  s->set_status(static_cast<int32_t>(res.status()));
  if (!res.raw_reason().empty()) {
    s->set_status_text(Latin1ToUtf8(res.raw_reason()));
    s->set_raw_status_text(res.raw_reason());
  } else {
    s->set_status_text(res.reason());
  }
  s->set_http_version(res.http_version().empty() ? "HTTP/1.1"
                                                 : res.http_version());
  HeadersToHar(res.headers(), *s->mutable_headers());
  har::Content* content = s->mutable_content();
  content->set_size(static_cast<int32_t>(res.body().size()));
  content->set_mime_type(FindHeader(res.headers(), "content-type"));
  if (!core::IsValidUtf8(content->mime_type())) content->clear_mime_type();
  if (!res.body().empty()) SetBodyText(res.body(), *content);
  std::string location = FindHeader(res.headers(), "location");
  if (core::IsValidUtf8(location)) s->set_redirect_url(location);
  s->set_header_block_size(-1);
  s->set_body_size(static_cast<int32_t>(res.body().size()));

  entry.mutable_cache();
  har::Timings* t = entry.mutable_timings();
  t->set_blocked(-1);
  t->set_dns(-1);
  t->set_connect(-1);
  t->set_ssl(-1);
  t->set_send(0);
  t->set_wait(ttfb);
  t->set_receive(total - ttfb);
}

// --- import ---

absl::StatusOr<std::string> BodyFromHar(const std::string& text,
                                        const std::string& encoding,
                                        absl::string_view what) {
  if (encoding.empty()) return text;
  if (absl::AsciiStrToLower(encoding) == kBase64) {
    std::string out;
    if (!absl::Base64Unescape(text, &out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " says encoding base64 but is not valid base64"));
    }
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " has the unknown encoding '", encoding,
                   "' (only base64 is understood)"));
}

void HeadersFromHar(const RepeatedPtrField<har::NameValue>& in,
                    RepeatedPtrField<v1::Header>& out) {
  for (const har::NameValue& nv : in) {
    if (absl::StartsWith(nv.name(), ":")) continue;  // HTTP/2 pseudo-header
    v1::Header* h = out.Add();
    h->set_name(nv.name());
    if (nv.has_raw_value()) {
      h->set_raw_value(nv.raw_value());
    } else {
      h->set_value(nv.value());
    }
  }
}

std::string HttpVersion(absl::string_view har_version) {
  return absl::AsciiStrToUpper(har_version) == "HTTP/1.0" ? "HTTP/1.0"
                                                          : "HTTP/1.1";
}

bool RemoveHeader(RepeatedPtrField<v1::Header>& headers,
                  absl::string_view name) {
  const auto before = headers.size();
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const v1::Header& h) {
                                 return core::EqualsIgnoreCase(h.name(), name);
                               }),
                headers.end());
  return headers.size() != before;
}

// A Content-Length that disagrees with the body would make replay send a
// broken message; responses that have no body on the wire keep theirs.
bool FixContentLength(absl::string_view method, v1::HttpResponse& res) {
  if (absl::AsciiStrToUpper(method) == "HEAD" || res.status() < 200 ||
      res.status() == 204 || res.status() == 304) {
    return false;
  }
  bool fixed = false;
  const std::string size = absl::StrCat(res.body().size());
  for (v1::Header& h : *res.mutable_headers()) {
    if (core::EqualsIgnoreCase(h.name(), "content-length") &&
        (h.value() != size || !h.raw_value().empty())) {
      h.clear_raw_value();
      h.set_value(size);
      fixed = true;
    }
  }
  return fixed;
}

}  // namespace

absl::StatusOr<HarExport> CassetteToHar(const v1::Cassette& cassette,
                                        absl::string_view creator_version) {
  HarExport out;
  har::Har doc;
  har::Log* log = doc.mutable_log();
  log->set_version("1.2");
  log->mutable_creator()->set_name(std::string(kCreator));
  log->mutable_creator()->set_version(std::string(creator_version));
  if (!cassette.name().empty()) {
    log->set_comment(absl::StrCat("matgto cassette '", cassette.name(), "'"));
  }
  for (const v1::Interaction& it : cassette.interactions()) {
    if (it.has_http()) {
      ExchangeToEntry(it, *log->add_entries());
    } else if (it.has_websocket()) {
      out.notes.push_back(absl::StrCat(
          "interaction #", it.index(), " (WebSocket session ",
          it.websocket().upgrade_request().url(),
          ") is left out: HAR has no form for WebSocket sessions"));
    }
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto st = google::protobuf::util::MessageToJsonString(doc, &json, options);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print HAR: ", st.message().as_string()));
  }
  out.json = UnescapeAngleBrackets(json);
  return out;
}

absl::StatusOr<HarImport> CassetteFromHar(absl::string_view json,
                                          absl::string_view name) {
  har::Har doc;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // browsers add many "_x" fields
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &doc, options);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a HAR 1.2 document: ", st.message().as_string()));
  }
  if (!doc.has_log()) {
    return absl::InvalidArgumentError("not a HAR document: it has no \"log\"");
  }
  const bool as_sent = doc.log().creator().name() == kCreator;
  HarImport out;
  out.cassette.set_name(std::string(name));
  int dropped_encodings = 0, fixed_lengths = 0;
  for (int i = 0; i < doc.log().entries_size(); ++i) {
    const har::Entry& e = doc.log().entries(i);
    const std::string where = absl::StrCat("HAR entry #", i);
    if (!e.has_request() || e.request().url().empty()) {
      out.notes.push_back(absl::StrCat(where, " has no request: skipped"));
      continue;
    }
    if (!e.has_response() || e.response().status() <= 0 ||
        e.response().status() > 999) {
      out.notes.push_back(absl::StrCat(where, " (", e.request().method(), " ",
                                       e.request().url(),
                                       ") has no response: skipped"));
      continue;
    }
    v1::Interaction* it = out.cassette.add_interactions();
    it->set_index(static_cast<uint64_t>(out.cassette.interactions_size() - 1));
    v1::HttpExchange* http = it->mutable_http();

    v1::HttpRequest* req = http->mutable_request();
    req->set_method(e.request().method());
    req->set_url(e.request().url());
    req->set_http_version(HttpVersion(e.request().http_version()));
    HeadersFromHar(e.request().headers(), *req->mutable_headers());
    if (e.request().has_post_data()) {
      auto body = BodyFromHar(e.request().post_data().text(),
                              e.request().post_data().encoding(),
                              absl::StrCat(where, " request postData"));
      if (!body.ok()) return body.status();
      req->set_body(*std::move(body));
    }

    v1::HttpResponse* res = http->mutable_response();
    res->set_status(static_cast<uint32_t>(e.response().status()));
    if (e.response().has_raw_status_text()) {
      res->set_raw_reason(e.response().raw_status_text());
    } else {
      res->set_reason(e.response().status_text());
    }
    res->set_http_version(HttpVersion(e.response().http_version()));
    HeadersFromHar(e.response().headers(), *res->mutable_headers());
    if (e.response().content().has_text()) {
      auto body = BodyFromHar(e.response().content().text(),
                              e.response().content().encoding(),
                              absl::StrCat(where, " response content"));
      if (!body.ok()) return body.status();
      res->set_body(*std::move(body));
    }
    if (!as_sent) {
      const std::string coding =
          absl::AsciiStrToLower(FindHeader(res->headers(), "content-encoding"));
      if (!coding.empty() && coding != "identity" &&
          RemoveHeader(*res->mutable_headers(), "content-encoding")) {
        ++dropped_encodings;
      }
    }
    if (FixContentLength(req->method(), *res)) ++fixed_lengths;

    google::protobuf::Timestamp started;
    if (TimeUtil::FromString(e.started_date_time(), &started)) {
      *it->mutable_recorded_at() = started;
      *http->mutable_timing()->mutable_started_at() = started;
    }
    const har::Timings& t = e.timings();
    double ttfb = 0;
    for (double part :
         {t.blocked(), t.dns(), t.connect(), t.send(), t.wait()}) {
      if (part > 0) ttfb += part;
    }
    const double total = std::max(e.time(), 0.0);
    *http->mutable_timing()->mutable_time_to_first_byte() =
        FromMillis(std::min(ttfb, total));
    *http->mutable_timing()->mutable_total() = FromMillis(total);
  }
  if (dropped_encodings > 0) {
    out.notes.push_back(
        absl::StrCat("HAR bodies are decoded: removed Content-Encoding from ",
                     dropped_encodings, " response(s)"));
  }
  if (fixed_lengths > 0) {
    out.notes.push_back(absl::StrCat("set Content-Length to the body size in ",
                                     fixed_lengths, " response(s)"));
  }
  return out;
}

bool LooksLikeHar(absl::string_view json) {
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(json.data(), json.size()), &doc)
           .ok()) {
    return false;
  }
  auto it = doc.fields().find("log");
  return it != doc.fields().end() && it->second.has_struct_value();
}

}  // namespace matgto::cassette
