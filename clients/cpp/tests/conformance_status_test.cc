// The shared conformance suite, part two (see its README): fault rules
// built with matgto::Fault and decoded (faults.json), and the status and
// summary values the client exposes (status.json). The C++ client hands out
// the generated messages (Client::Status, Session::Stop, AddFaults), with
// FailedMisses as the test helper's rule for misses that fail a test.
#include <chrono>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "conformance_support.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "matgto/client.h"
#include "matgto/options.h"

namespace matgto {
namespace {

using conformance::Get;
using conformance::List;
using conformance::Load;
using conformance::ParamName;
using conformance::ParseProto;
using conformance::SkipReason;
using conformance::Strings;
using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;

// ---- neutral values

Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}
Value Num(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
Value Arr(const std::vector<Value>& items) {
  Value v;
  v.mutable_list_value();  // an empty list is still a list
  for (const Value& x : items) *v.mutable_list_value()->add_values() = x;
  return v;
}
Value Obj(std::vector<std::pair<std::string, Value>> fields) {
  Value v;
  v.mutable_struct_value();
  for (auto& [k, x] : fields)
    (*v.mutable_struct_value()->mutable_fields())[k] = x;
  return v;
}
template <typename C, typename F>
Value ArrOf(const C& items, F f) {
  std::vector<Value> out;
  for (const auto& x : items) out.push_back(f(x));
  return Arr(out);
}
Value Ms(const google::protobuf::Duration& d) {
  return Num(static_cast<double>(TimeUtil::DurationToMilliseconds(d)));
}
Value Ms(const google::protobuf::Timestamp& t) {
  return Num(static_cast<double>(TimeUtil::TimestampToMilliseconds(t)));
}
std::chrono::milliseconds MsOf(const Value& v) {
  return std::chrono::milliseconds(static_cast<int64_t>(v.number_value()));
}

// Every value `want` names equals the client's (objects: the keys named;
// lists: every item).
void ExpectSubset(const Value& want, const Value& got,
                  const std::string& path) {
  if (want.has_struct_value()) {
    ASSERT_TRUE(got.has_struct_value()) << path << ": want an object";
    for (const auto& [k, w] : want.struct_value().fields()) {
      auto it = got.struct_value().fields().find(k);
      if (it == got.struct_value().fields().end()) {
        ADD_FAILURE() << "conformance: " << path << "." << k
                      << " is not mapped (the client exposes no such value)";
        continue;
      }
      ExpectSubset(w, it->second, path + "." + k);
    }
  } else if (want.has_list_value()) {
    ASSERT_TRUE(got.has_list_value()) << path << ": want a list";
    ASSERT_EQ(got.list_value().values_size(), want.list_value().values_size())
        << path;
    for (int i = 0; i < want.list_value().values_size(); ++i) {
      ExpectSubset(want.list_value().values(i), got.list_value().values(i),
                   path + "[" + std::to_string(i) + "]");
    }
  } else {
    EXPECT_TRUE(MessageDifferencer::Equals(want, got))
        << path << ": got " << got.ShortDebugString() << " want "
        << want.ShortDebugString();
  }
}

// ---- faults.json

// The neutral fault as the C++ builder: Fault::Status(503, headers, body)
// .FirstN(2) and so on.
Fault BuildFault(const Struct& n) {
  auto has = [&](const char* k) { return n.fields().contains(k); };
  Fault f = Fault::Hang();
  if (has("status")) {
    std::vector<std::pair<std::string, std::string>> headers;
    for (const Value& pair : Get(n, "headers").list_value().values()) {
      std::vector<std::string> p = Strings(pair);
      headers.emplace_back(p[0], p[1]);
    }
    f = Fault::Status(static_cast<uint32_t>(Get(n, "status").number_value()),
                      headers, Get(n, "body").string_value());
  } else if (has("delay_ms")) {
    f = Fault::Delay(MsOf(Get(n, "delay_ms")));
  } else if (has("reset")) {
    v1::ResetFault::When when{};
    EXPECT_TRUE(v1::ResetFault::When_Parse(
        absl::AsciiStrToUpper(Get(n, "reset").string_value()), &when));
    f = Fault::Reset(when);
  } else if (has("bandwidth")) {
    f = Fault::Bandwidth(
        static_cast<uint64_t>(Get(n, "bandwidth").number_value()));
  } else if (has("ws_drop_after") || has("ws_delay_ms")) {
    f = Fault::WebSocket(
        static_cast<uint32_t>(Get(n, "ws_drop_after").number_value()),
        MsOf(Get(n, "ws_delay_ms")));
  } else {
    EXPECT_TRUE(has("hang")) << "conformance: no fault action";
  }
  for (const auto& [key, v] : n.fields()) {
    if (key == "method") {
      f.Method(v.string_value());
    } else if (key == "url") {
      f.Url(v.string_value());
    } else if (key == "probability") {
      f.Probability(v.number_value());
    } else if (key == "every_nth") {
      f.EveryNth(static_cast<uint32_t>(v.number_value()));
    } else if (key == "first_n") {
      f.FirstN(static_cast<uint32_t>(v.number_value()));
    } else if (key != "status" && key != "headers" && key != "body" &&
               key != "delay_ms" && key != "hang" && key != "reset" &&
               key != "bandwidth" && key != "ws_drop_after" &&
               key != "ws_delay_ms" && key != "id" && key != "applied") {
      ADD_FAILURE() << "conformance: fault key " << key
                    << " is not mapped to matgto::Fault";
    }
  }
  return f;
}

// What the client exposes about a rule the server returned (the generated
// message), in the neutral form (defaults left out).
Value FaultNeutral(const v1::Fault& f) {
  std::vector<std::pair<std::string, Value>> o;
  if (!f.id().empty()) o.emplace_back("id", Str(f.id()));
  if (!f.method().empty()) o.emplace_back("method", Str(f.method()));
  if (!f.url_pattern().empty()) o.emplace_back("url", Str(f.url_pattern()));
  if (f.applied() != 0) o.emplace_back("applied", Num(f.applied()));
  if (f.has_probability()) o.emplace_back("probability", Num(f.probability()));
  if (f.has_every_nth()) o.emplace_back("every_nth", Num(f.every_nth()));
  if (f.has_first_n()) o.emplace_back("first_n", Num(f.first_n()));
  if (f.has_status()) {
    o.emplace_back("status", Num(f.status().code()));
    if (f.status().headers_size() > 0) {
      o.emplace_back("headers",
                     ArrOf(f.status().headers(), [](const v1::Header& h) {
                       return Arr({Str(h.name()), Str(h.value())});
                     }));
    }
    if (!f.status().body().empty())
      o.emplace_back("body", Str(f.status().body()));
  } else if (f.has_delay()) {
    o.emplace_back("delay_ms", Ms(f.delay()));
  } else if (f.has_hang()) {
    o.emplace_back("hang", Bool(true));
  } else if (f.has_reset()) {
    o.emplace_back("reset", Str(absl::AsciiStrToLower(
                                v1::ResetFault::When_Name(f.reset().when()))));
  } else if (f.has_bandwidth_bytes_per_second()) {
    o.emplace_back("bandwidth", Num(f.bandwidth_bytes_per_second()));
  } else if (f.has_websocket()) {
    if (f.websocket().drop_after_messages() != 0) {
      o.emplace_back("ws_drop_after", Num(f.websocket().drop_after_messages()));
    }
    if (f.websocket().has_message_delay()) {
      o.emplace_back("ws_delay_ms", Ms(f.websocket().message_delay()));
    }
  }
  return Obj(std::move(o));
}

class FaultsTest : public ::testing::TestWithParam<Value> {};

TEST_P(FaultsTest, BuiltAndDecoded) {
  const Struct& c = GetParam().struct_value();
  if (std::string why = SkipReason(GetParam()); !why.empty()) {
    GTEST_SKIP() << "conformance: SKIP: " << why;
  }
  v1::Fault want = ParseProto<v1::Fault>(Get(c, "expect"));
  // Decoded as the server returns it (AddFaults, SessionInfo.faults).
  EXPECT_TRUE(MessageDifferencer::Equals(FaultNeutral(want), Get(c, "fault")))
      << "decoded " << FaultNeutral(want).ShortDebugString() << "\nwant    "
      << Get(c, "fault").ShortDebugString();
  // Built and sent (AddFaults sends Fault::proto()).
  want.clear_id();
  want.clear_applied();
  v1::Fault sent = BuildFault(Get(c, "fault").struct_value()).proto();
  EXPECT_TRUE(MessageDifferencer::Equals(sent, want))
      << "sent " << sent.ShortDebugString() << "\nwant "
      << want.ShortDebugString();
}

INSTANTIATE_TEST_SUITE_P(Conformance, FaultsTest,
                         ::testing::ValuesIn(List(Load("faults.json"),
                                                  "cases")),
                         ParamName);

// ---- sessions.json: what Client::Record/Replay/Use send (UseCassette only;
// the StartRecording and Replay cases are skipped with why).

TEST(ConformanceTest, Sessions) {
  for (const Value& v : List(Load("sessions.json"), "cases")) {
    const Struct& c = v.struct_value();
    SCOPED_TRACE(Get(c, "name").string_value());
    if (std::string why = SkipReason(v); !why.empty()) {
      std::cout << "conformance: SKIP " << Get(c, "name").string_value() << ": "
                << why << "\n";
      continue;
    }
    ASSERT_EQ(Get(c, "rpc").string_value(), "UseCassette");
    SessionOptions o;
    o.lease = {};  // only what the case says
    for (const auto& [key, x] : Get(c, "session").struct_value().fields()) {
      if (key == "lease_ms") {
        o.lease = MsOf(x);
      } else if (key == "owner") {
        o.owner = x.string_value();
      } else if (key == "id") {
        o.session = x.string_value();
      } else if (key !=
                 "new_session") {  // new: what Use does without a session
        ADD_FAILURE() << "conformance: session key " << key
                      << " is not mapped to matgto::SessionOptions";
      }
    }
    v1::Mode mode{};
    ASSERT_TRUE(v1::Mode_Parse(
        absl::AsciiStrToUpper(Get(c, "mode").string_value()), &mode));
    o.mode = mode;
    o.cassette = conformance::BuildOptions(Get(c, "options").struct_value());
    v1::UseCassetteRequest sent =
        OpenSessionRequest(Get(c, "cassette").string_value(), o.mode, o);
    v1::UseCassetteRequest want =
        ParseProto<v1::UseCassetteRequest>(Get(c, "expect"));
    EXPECT_TRUE(MessageDifferencer::Equals(sent, want))
        << "sent " << sent.ShortDebugString() << "\nwant "
        << want.ShortDebugString();
  }
}

// ---- status.json

Value SessionNeutral(const v1::SessionInfo& s) {
  std::string json;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(s.options(), &json).ok());
  Value options;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &options).ok());
  auto miss = [](const v1::Miss& m) {
    return Obj(
        {{"method", Str(m.method())},
         {"url", Str(m.url())},
         {"reason", Str(m.reason())},
         {"closest", ArrOf(m.closest(), [](const v1::Candidate& c) {
            return Obj(
                {{"interaction_index", Num(c.interaction_index())},
                 {"method", Str(c.method())},
                 {"url", Str(c.url())},
                 {"differences",
                  ArrOf(c.differences(), [](const v1::FieldDifference& d) {
                    return Obj({{"field", Str(d.field())},
                                {"recorded", Str(d.recorded())},
                                {"live", Str(d.live())}});
                  })}});
          })}});
  };
  return Obj({{"cassette", Str(s.cassette())},
              {"mode", Str(v1::Mode_Name(s.mode()))},
              {"requested_mode", Str(v1::Mode_Name(s.requested_mode()))},
              {"recorded", Num(s.recorded())},
              {"replayed", Num(s.replayed())},
              {"missed", Num(s.missed())},
              {"passed_through", Num(s.passed_through())},
              {"interactions", Num(s.interactions())},
              {"options", options},
              {"misses", ArrOf(s.misses(), miss)},
              {"id", Str(s.id())},
              {"proxy_address", Str(s.proxy_address())},
              {"proxy_url", Str(s.proxy_url())},
              {"owner", Str(s.owner())},
              {"opened_at", Ms(s.opened_at())},
              {"age", Ms(s.age())},
              {"lease", Ms(s.lease())},
              {"lease_expires_at", Ms(s.lease_expires_at())},
              {"faults", ArrOf(s.faults(), FaultNeutral)},
              {"fault_seed", Num(static_cast<double>(s.fault_seed()))}});
}

