#include "server/cassette/diff.h"

#include <map>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace matgto::cassette {
namespace {

using google::protobuf::RepeatedPtrField;

// Kind, method, URL: what pairs interactions (with the occurrence number).
using Key = std::tuple<std::string, std::string, std::string>;

Key KeyOf(const v1::Interaction& it) {
  if (it.has_websocket()) {
    return {"ws", it.websocket().upgrade_request().method(),
            it.websocket().upgrade_request().url()};
  }
  return {"http", it.http().request().method(), it.http().request().url()};
}

std::string Label(const Key& key, int occurrence) {
  const auto& [kind, method, url] = key;
  std::string label = kind == "ws" ? absl::StrCat("WebSocket ", url)
                                   : absl::StrCat(method, " ", url);
  if (occurrence > 0)
    absl::StrAppend(&label, " (occurrence ", occurrence + 1, ")");
  return label;
}

// (key, occurrence) of every interaction, in order.
std::vector<std::pair<Key, int>> Keys(const v1::Cassette& c) {
  std::map<Key, int> seen;
  std::vector<std::pair<Key, int>> out;
  for (const v1::Interaction& it : c.interactions()) {
    Key key = KeyOf(it);
    out.emplace_back(key, seen[key]++);
  }
  return out;
}

std::string HeaderBytes(const v1::Header& h) {
  return h.raw_value().empty() ? h.value() : h.raw_value();
}

// Lower-cased names whose values (in order) differ; "(order)" when only the
// order of the lines changed.
std::string HeaderDifferences(const RepeatedPtrField<v1::Header>& a,
                              const RepeatedPtrField<v1::Header>& b) {
  std::map<std::string, std::vector<std::string>> va, vb;
  for (const v1::Header& h : a)
    va[absl::AsciiStrToLower(h.name())].push_back(HeaderBytes(h));
  for (const v1::Header& h : b)
    vb[absl::AsciiStrToLower(h.name())].push_back(HeaderBytes(h));
  std::vector<std::string> names;
  for (const auto& [name, values] : va) {
    auto it = vb.find(name);
    if (it == vb.end() || it->second != values) names.push_back(name);
  }
  for (const auto& [name, values] : vb) {
    if (va.count(name) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (!names.empty()) return absl::StrJoin(names, ", ");
  bool same_order = a.size() == b.size();
  for (int i = 0; same_order && i < a.size(); ++i) {
    same_order = absl::AsciiStrToLower(a[i].name()) ==
                 absl::AsciiStrToLower(b[i].name());
  }
  return same_order ? "" : "(order)";
}

std::string BodyDifference(const std::string& a, const std::string& b) {
  if (a == b) return "";
  if (a.size() == b.size())
    return absl::StrCat(a.size(), " bytes, content differs");
  return absl::StrCat(a.size(), " -> ", b.size(), " bytes");
}

std::string Status(const v1::HttpResponse& r) {
  const std::string& reason =
      r.raw_reason().empty() ? r.reason() : r.raw_reason();
  return reason.empty() ? absl::StrCat(r.status())
                        : absl::StrCat(r.status(), " ", reason);
}

void DiffRequest(absl::string_view prefix, const v1::HttpRequest& a,
                 const v1::HttpRequest& b, std::vector<std::string>& out) {
  if (a.http_version() != b.http_version()) {
    out.push_back(absl::StrCat(prefix, "request version ", a.http_version(),
                               " -> ", b.http_version()));
  }
  if (std::string h = HeaderDifferences(a.headers(), b.headers()); !h.empty()) {
    out.push_back(absl::StrCat(prefix, "request headers: ", h));
  }
  if (std::string d = BodyDifference(a.body(), b.body()); !d.empty()) {
    out.push_back(absl::StrCat(prefix, "request body: ", d));
  }
}

void DiffResponse(absl::string_view prefix, const v1::HttpResponse& a,
                  const v1::HttpResponse& b, std::vector<std::string>& out) {
  if (Status(a) != Status(b)) {
    out.push_back(
        absl::StrCat(prefix, "status ", Status(a), " -> ", Status(b)));
  }
  if (std::string h = HeaderDifferences(a.headers(), b.headers()); !h.empty()) {
    out.push_back(absl::StrCat(prefix, "response headers: ", h));
  }
  if (std::string d = BodyDifference(a.body(), b.body()); !d.empty()) {
    out.push_back(absl::StrCat(prefix, "response body: ", d));
  }
}

std::vector<std::string> DiffWebSocket(const v1::WebSocketSession& a,
                                       const v1::WebSocketSession& b) {
  std::vector<std::string> out;
  DiffRequest("upgrade ", a.upgrade_request(), b.upgrade_request(), out);
  DiffResponse("upgrade ", a.upgrade_response(), b.upgrade_response(), out);
  if (a.messages_size() != b.messages_size()) {
    out.push_back(absl::StrCat("messages: ", a.messages_size(), " -> ",
                               b.messages_size()));
  }
  std::vector<std::string> differing;
  for (int i = 0; i < std::min(a.messages_size(), b.messages_size()); ++i) {
    const v1::WsMessage& ma = a.messages(i);
    const v1::WsMessage& mb = b.messages(i);
    if (ma.direction() != mb.direction() || ma.kind() != mb.kind() ||
        ma.payload() != mb.payload()) {
      differing.push_back(absl::StrCat("#", i));
    }
  }
  if (!differing.empty()) {
    out.push_back(
        absl::StrCat("messages differ: ", absl::StrJoin(differing, " ")));
  }
  auto close = [](const v1::WebSocketSession& s) {
    return s.has_close() ? absl::StrCat(s.close().code(),
                                        s.close().reason().empty() ? "" : " ",
                                        s.close().reason())
                         : std::string("none");
  };
  if (close(a) != close(b)) {
    out.push_back(absl::StrCat("close ", close(a), " -> ", close(b)));
  }
  return out;
}

std::vector<std::string> DiffPair(const v1::Interaction& a,
                                  const v1::Interaction& b) {
  if (a.has_websocket()) return DiffWebSocket(a.websocket(), b.websocket());
  std::vector<std::string> out;
  const v1::HttpExchange& ha = a.http();
  const v1::HttpExchange& hb = b.http();
  // Status first: it is what readers look for.
  std::vector<std::string> response;
  DiffResponse("", ha.response(), hb.response(), response);
  DiffRequest("", ha.request(), hb.request(), out);
  out.insert(out.begin(), response.begin(), response.end());
  return out;
}

}  // namespace

CassetteDiff DiffCassettes(const v1::Cassette& a, const v1::Cassette& b) {
  CassetteDiff diff;
  const auto keys_a = Keys(a);
  const auto keys_b = Keys(b);
  std::map<std::pair<Key, int>, int> index_b;
  for (int i = 0; i < static_cast<int>(keys_b.size()); ++i)
    index_b[keys_b[i]] = i;
  std::vector<bool> paired_b(keys_b.size(), false);

  for (int i = 0; i < static_cast<int>(keys_a.size()); ++i) {
    const auto& [key, occurrence] = keys_a[i];
    InteractionChange change{.kind = InteractionChange::Kind::kRemoved,
                             .label = Label(key, occurrence),
                             .index_a = i,
                             .differences = {}};
    auto it = index_b.find(keys_a[i]);
    if (it != index_b.end()) {
      paired_b[it->second] = true;
      change.differences =
          DiffPair(a.interactions(i), b.interactions(it->second));
      if (change.differences.empty()) {
        ++diff.unchanged;
        continue;
      }
      change.kind = InteractionChange::Kind::kChanged;
      change.index_b = it->second;
    }
    diff.changes.push_back(std::move(change));
  }
  for (int i = 0; i < static_cast<int>(keys_b.size()); ++i) {
    if (paired_b[i]) continue;
    diff.changes.push_back({.kind = InteractionChange::Kind::kAdded,
                            .label = Label(keys_b[i].first, keys_b[i].second),
                            .index_b = i,
                            .differences = {}});
  }
  return diff;
}

}  // namespace matgto::cassette
