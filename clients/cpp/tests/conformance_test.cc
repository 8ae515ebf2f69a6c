// The shared conformance suite (clients/conformance/*.json, see its
// README): parameterized GoogleTest cases over the JSON files, no server.
// A case skipped for C++ ("skip": {"cpp": reason}) is a GTEST_SKIP with the
// reason (ctest lists it as skipped; `ctest -V` prints the reason).
#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <typeindex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "conformance_support.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "matgto/client.h"
#include "matgto/options.h"
#include "re2/re2.h"

namespace matgto {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::ListValue;
using google::protobuf::Message;
using google::protobuf::Struct;
using google::protobuf::Value;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageToJsonString;

using conformance::Get;
using conformance::kLang;
using conformance::List;
using conformance::Load;
using conformance::ParamName;
using conformance::ParseProto;
using conformance::SkipReason;
using conformance::Strings;

// ---- options.json

template <typename E>
E EnumValue(const EnumDescriptor* d, const std::string& neutral,
            const std::string& prefix = "") {
  std::string name = prefix + absl::AsciiStrToUpper(neutral);
  const auto* v = d->FindValueByName(name);
  EXPECT_NE(v, nullptr) << "option value " << neutral << " is not mapped ("
                        << d->full_name() << "." << name << ")";
  return static_cast<E>(v == nullptr ? 0 : v->number());
}

std::chrono::milliseconds Ms(const Value& v) {
  return std::chrono::milliseconds(static_cast<int64_t>(v.number_value()));
}

// The neutral option set as the client's builder calls.
CassetteOptions Build(const Struct& options) {
  CassetteOptions o;
  for (const auto& [key, v] : options.fields()) {
    const std::string& s = v.string_value();
    if (key == "on_exhausted") {
      o.OnExhausted(s == "error" ? v1::EXHAUSTED_ERROR : v1::REPEAT_LAST);
    } else if (key == "repeat") {
      o.Repeat(EnumValue<v1::RepeatPolicy>(v1::RepeatPolicy_descriptor(), s));
    } else if (key == "on_miss") {
      o.OnMiss(
          EnumValue<v1::MissPolicy>(v1::MissPolicy_descriptor(), s, "MISS_"));
    } else if (key == "store_decoded") {
      if (v.bool_value()) {
        o.StoreDecoded();
      } else {
        o.StoreAsSent();
      }
    } else if (key == "ws_timing") {
      o.WsTiming(s == "fast" ? v1::AS_FAST_AS_POSSIBLE : v1::AS_RECORDED);
    } else if (key == "ws_speed") {
      o.WsSpeed(v.number_value());
    } else if (key == "stream_timing") {
      o.StreamTiming(s == "fast" ? v1::AS_FAST_AS_POSSIBLE : v1::AS_RECORDED);
    } else if (key == "stream_speed") {
      o.StreamSpeed(v.number_value());
    } else if (key == "match") {
      for (const auto& [k, m] : v.struct_value().fields()) {
        if (k == "fields") {
          std::vector<v1::MatchField> fields;
          for (const std::string& f : Strings(m)) {
            fields.push_back(
                EnumValue<v1::MatchField>(v1::MatchField_descriptor(), f));
          }
          o.MatchFields(fields);
        } else if (k == "headers") {
          o.MatchHeaders(Strings(m));
        } else if (k == "ignore_query_params") {
          o.IgnoreQueryParams(Strings(m));
        } else if (k == "query_order_insensitive") {
          if (m.bool_value()) o.QueryOrderInsensitive();
        } else if (k == "body") {
          o.MatchBody(EnumValue<v1::BodyMatch>(v1::BodyMatch_descriptor(),
                                               m.string_value(), "BODY_"));
        } else if (k == "ignore_json_pointers") {
          o.IgnoreJsonPointers(Strings(m));
        } else if (k == "ignore_form_fields") {
          o.IgnoreFormFields(Strings(m));
        } else if (k == "url_rewrites") {
          for (const Value& r : m.list_value().values()) {
            o.UrlRewrite(Get(r.struct_value(), "pattern").string_value(),
                         Get(r.struct_value(), "replacement").string_value());
          }
        } else {
          ADD_FAILURE() << "option match." << k << " is not mapped";
        }
      }
    } else if (key == "redact") {
      for (const auto& [k, r] : v.struct_value().fields()) {
        if (k == "headers") {
          o.RedactHeaders(Strings(r));
        } else if (k == "query_params") {
          o.RedactQueryParams(Strings(r));
        } else if (k == "json_pointers") {
          o.RedactJsonPointers(Strings(r));
        } else if (k == "form_fields") {
          o.RedactFormFields(Strings(r));
        } else if (k == "body_patterns") {
          o.RedactBodyPatterns(Strings(r));
        } else if (k == "disable_defaults") {
          if (r.bool_value()) o.DisableDefaultRedaction();
        } else if (k == "json_keys") {
          o.RedactJsonKeys(Strings(r));
        } else if (k == "on_unredactable") {
          o.OnUnredactable(EnumValue<v1::UnredactablePolicy>(
              v1::UnredactablePolicy_descriptor(), r.string_value(),
              "UNREDACTABLE_"));
        } else {
          ADD_FAILURE() << "option redact." << k << " is not mapped";
        }
      }
    } else if (key == "latency") {
      const Struct& l = v.struct_value();
      if (l.fields().contains("fast")) {
        o.LatencyFast();
      } else if (l.fields().contains("as_recorded")) {
        const Value& scale = Get(Get(l, "as_recorded").struct_value(), "scale");
        o.LatencyAsRecorded(scale.has_number_value() ? scale.number_value()
                                                     : 1.0);
      } else if (l.fields().contains("fixed")) {
        const Struct& f = Get(l, "fixed").struct_value();
        o.LatencyFixed(Ms(Get(f, "delay_ms")), Ms(Get(f, "jitter_ms")));
      } else {
        ADD_FAILURE() << "latency option is not mapped";
      }
    } else {
      ADD_FAILURE() << "option " << key << " is not mapped";
    }
  }
  return o;
}

// What the request carries (client.cc: options only when some are set).
v1::CassetteOptions Sent(const CassetteOptions& o) {
  return o.empty() ? v1::CassetteOptions() : o.proto();
}

class OptionsTest : public ::testing::TestWithParam<Value> {};

TEST_P(OptionsTest, SendsExactly) {
  const Struct& c = GetParam().struct_value();
  if (std::string why = SkipReason(GetParam()); !why.empty()) {
    GTEST_SKIP() << "conformance: SKIP: " << why;
  }
  v1::CassetteOptions want = ParseProto<v1::CassetteOptions>(Get(c, "expect"));
  v1::CassetteOptions got = Sent(Build(Get(c, "options").struct_value()));
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(want, got)) << diff;
}

