// The builders against the proto descriptors: every field of
// CassetteOptions (and the messages in it) and of Fault is reachable from
// an idiomatic setter. A field added to the protos fails here until it is
// mapped (walked by reflection, not listed by hand).
#include <set>

#include "gtest/gtest.h"
#include "matgto/options.h"

namespace matgto {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Appends the full names of the fields of `m` (recursively) that are unset.
void Unset(const Message& m, const std::set<std::string>& skip,
           std::vector<std::string>* out) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (skip.count(f->full_name()) != 0) continue;
    if (f->is_repeated()) {
      if (r->FieldSize(m, f) == 0) out->push_back(f->full_name());
      continue;
    }
    if (!r->HasField(m, f)) {
      out->push_back(f->full_name());
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
               f->message_type()->file()->package() == "matgto.v1") {
      Unset(r->GetMessage(m, f), skip, out);
    }
  }
}

TEST(MappingTest, EveryCassetteOptionHasASetter) {
  using namespace std::chrono_literals;
  v1::CassetteOptions all = CassetteOptions()
                                .OnExhausted(v1::EXHAUSTED_ERROR)
                                .Repeat(v1::REUSE)
                                .OnMiss(v1::MISS_RECORD)
                                .StoreDecoded()
                                .WsTiming(v1::AS_RECORDED)
                                .WsSpeed(2)
                                .StreamTiming(v1::AS_RECORDED)
                                .StreamSpeed(3)
                                .MatchFields({v1::METHOD, v1::HEADERS})
                                .MatchHeaders({"Accept"})
                                .IgnoreQueryParams({"cb"})
                                .QueryOrderInsensitive()
                                .IgnoreJsonPointers({"/ts"})
                                .IgnoreFormFields({"csrf"})
                                .UrlRewrite("/users/[0-9]+", "/users/N")
                                .RedactHeaders({"X-Key"})
                                .RedactQueryParams({"token"})
                                .RedactJsonPointers({"/password"})
                                .RedactJsonKeys({"ssn"})
                                .RedactFormFields({"secret"})
                                .RedactBodyPatterns({"sk-[a-z]+"})
                                .DisableDefaultRedaction()
                                .OnUnredactable(v1::UNREDACTABLE_REFUSE)
                                .LatencyFixed(200ms, 50ms)
                                .proto();
  // Latency modes exclude each other: scale comes from LatencyAsRecorded.
  all.MergeFrom(CassetteOptions().LatencyAsRecorded(2).proto());
  std::vector<std::string> unset;
  Unset(all, {}, &unset);
  EXPECT_TRUE(unset.empty())
      << "no setter for: " << ::testing::PrintToString(unset);
}

TEST(MappingTest, EveryFaultFieldHasABuilder) {
  using namespace std::chrono_literals;
  // Each action and selector, one rule at a time; their union covers Fault.
  std::vector<Fault> faults = {
      Fault::Status(503, {{"Retry-After", "1"}}, "busy")
          .Method("GET")
          .Url("/x")
          .FirstN(2),
      Fault::Delay(1s).EveryNth(3),
      Fault::Hang().Probability(0.5),
      Fault::Reset(v1::ResetFault::MID_BODY),
      Fault::Bandwidth(1024),
      Fault::WebSocket(3, 100ms),
  };
  v1::Fault merged;
  std::set<std::string> seen;
  for (const Fault& f : faults) {
    const auto* d = f.proto().GetDescriptor();
    const auto* r = f.proto().GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      if (r->HasField(f.proto(), d->field(i))) seen.insert(d->field(i)->name());
    }
    std::vector<std::string> unset_inner;
    // Inside each action message, every field is set.
    if (f.proto().has_status()) Unset(f.proto().status(), {}, &unset_inner);
    if (f.proto().has_websocket())
      Unset(f.proto().websocket(), {}, &unset_inner);
    if (f.proto().has_reset()) Unset(f.proto().reset(), {}, &unset_inner);
    EXPECT_TRUE(unset_inner.empty()) << ::testing::PrintToString(unset_inner);
  }
  const auto* d = v1::Fault::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->name();
    if (name == "id" || name == "applied") continue;  // set by the server
    EXPECT_TRUE(seen.count(name) != 0) << "no Fault builder sets " << name;
  }
}

TEST(MappingTest, EmptyOptionsSendNothing) {
  EXPECT_TRUE(CassetteOptions().empty());
  EXPECT_FALSE(CassetteOptions().Repeat(v1::REUSE).empty());
  v1::CassetteOptions raw;
  raw.set_ws_speed(3);
  CassetteOptions o = CassetteOptions::Raw(raw);
  o.OnMiss(v1::MISS_ERROR);
  EXPECT_EQ(o.proto().ws_speed(), 3);
  EXPECT_EQ(o.proto().on_miss(), v1::MISS_ERROR);
}

}  // namespace
}  // namespace matgto
