// Helpers shared by the conformance tests (conformance_test.cc,
// conformance_status_test.cc): reading the suite's JSON (see its README).
#ifndef MATGTO_CLIENTS_CPP_TESTS_CONFORMANCE_SUPPORT_H_
#define MATGTO_CLIENTS_CPP_TESTS_CONFORMANCE_SUPPORT_H_

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "matgto/options.h"

namespace matgto::conformance {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageToJsonString;

inline constexpr char kLang[] = "cpp";

inline Struct Load(const std::string& file) {
  std::string path = std::string(MATGTO_CONFORMANCE_DIR) + "/" + file;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  Struct s;
  auto st = JsonStringToMessage(ss.str(), &s);
  if (!in || !st.ok()) {
    ADD_FAILURE() << "cannot read " << path << ": " << st.ToString();
  }
  return s;
}

inline const Value& Get(const Struct& s, const std::string& key) {
  static const Value kNull;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kNull : it->second;
}

inline std::vector<Value> List(const Struct& s, const std::string& key) {
  const ListValue& l = Get(s, key).list_value();
  return {l.values().begin(), l.values().end()};
}

inline std::vector<std::string> Strings(const Value& v) {
  std::vector<std::string> out;
  for (const Value& x : v.list_value().values())
    out.push_back(x.string_value());
  return out;
}

// The skip reason for C++ in a case's "skip" object, empty when none.
inline std::string SkipReason(const Value& c) {
  return Get(Get(c.struct_value(), "skip").struct_value(), kLang)
      .string_value();
}

// A GoogleTest parameter name from a case name.
inline std::string ParamName(const ::testing::TestParamInfo<Value>& info) {
  std::string n = Get(info.param.struct_value(), "name").string_value();
  if (n.empty()) n = Get(info.param.struct_value(), "code").string_value();
  for (char& ch : n) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n + "_" + std::to_string(info.index);
}

template <typename M>
M ParseProto(const Value& v) {
  std::string json;
  EXPECT_TRUE(MessageToJsonString(v, &json).ok());
  M m;
  auto st = JsonStringToMessage(json, &m);
  EXPECT_TRUE(st.ok()) << st.ToString() << " in " << json;
  return m;
}

// The neutral option set (options.json) as the client's CassetteOptions
// builder calls (conformance_test.cc).
CassetteOptions BuildOptions(const Struct& options);

}  // namespace matgto::conformance

#endif  // MATGTO_CLIENTS_CPP_TESTS_CONFORMANCE_SUPPORT_H_