INSTANTIATE_TEST_SUITE_P(Conformance, OptionsTest,
                         ::testing::ValuesIn(List(Load("options.json"),
                                                  "cases")),
                         ParamName);

TEST(ConformanceTest, Modes) {
  for (const Value& m : List(Load("options.json"), "modes")) {
    const Struct& c = m.struct_value();
    v1::Mode mode = EnumValue<v1::Mode>(v1::Mode_descriptor(),
                                        Get(c, "mode").string_value());
    EXPECT_EQ(v1::Mode_Name(mode), Get(c, "expect").string_value());
  }
}

// ---- completeness against the descriptors

void Walk(const Descriptor* d, std::set<std::string>* fields,
          std::set<const EnumDescriptor*>* enums,
          std::set<const Descriptor*>* seen) {
  if (!seen->insert(d).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    fields->insert(f->full_name());
    if (f->message_type() != nullptr &&
        f->message_type()->file()->package() != "google.protobuf") {
      Walk(f->message_type(), fields, enums, seen);
    } else if (f->enum_type() != nullptr) {
      enums->insert(f->enum_type());
    }
  }
}

void Covered(const Message& m, std::set<std::string>* fields,
             std::set<std::string>* values) {
  std::vector<const FieldDescriptor*> set;
  m.GetReflection()->ListFields(m, &set);
  for (const FieldDescriptor* f : set) {
    fields->insert(f->full_name());
    const auto* r = m.GetReflection();
    int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Covered(f->is_repeated() ? r->GetRepeatedMessage(m, f, i)
                                 : r->GetMessage(m, f),
                fields, values);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
        const auto* v =
            f->is_repeated() ? r->GetRepeatedEnum(m, f, i) : r->GetEnum(m, f);
        values->insert(v->type()->full_name() + "." + v->name());
      }
    }
  }
}

