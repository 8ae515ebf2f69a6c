#include "server/match/matcher.h"

#include <re2/re2.h>

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/core/content_coding.h"
#include "server/core/url.h"
#include "server/core/utf8.h"
#include "server/match/canonical.h"

namespace matgto::match {
namespace {

int Weight(absl::string_view field) {
  if (field == "method" || field == "host" || field == "scheme") return 8;
  if (field == "port") return 6;
  if (field == "path") return 4;
  if (field == "query") return 2;
  return 1;  // headers, body
}

bool IsPrintableUtf8(absl::string_view s) {
  if (!core::IsValidUtf8(s)) return false;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
      return false;
    }
  }
  return true;
}

// A marker that cannot start canonical JSON or form text, so a body that
// failed to parse never equals one that parsed.
constexpr absl::string_view kUnparsed = "\x01unparsed:";

}  // namespace

absl::StatusOr<UrlRewrite> MakeUrlRewrite(absl::string_view pattern,
                                          std::string replacement) {
  auto re = std::make_shared<const re2::RE2>(
      re2::StringPiece(pattern.data(), pattern.size()), re2::RE2::Quiet);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad URL rewrite pattern '", pattern, "': ", re->error()));
  }
  std::string error;
  if (!re->CheckRewriteString(replacement, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad URL rewrite replacement '", replacement, "': ", error));
  }
  return UrlRewrite{std::move(re), std::move(replacement)};
}

std::string DescribeBody(absl::string_view body, size_t max_chars) {
  if (body.empty()) return "<empty>";
  if (!IsPrintableUtf8(body)) {
    return absl::StrCat("<", body.size(), " bytes, binary>");
  }
  if (body.size() <= max_chars) return std::string(body);
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) >> 6) == 0x2) --cut;
  return absl::StrCat(body.substr(0, cut), "... (", body.size(), " bytes)");
}

RequestMatcher::RequestMatcher(MatchRules rules) : rules_(std::move(rules)) {
  if (!rules_.url) {
    rules_.scheme = rules_.host = rules_.port = rules_.path = rules_.query =
        false;
  }
  if (!rules_.body) rules_.body_mode = BodyMode::kIgnore;
  if (rules_.body_mode == BodyMode::kIgnore) rules_.body = false;
  for (std::string& h : rules_.header_names) absl::AsciiStrToLower(&h);
  std::sort(rules_.header_names.begin(), rules_.header_names.end());
  if (rules_.header_names.empty()) rules_.headers = false;
}

Fingerprint RequestMatcher::Of(const core::HttpRequest& request) const {
  Fingerprint f;
  if (rules_.method) f.method = request.method;
  if (rules_.scheme || rules_.host || rules_.port || rules_.path ||
      rules_.query) {
    // Copied only to be rewritten (the replay hot path has no copy).
    std::string rewritten;
    absl::string_view url = request.url;
    if (!rules_.url_rewrites.empty()) {
      rewritten = request.url;
      for (const UrlRewrite& r : rules_.url_rewrites) {
        re2::RE2::GlobalReplace(&rewritten, *r.pattern, r.replacement);
      }
      url = rewritten;
    }
    absl::StatusOr<core::UrlParts> parts = core::ParseAbsoluteUrl(url);
    if (!parts.ok()) {
      f.path = std::string(url);  // compare the whole (rewritten) URL
    } else {
      if (rules_.scheme) f.scheme = parts->scheme;
      if (rules_.host) f.host = parts->host;
      if (rules_.port) f.port = absl::StrCat(parts->port);
      if (rules_.path) f.path = parts->path;
      if (rules_.query) {
        if (rules_.ignore_query_params.empty() &&
            !rules_.query_order_insensitive) {
          f.query = parts->has_query ? absl::StrCat("?", parts->query) : "";
        } else {
          f.query =
              CanonicalParams(parts->query, false, rules_.ignore_query_params,
                              rules_.query_order_insensitive);
        }
      }
    }
  }
  if (rules_.headers) {
    std::vector<std::string> lines;
    for (const std::string& name : rules_.header_names) {
      std::vector<absl::string_view> values;
      for (const core::Header& h : request.headers) {
        if (core::EqualsIgnoreCase(h.name, name)) values.push_back(h.value);
      }
      if (!values.empty()) {
        lines.push_back(absl::StrCat(name, ": ", absl::StrJoin(values, ", ")));
      }
    }
    f.headers = absl::StrJoin(lines, "\n");
  }
  if (rules_.body) {
    const std::string body = core::DecodedBody(request.headers, request.body);
    switch (rules_.body_mode) {
      case BodyMode::kExact:
        f.body = body;
        break;
      case BodyMode::kJson: {
        if (body.empty()) break;
        std::optional<std::string> canonical =
            CanonicalJson(body, rules_.ignore_json_pointers);
        f.body = canonical.has_value() ? *std::move(canonical)
                                       : absl::StrCat(kUnparsed, body);
        f.body_canonical = canonical.has_value();
        break;
      }
      case BodyMode::kForm:
        f.body = CanonicalParams(body, true, rules_.ignore_form_fields, true);
        break;
      case BodyMode::kIgnore:
        break;
    }
  }
  return f;
}

