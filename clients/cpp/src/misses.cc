// Miss explanations, cassette names from test names, the 599 body, proxy
// URLs: the pieces the test helpers share.
#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "matgto/client.h"

namespace matgto {
namespace {

constexpr size_t kMaxCassetteNameBytes = 200;

bool AllowedNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         std::string_view("._-+=@,[]").find(c) != std::string_view::npos;
}

// A field value quoted, shortened to keep a failure message readable.
std::string Clip(const std::string& v) {
  constexpr size_t kMax = 200;
  if (v.size() <= kMax) return absl::StrCat("\"", absl::CEscape(v), "\"");
  return absl::StrCat("\"", absl::CEscape(v.substr(0, kMax)), "\"… (", v.size(),
                      " bytes)");
}

}  // namespace

bool IsFailedMiss(const v1::Miss& miss) {
  return miss.reason() == "no-match" || miss.reason() == "exhausted" ||
         miss.reason() == "ws-mismatch";
}

std::vector<v1::Miss> FailedMisses(const v1::SessionInfo& session) {
  std::vector<v1::Miss> out;
  for (const v1::Miss& m : session.misses()) {
    if (IsFailedMiss(m)) out.push_back(m);
  }
  return out;
}

std::string ExplainMiss(const v1::Miss& m) {
  std::string out =
      absl::StrCat(m.method(), " ", m.url(), " (", m.reason(), ")");
  if (m.closest().empty()) {
    if (m.reason() == "no-match") out += "\n  nothing recorded is close to it";
    return out;
  }
  const v1::Candidate& c = m.closest(0);
  absl::StrAppend(&out, "\n  closest recorded #", c.interaction_index(), ": ",
                  c.method(), " ", c.url());
  for (const v1::FieldDifference& d : c.differences()) {
    absl::StrAppend(&out, "\n    ", d.field(), ": recorded ",
                    Clip(d.recorded()), ", live ", Clip(d.live()));
  }
  if (c.differences().empty() && m.reason() == "exhausted") {
    out += "\n    identical, but every recorded answer to it was already used";
  }
  if (m.closest_size() > 1) {
    absl::StrAppend(&out, "\n  (", m.closest_size() - 1, " more candidate(s))");
  }
  return out;
}

std::string ExplainMisses(const v1::SessionInfo& s) {
  std::vector<v1::Miss> failed = FailedMisses(s);
  if (failed.empty()) return {};
  std::string out =
      absl::StrCat("matgto: cassette \"", s.cassette(), "\" (session ", s.id(),
                   ", mode ", v1::Mode_Name(s.mode()), "): ", failed.size(),
                   " request(s) found no recorded answer:");
  for (size_t i = 0; i < failed.size(); ++i) {
    absl::StrAppend(
        &out, "\n", i + 1, ". ",
        absl::StrReplaceAll(ExplainMiss(failed[i]), {{"\n", "\n   "}}));
  }
  if (s.misses_size() >= 100 &&
      s.missed() > static_cast<uint64_t>(s.misses_size())) {
    absl::StrAppend(&out, "\n(the server lists the first ", s.misses_size(),
                    " of ", s.missed(), " misses)");
  }
  return out;
}

std::string CassetteName(std::string_view test_name) {
  std::vector<std::string> segs = absl::StrSplit(
      absl::string_view(test_name.data(), test_name.size()), '/');
  bool changed = false;
  for (std::string& seg : segs) {
    for (char& c : seg) {
      if (!AllowedNameChar(c)) {
        c = '_';
        changed = true;
      }
    }
    if (seg.find_first_not_of('.') == std::string::npos) {
      // "", "." and ".." are refused; a run of dots stays readable.
      seg = std::string(std::max<size_t>(seg.size(), 1), '_');
      changed = true;
    }
  }
  std::string name = absl::StrJoin(segs, "/");
  if (!changed && name.size() <= kMaxCassetteNameBytes) return name;
  uint32_t h = 2166136261u;  // FNV-1a 32, as the Go client
  for (unsigned char c : test_name) {
    h ^= c;
    h *= 16777619u;
  }
  std::string suffix = absl::StrFormat(",h%08x", h);
  if (name.size() + suffix.size() > kMaxCassetteNameBytes) {
    name.resize(kMaxCassetteNameBytes - suffix.size());
    while (absl::EndsWith(name, "/")) name.pop_back();
  }
  return name + suffix;
}

std::optional<v1::ProxyError> ParseProxyError(std::string_view body) {
  v1::ProxyError err;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(std::string(body), &err,
                                                   opts)
           .ok() ||
      err.error().empty()) {
    return std::nullopt;
  }
  return err;
}

std::string ProxyUrlFor(std::string_view proxy_address,
                        std::string_view control_address) {
  auto split = [](std::string_view hostport, std::string& host,
                  std::string& port) {
    if (!hostport.empty() && hostport[0] == '[') {
      size_t end = hostport.find(']');
      if (end == std::string_view::npos) return false;
      host = std::string(hostport.substr(1, end - 1));
      if (end + 1 >= hostport.size() || hostport[end + 1] != ':') return false;
      port = std::string(hostport.substr(end + 2));
      return true;
    }
    size_t colon = hostport.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(hostport.substr(0, colon));
    port = std::string(hostport.substr(colon + 1));
    return host.find(':') == std::string::npos;
  };
  std::string host, port;
  if (!split(proxy_address, host, port)) {
    return absl::StrCat("http://", std::string(proxy_address));
  }
  auto unspecified = [](const std::string& h) {
    return h.empty() || h == "0.0.0.0" || h == "::" ||
           h.find_first_not_of("0:") == std::string::npos;
  };
  if (unspecified(host)) {
    std::string chost, cport;
    // Both unspecified: the loopback address of the proxy's own family (an
    // IPv6-only listener is not reachable on 127.0.0.1).
    std::string loopback =
        host.find(':') != std::string::npos ? "::1" : "127.0.0.1";
    host = split(control_address, chost, cport) && !unspecified(chost)
               ? chost
               : loopback;
  }
  if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
  return absl::StrCat("http://", host, ":", port);
}

}  // namespace matgto