Value SummaryNeutral(const v1::SessionSummary& s) {
  auto str = [](const std::string& x) { return Str(x); };
  auto num = [](uint64_t x) { return Num(static_cast<double>(x)); };
  return Obj({{"session", SessionNeutral(s.session())},
              {"saved_path", Str(s.saved_path())},
              {"unused_interactions", ArrOf(s.unused_interactions(), num)},
              {"end_reason", Str(s.end_reason())},
              {"ended_at", Ms(s.ended_at())},
              {"save_error", Str(s.save_error())},
              {"warnings", ArrOf(s.warnings(), str)},
              {"failing_misses",
               Num(static_cast<double>(FailedMisses(s.session()).size()))}});
}

Value StatusNeutral(const v1::GetStatusResponse& st) {
  auto str = [](const std::string& x) { return Str(x); };
  return Obj(
      {{"version", Str(st.version())},
       {"proxy_address", Str(st.proxy_address())},
       {"control_address", Str(st.control_address())},
       {"cassette_dir", Str(st.cassette_dir())},
       {"default_mode", Str(v1::Mode_Name(st.default_mode()))},
       {"session", SessionNeutral(st.session())},
       {"uptime", Ms(st.uptime())},
       {"api_version", Num(st.api_version())},
       {"tls",
        Obj({{"ca_certificate_path", Str(st.tls().ca_certificate_path())},
             {"no_intercept", ArrOf(st.tls().no_intercept(), str)},
             {"insecure_upstream", Bool(st.tls().insecure_upstream())},
             {"upstream_ca_file", Str(st.tls().upstream_ca_file())}})},
       {"reverse_upstream", Str(st.reverse_upstream())},
       {"sessions", ArrOf(st.sessions(), SessionNeutral)},
       {"ended_sessions", ArrOf(st.ended_sessions(), SummaryNeutral)},
       {"max_sessions", Num(st.max_sessions())}});
}

// Each case of `section` in status.json: its `response` decoded as `M`,
// then made neutral, must hold what `expect` says.
template <class M, class Neutral>
void CheckDecoding(const std::string& section, Neutral neutral) {
  for (const Value& v : List(Load("status.json"), section)) {
    const Struct& c = v.struct_value();
    SCOPED_TRACE(Get(c, "name").string_value());
    if (std::string why = SkipReason(v); !why.empty()) {
      std::cout << "conformance: SKIP " << Get(c, "name").string_value() << ": "
                << why << "\n";
      continue;
    }
    ExpectSubset(Get(c, "expect"), neutral(ParseProto<M>(Get(c, "response"))),
                 section);
  }
}

TEST(ConformanceTest, StatusDecoding) {
  CheckDecoding<v1::GetStatusResponse>("status", StatusNeutral);
}

TEST(ConformanceTest, SummaryDecoding) {
  CheckDecoding<v1::SessionSummary>("summary", SummaryNeutral);
}

}  // namespace
}  // namespace matgto