uint64_t RequestMatcher::Key(const Fingerprint& f) {
  return absl::HashOf(f.method, f.scheme, f.host, f.port, f.path, f.query,
                      f.headers, f.body);
}

std::vector<FieldDifference> RequestMatcher::Differences(
    const Fingerprint& r, const Fingerprint& l) const {
  std::vector<FieldDifference> out;
  auto add = [&](const char* name, const std::string& a, const std::string& b) {
    if (a != b) out.push_back({name, a, b});
  };
  add("method", r.method, l.method);
  add("scheme", r.scheme, l.scheme);
  add("host", r.host, l.host);
  add("port", r.port, l.port);
  add("path", r.path, l.path);
  if (r.query != l.query) {
    auto strip = [](const std::string& q) {
      return q.empty() || q.front() != '?' ? q : q.substr(1);
    };
    out.push_back({"query", strip(r.query), strip(l.query)});
  }
  add("headers", r.headers, l.headers);
  if (r.body != l.body) {
    if (r.body_canonical && l.body_canonical) {
      for (const std::string& pointer : JsonDifferences(r.body, l.body, 3)) {
        out.push_back({absl::StrCat("body ", pointer.empty() ? "/" : pointer),
                       DescribeBody(r.body), DescribeBody(l.body)});
      }
    } else {
      out.push_back({"body", DescribeBody(r.body), DescribeBody(l.body)});
    }
  }
  return out;
}

std::vector<Candidate> RequestMatcher::Rank(
    const std::vector<const Fingerprint*>& recorded, const Fingerprint& live,
    size_t limit) const {
  return Rank(
      recorded.size(),
      [&recorded](size_t i) -> const Fingerprint& { return *recorded[i]; },
      live, limit);
}

std::vector<Candidate> RequestMatcher::Rank(
    size_t count, absl::FunctionRef<const Fingerprint&(size_t)> recorded,
    const Fingerprint& live, size_t limit) const {
  struct Scored {
    int score;
    Candidate candidate;
  };
  // The best `limit` so far, by score then recording order.
  std::vector<Scored> best;
  best.reserve(limit + 1);
  for (size_t i = 0; i < count && limit > 0; ++i) {
    Candidate c{i, Differences(recorded(i), live)};
    int score = 0;
    for (const FieldDifference& d : c.differences) {
      score += Weight(absl::string_view(d.field).substr(0, d.field.find(' ')));
    }
    if (best.size() == limit && score >= best.back().score) continue;
    auto at =
        std::upper_bound(best.begin(), best.end(), score,
                         [](int s, const Scored& b) { return s < b.score; });
    best.insert(at, Scored{score, std::move(c)});
    if (best.size() > limit) best.pop_back();
  }
  std::vector<Candidate> out;
  out.reserve(best.size());
  for (Scored& s : best) out.push_back(std::move(s.candidate));
  return out;
}

std::vector<Candidate> RequestMatcher::Rank(
    const std::vector<const core::HttpRequest*>& recorded,
    const core::HttpRequest& live, size_t limit) const {
  std::vector<Fingerprint> prints;
  prints.reserve(recorded.size());
  for (const core::HttpRequest* r : recorded) prints.push_back(Of(*r));
  std::vector<const Fingerprint*> ptrs;
  for (const Fingerprint& f : prints) ptrs.push_back(&f);
  return Rank(ptrs, Of(live), limit);
}

}  // namespace matgto::match