TEST(ConformanceTest, EveryProtoFieldAndEnumValueHasACase) {
  Struct options = Load("options.json");
  Struct unmapped = Load("unmapped.json");
  std::set<std::string> fields, covered_fields, covered_values;
  std::set<const EnumDescriptor*> enums;
  std::set<const Descriptor*> seen;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  const Struct& roots = Get(unmapped, "roots").struct_value();
  for (const std::string& name : Strings(Get(roots, "messages"))) {
    const Descriptor* d = pool->FindMessageTypeByName(name);
    ASSERT_NE(d, nullptr) << name;
    Walk(d, &fields, &enums, &seen);
  }
  for (const std::string& name : Strings(Get(roots, "enums"))) {
    const EnumDescriptor* e = pool->FindEnumTypeByName(name);
    ASSERT_NE(e, nullptr) << name;
    enums.insert(e);
  }
  for (const Value& c : List(options, "cases")) {
    Covered(ParseProto<v1::CassetteOptions>(Get(c.struct_value(), "expect")),
            &covered_fields, &covered_values);
  }
  for (const Value& m : List(options, "modes")) {
    covered_values.insert("matgto.v1.Mode." +
                          Get(m.struct_value(), "expect").string_value());
  }
  Struct status = Load("status.json");
  for (const Value& c : List(status, "status")) {
    Covered(
        ParseProto<v1::GetStatusResponse>(Get(c.struct_value(), "response")),
        &covered_fields, &covered_values);
  }
  for (const Value& c : List(status, "summary")) {
    Covered(ParseProto<v1::SessionSummary>(Get(c.struct_value(), "response")),
            &covered_fields, &covered_values);
  }
  for (const Value& c : List(Load("sessions.json"), "cases")) {
    const std::string& rpc = Get(c.struct_value(), "rpc").string_value();
    const Value& expect = Get(c.struct_value(), "expect");
    if (rpc == "StartRecording") {
      Covered(ParseProto<v1::StartRecordingRequest>(expect), &covered_fields,
              &covered_values);
    } else if (rpc == "Replay") {
      Covered(ParseProto<v1::ReplayRequest>(expect), &covered_fields,
              &covered_values);
    } else {
      Covered(ParseProto<v1::UseCassetteRequest>(expect), &covered_fields,
              &covered_values);
    }
  }
  for (const Value& c : List(Load("faults.json"), "cases")) {
    Covered(ParseProto<v1::Fault>(Get(c.struct_value(), "expect")),
            &covered_fields, &covered_values);
  }
  const Struct& skip_fields = Get(unmapped, "fields").struct_value();
  const Struct& skip_values = Get(unmapped, "enum_values").struct_value();
  std::vector<std::string> missing;
  for (const std::string& f : fields) {
    if (!covered_fields.contains(f) && !skip_fields.fields().contains(f)) {
      missing.push_back("field " + f);
    }
  }
  for (const EnumDescriptor* e : enums) {
    for (int i = 0; i < e->value_count(); ++i) {
      if (e->value(i)->number() == 0) continue;
      std::string v = e->full_name() + "." + e->value(i)->name();
      if (!covered_values.contains(v) && !skip_values.fields().contains(v)) {
        missing.push_back("enum value " + v);
      }
    }
  }
  EXPECT_TRUE(missing.empty())
      << "no case in options.json, sessions.json, status.json or faults.json "
         "(nor an unmapped.json entry) covers: "
      << absl::StrJoin(missing, ", ");
}

// ---- errors.json

const std::map<std::string, std::type_index>& ErrorTypes() {
  static const auto* m = new std::map<std::string, std::type_index>{
      {"matgto::CassetteNotFound", typeid(CassetteNotFound)},
      {"matgto::SessionNotFound", typeid(SessionNotFound)},
      {"matgto::FaultNotFound", typeid(FaultNotFound)},
      {"matgto::InvalidArgument", typeid(InvalidArgument)},
      {"matgto::FailedPrecondition", typeid(FailedPrecondition)},
      {"matgto::CorruptCassette", typeid(CorruptCassette)},
      {"matgto::TooManySessions", typeid(TooManySessions)},
      {"matgto::Unauthenticated", typeid(Unauthenticated)},
      {"matgto::PermissionDenied", typeid(PermissionDenied)},
      {"matgto::Unavailable", typeid(Unavailable)},
      {"matgto::Unimplemented", typeid(Unimplemented)},
      {"matgto::DeadlineExceeded", typeid(DeadlineExceeded)},
      {"matgto::Error", typeid(Error)},
  };
  return *m;
}

absl::StatusCode CodeByName(const std::string& name) {
  for (int c = 0; c <= 16; ++c) {
    if (CodeName(static_cast<absl::StatusCode>(c)) == name) {
      return static_cast<absl::StatusCode>(c);
    }
  }
  ADD_FAILURE() << "unknown gRPC code " << name;
  return absl::StatusCode::kUnknown;
}

