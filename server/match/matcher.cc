#include "server/match/matcher.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "server/core/url.h"
#include "server/core/utf8.h"

namespace matgto::match {
namespace {

int Weight(const std::string& field) {
  if (field == "method" || field == "host" || field == "scheme") return 8;
  if (field == "port") return 6;
  if (field == "path") return 4;
  if (field == "query") return 2;
  return 1;  // body
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

}  // namespace

std::string DescribeBody(absl::string_view body, size_t max_chars) {
  if (body.empty()) return "<empty>";
  if (!IsPrintableUtf8(body)) {
    return absl::StrCat("<", body.size(), " bytes, binary>");
  }
  if (body.size() <= max_chars) return std::string(body);
  // Cut on a character boundary.
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) >> 6) == 0x2) --cut;
  return absl::StrCat(body.substr(0, cut), "... (", body.size(), " bytes)");
}

uint64_t RequestMatcher::Key(const core::HttpRequest& request) const {
  return absl::HashOf(rules_.method ? absl::string_view(request.method) : "",
                      rules_.url ? absl::string_view(request.url) : "",
                      rules_.body ? absl::string_view(request.body) : "");
}

bool RequestMatcher::Matches(const core::HttpRequest& recorded,
                             const core::HttpRequest& live) const {
  return (!rules_.method || recorded.method == live.method) &&
         (!rules_.url || recorded.url == live.url) &&
         (!rules_.body || recorded.body == live.body);
}

std::vector<FieldDifference> RequestMatcher::Differences(
    const core::HttpRequest& recorded, const core::HttpRequest& live) const {
  std::vector<FieldDifference> out;
  if (rules_.method && recorded.method != live.method) {
    out.push_back({"method", recorded.method, live.method});
  }
  if (rules_.url && recorded.url != live.url) {
    auto r = core::ParseAbsoluteUrl(recorded.url);
    auto l = core::ParseAbsoluteUrl(live.url);
    if (!r.ok() || !l.ok()) {
      out.push_back({"url", recorded.url, live.url});
    } else {
      if (r->scheme != l->scheme) out.push_back({"scheme", r->scheme, l->scheme});
      if (r->host != l->host) out.push_back({"host", r->host, l->host});
      if (r->port != l->port) {
        out.push_back({"port", absl::StrCat(r->port), absl::StrCat(l->port)});
      }
      if (r->path != l->path) out.push_back({"path", r->path, l->path});
      if (r->has_query != l->has_query || r->query != l->query) {
        out.push_back({"query", r->query, l->query});
      }
    }
  }
  if (rules_.body && recorded.body != live.body) {
    out.push_back({"body", DescribeBody(recorded.body), DescribeBody(live.body)});
  }
  return out;
}

std::vector<Candidate> RequestMatcher::Rank(
    const std::vector<const core::HttpRequest*>& recorded,
    const core::HttpRequest& live, size_t limit) const {
  struct Scored {
    int score;
    Candidate candidate;
  };
  std::vector<Scored> scored;
  scored.reserve(recorded.size());
  for (size_t i = 0; i < recorded.size(); ++i) {
    Candidate c{i, Differences(*recorded[i], live)};
    int score = 0;
    for (const FieldDifference& d : c.differences) score += Weight(d.field);
    scored.push_back({score, std::move(c)});
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const Scored& a, const Scored& b) { return a.score < b.score; });
  std::vector<Candidate> out;
  for (size_t i = 0; i < scored.size() && i < limit; ++i) {
    out.push_back(std::move(scored[i].candidate));
  }
  return out;
}

}  // namespace matgto::match
