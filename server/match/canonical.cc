#include "server/match/canonical.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace matgto::match {
namespace {

namespace json = boost::json;

// RFC 6901 unescaping of one reference token.
std::string Unescape(absl::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

std::string Escape(absl::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

void RemovePointer(json::value& root, absl::string_view pointer) {
  if (pointer.empty() || pointer.front() != '/') return;
  std::vector<std::string> tokens;
  for (absl::string_view t : absl::StrSplit(pointer.substr(1), '/')) {
    tokens.push_back(Unescape(t));
  }
  json::value* node = &root;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (auto* obj = node->if_object()) {
      auto it = obj->find(tokens[i]);
      if (it == obj->end()) return;
      node = &it->value();
    } else if (auto* arr = node->if_array()) {
      char* end = nullptr;
      unsigned long idx = std::strtoul(tokens[i].c_str(), &end, 10);
      if (end == tokens[i].c_str() || *end != '\0' || idx >= arr->size())
        return;
      node = &(*arr)[idx];
    } else {
      return;
    }
  }
  const std::string& last = tokens.back();
  if (auto* obj = node->if_object()) {
    obj->erase(last);
  } else if (auto* arr = node->if_array()) {
    char* end = nullptr;
    unsigned long idx = std::strtoul(last.c_str(), &end, 10);
    if (end != last.c_str() && *end == '\0' && idx < arr->size()) {
      arr->erase(arr->begin() + static_cast<long>(idx));
    }
  }
}

void Canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      const json::object& obj = v.get_object();
      std::vector<const json::key_value_pair*> items;
      for (const auto& kv : obj) items.push_back(&kv);
      std::sort(items.begin(), items.end(),
                [](auto* a, auto* b) { return a->key() < b->key(); });
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += json::serialize(json::value(items[i]->key()));
        out += ':';
        Canonical(items[i]->value(), out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        Canonical(e, out);
      }
      out += ']';
      return;
    }
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      // 1, 1.0 and 1e0 are the same number.
      const double d = v.is_double()  ? v.get_double()
                       : v.is_int64() ? static_cast<double>(v.get_int64())
                                      : static_cast<double>(v.get_uint64());
      char buf[32];
      if (std::floor(d) == d && std::fabs(d) < 9.007199254740992e15) {
        std::snprintf(buf, sizeof buf, "%.0f", d);
      } else {
        std::snprintf(buf, sizeof buf, "%.17g", d);
      }
      out += buf;
      return;
    }
    default:
      out += json::serialize(v);
      return;
  }
}

void Diff(const json::value& a, const json::value& b, const std::string& path,
          std::vector<std::string>& out, size_t limit) {
  if (out.size() >= limit) return;
  if (a.is_object() && b.is_object()) {
    const json::object& oa = a.get_object();
    const json::object& ob = b.get_object();
    std::vector<std::string> keys;
    for (const auto& kv : oa) keys.emplace_back(kv.key());
    for (const auto& kv : ob) {
      if (!oa.contains(kv.key())) keys.emplace_back(kv.key());
    }
    std::sort(keys.begin(), keys.end());
    for (const std::string& k : keys) {
      const std::string p = absl::StrCat(path, "/", Escape(k));
      auto ia = oa.find(k);
      auto ib = ob.find(k);
      if (ia == oa.end() || ib == ob.end()) {
        if (out.size() < limit) out.push_back(p);
        continue;
      }
      Diff(ia->value(), ib->value(), p, out, limit);
    }
    return;
  }
  if (a.is_array() && b.is_array() &&
      a.get_array().size() == b.get_array().size()) {
    for (size_t i = 0; i < a.get_array().size(); ++i) {
      Diff(a.get_array()[i], b.get_array()[i], absl::StrCat(path, "/", i), out,
           limit);
    }
    return;
  }
  std::string ca, cb;
  Canonical(a, ca);
  Canonical(b, cb);
  if (ca != cb && out.size() < limit) out.push_back(path);
}

}  // namespace

std::optional<std::string> CanonicalJson(
    absl::string_view text, const std::vector<std::string>& ignored_pointers) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return std::nullopt;
  for (const std::string& p : ignored_pointers) RemovePointer(v, p);
  std::string out;
  Canonical(v, out);
  return out;
}

std::vector<std::string> JsonDifferences(absl::string_view a,
                                         absl::string_view b, size_t limit) {
  boost::system::error_code ea, eb;
  json::value va = json::parse(json::string_view(a.data(), a.size()), ea);
  json::value vb = json::parse(json::string_view(b.data(), b.size()), eb);
  if (ea || eb) return {""};
  std::vector<std::string> out;
  Diff(va, vb, "", out, limit);
  return out;
}

std::string PercentDecode(absl::string_view s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 &&
        hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseParams(
    absl::string_view encoded, bool plus_is_space) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view part :
       absl::StrSplit(encoded, '&', absl::SkipEmpty())) {
    size_t eq = part.find('=');
    out.emplace_back(PercentDecode(part.substr(0, eq), plus_is_space),
                     eq == absl::string_view::npos
                         ? std::string()
                         : PercentDecode(part.substr(eq + 1), plus_is_space));
  }
  return out;
}

std::string CanonicalParams(absl::string_view encoded, bool plus_is_space,
                            const std::vector<std::string>& ignored,
                            bool sorted) {
  auto params = ParseParams(encoded, plus_is_space);
  params.erase(std::remove_if(params.begin(), params.end(),
                              [&](const auto& p) {
                                return std::find(ignored.begin(), ignored.end(),
                                                 p.first) != ignored.end();
                              }),
               params.end());
  if (sorted) std::stable_sort(params.begin(), params.end());
  std::vector<std::string> lines;
  for (const auto& [k, v] : params) lines.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(lines, "&");
}

}  // namespace matgto::match