class ErrorsTest : public ::testing::TestWithParam<Value> {};

TEST_P(ErrorsTest, MapsToTheKind) {
  Struct file = Load("errors.json");
  const Struct& c = GetParam().struct_value();
  const std::string& kind = Get(c, "kind").string_value();
  const Value& type =
      Get(Get(Get(file, "kinds").struct_value(), kLang).struct_value(), kind);
  if (type.has_struct_value()) {
    GTEST_SKIP() << "conformance: SKIP: "
                 << Get(type.struct_value(), "skip").string_value();
  }
  auto want = ErrorTypes().find(type.string_value());
  ASSERT_NE(want, ErrorTypes().end())
      << "errors.json kinds.cpp." << kind << " = \"" << type.string_value()
      << "\" names no matgto:: error type";
  // C++ tells the NOT_FOUND kinds apart by the server's wording
  // (errors.cc), so those cases carry the server's message for them.
  std::string message = Get(file, "message").string_value();
  const std::string& about = Get(c, "about").string_value();
  if (about == "session") message = "no open session has id s-0123456789abcdef";
  if (about == "fault") message = "this session has no fault rule f9";
  absl::StatusCode code = CodeByName(Get(c, "code").string_value());
  try {
    ThrowError("Conformance", code, message);
  } catch (const Error& e) {
    EXPECT_EQ(std::type_index(typeid(e)), want->second)
        << "got " << typeid(e).name() << ", want " << type.string_value();
    EXPECT_EQ(e.code(), code);
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Conformance, ErrorsTest,
                         ::testing::ValuesIn(List(Load("errors.json"),
                                                  "cases")),
                         ParamName);

TEST(ConformanceTest, EveryGrpcCodeHasAnErrorCase) {
  std::set<std::string> codes;
  for (const Value& c : List(Load("errors.json"), "cases")) {
    codes.insert(Get(c.struct_value(), "code").string_value());
  }
  for (int c = 1; c <= 16; ++c) {
    std::string name(CodeName(static_cast<absl::StatusCode>(c)));
    EXPECT_TRUE(codes.contains(name)) << "errors.json has no case for " << name;
  }
}

// ---- names.json

TEST(ConformanceTest, Names) {
  Struct file = Load("names.json");
  const RE2 segment(Get(file, "segment").string_value());
  ASSERT_TRUE(segment.ok()) << segment.error();
  size_t max_bytes = static_cast<size_t>(Get(file, "max_bytes").number_value());
  for (const std::string& name : Strings(Get(file, "valid"))) {
    EXPECT_EQ(CassetteName(name), name);
  }
  std::string distinct_skip =
      Get(Get(file, "distinct_skip").struct_value(), kLang).string_value();
  std::set<std::string> outputs;
  for (const Value& c : List(file, "invalid")) {
    if (std::string why = SkipReason(c); !why.empty()) {
      std::cout << "conformance: SKIP name case: " << why << "\n";
      continue;
    }
    const std::string& in = Get(c.struct_value(), "name").string_value();
    std::string out = CassetteName(in);
    EXPECT_NE(out, in);
    EXPECT_LE(out.size(), max_bytes) << out;
    for (absl::string_view part : absl::StrSplit(out, '/')) {
      EXPECT_TRUE(
          RE2::FullMatch(re2::StringPiece(part.data(), part.size()), segment))
          << out << " part " << part;
      EXPECT_FALSE(std::all_of(part.begin(), part.end(), [](char ch) {
        return ch == '.';
      })) << out;
    }
    if (distinct_skip.empty()) {
      EXPECT_TRUE(outputs.insert(out).second) << "two names give " << out;
    }
  }
}

// ---- proxy_addresses.json

TEST(ConformanceTest, ProxyAddresses) {
  for (const Value& v : List(Load("proxy_addresses.json"), "cases")) {
    const Struct& c = v.struct_value();
    if (std::string why = SkipReason(v); !why.empty()) {
      std::cout << "conformance: SKIP proxy address case: " << why << "\n";
      continue;
    }
    EXPECT_EQ(ProxyUrlFor(Get(c, "proxy").string_value(),
                          Get(c, "control").string_value()),
              Get(c, "url").string_value())
        << "proxy " << Get(c, "proxy").string_value() << " via "
        << Get(c, "control").string_value();
  }
}

// status.json and faults.json: conformance_status_test.cc.

}  // namespace

namespace conformance {
CassetteOptions BuildOptions(const Struct& options) { return Build(options); }
}  // namespace conformance

}  // namespace matgto
