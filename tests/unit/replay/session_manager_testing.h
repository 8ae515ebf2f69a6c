// The fixture and helpers of the SessionManager tests
// (session_manager_test.cc, session_manager_recording_test.cc): one
// manager over a memory or a file store (the test's parameter).
#pragma once

#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/cassette/codec.h"
#include "server/cassette/store.h"
#include "server/core/clock.h"
#include "server/replay/session_manager.h"
#include "tests/unit/replay/mode_test_util.h"
#include "tests/unit/testing/memory_cassette_store.h"
#include "tests/unit/testing/status_matchers.h"
#include "tests/unit/testing/temp_dir.h"

namespace matgto::replay::session_testing {

using ::matgto::testing::IsOk;
using ::matgto::testing::MemoryCassetteStore;
using ::matgto::testing::TempDir;

using mode_test::AsForward;
using mode_test::AsReply;
using mode_test::kStart;
using mode_test::Req;
using mode_test::Res;
using mode_test::Timing;

enum class StoreKind { kMemory, kFile };
inline void PrintTo(StoreKind kind, std::ostream* os) {
  *os << (kind == StoreKind::kMemory ? "MemoryCassetteStore"
                                     : "FileCassetteStore");
}

class SessionManagerTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kMemory) {
      auto memory = std::make_unique<MemoryCassetteStore>();
      memory_ = memory.get();
      store_ = std::move(memory);
    } else {
      auto file = cassette::FileCassetteStore::Create(tmp_.path());
      ASSERT_THAT(file, IsOk());
      store_ = *std::move(file);
    }
    manager_ = MakeManager(v1::AUTO);
  }

  std::unique_ptr<SessionManager> MakeManager(v1::Mode default_mode) {
    return std::make_unique<SessionManager>(
        *store_, cassette::RedactConfig::Defaults(), clock_, default_mode);
  }

  // Stores a cassette answering each request with the given body.
  void Seed(
      const std::string& name,
      const std::vector<std::pair<core::HttpRequest, std::string>>& exchanges,
      v1::ExhaustedPolicy policy = v1::EXHAUSTED_POLICY_UNSPECIFIED) {
    v1::Cassette c;
    c.set_name(name);
    c.mutable_options()->set_on_exhausted(policy);
    for (size_t i = 0; i < exchanges.size(); ++i) {
      v1::Interaction* it = c.add_interactions();
      it->set_index(i);
      cassette::ToProto(exchanges[i].first,
                        *it->mutable_http()->mutable_request());
      cassette::ToProto(Res(exchanges[i].second),
                        *it->mutable_http()->mutable_response());
    }
    ASSERT_THAT(store_->Save(c), IsOk());
  }

  void PutCorrupt(const std::string& name) {
    if (memory_ != nullptr) {
      memory_->PutBytes(name, "\xff\xff\xff not a cassette");
    } else {
      std::ofstream(tmp_.path() + "/" + name + ".pb", std::ios::binary)
          << "\xff\xff\xff not a cassette";
    }
  }

  // Runs one exchange through the manager as the proxy would.
  void Forwarded(const core::HttpRequest& req, const core::HttpResponse& res) {
    core::Decision d = manager_->OnRequest({}, req);
    const core::Forward* fwd = AsForward(d);
    ASSERT_NE(fwd, nullptr) << "expected the request to be forwarded";
    clock_.Advance(absl::Seconds(1));
    manager_->OnForwarded(*fwd, req, res, Timing());
  }

  TempDir tmp_;
  core::FakeClock clock_{kStart};
  std::unique_ptr<cassette::CassetteStore> store_;
  MemoryCassetteStore* memory_ = nullptr;
  std::unique_ptr<SessionManager> manager_;
};

}  // namespace matgto::replay::session_testing
